// torch.nn.CrossEntropyLoss with mean reduction, and its gradient with respect to the logits.
import Extract
import Foundation

/// Mean over the batch of -log softmax(logits)[label], computed in Double with the maximum subtracted.
/// logits: [N, K], labels: N values in 0..<K -> the loss, dL/dlogits = (softmax - onehot) / N, and how
/// many rows have their label as the first maximum (torch.argmax's tie rule).
public func crossEntropy(_ logits: Tensor, labels: [Int]) -> (loss: Double, grad: Tensor, correct: Int) {
    precondition(logits.rank == 2 && logits.shape[0] == labels.count,
                 "crossEntropy: logits \(logits.shape) for \(labels.count) labels")
    let (n, k) = (logits.shape[0], logits.shape[1])
    var grad = Tensor(zeros: logits.shape)
    var loss = 0.0, correct = 0
    for r in 0..<n {
        let row = logits.data[r * k..<(r + 1) * k]
        precondition(labels[r] >= 0 && labels[r] < k, "crossEntropy: label \(labels[r]) outside 0..<\(k)")
        var best = row.startIndex
        for i in row.indices where row[i] > row[best] { best = i }
        if best - row.startIndex == labels[r] { correct += 1 }
        let top = Double(row[best])
        var sum = 0.0
        for v in row { sum += exp(Double(v) - top) }
        let logSum = top + log(sum)
        loss += logSum - Double(row[row.startIndex + labels[r]])
        for i in 0..<k {
            let p = exp(Double(row[row.startIndex + i]) - logSum)
            grad.data[r * k + i] = Float((p - (i == labels[r] ? 1 : 0)) / Double(n))
        }
    }
    return (loss / Double(max(n, 1)), grad, correct)
}
