// Fully connected layers (torch.nn.Linear), element-wise ops, and flattening.
import CBLAS

/// y = act(x W^T + b). x: [N, I], weight: [O, I], bias: [O] -> [N, O]
public func linear(_ x: Tensor, weight: Tensor, bias: [Float]?, activation: Activation = .none) -> Tensor {
    let n = x.shape[0], i = x.count / max(x.shape[0], 1)
    let o = weight.shape[0]
    precondition(weight.shape[1] == i, "linear: weight \(weight.shape) does not fit input \(x.shape)")
    var out = Tensor(zeros: [n, o])
    countMultiplyAdds(n * o * i)
    x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
            out.data.withUnsafeMutableBufferPointer { op in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(o), Int32(i), 1,
                            xp.baseAddress!, Int32(i), wp.baseAddress!, Int32(i), 0, op.baseAddress!, Int32(o))
            }
        }
    }
    out.data.withUnsafeMutableBufferPointer { p in
        for r in 0..<n {
            for k in 0..<o { p[r * o + k] = activation.apply(p[r * o + k] + (bias?[k] ?? 0)) }
        }
    }
    return out
}

/// [N, ...] -> [N, product of the rest], as torch.flatten(x, 1).
public func flatten(_ x: Tensor) -> Tensor {
    x.reshaped([x.shape[0], x.count / max(x.shape[0], 1)])
}

public func relu(_ x: Tensor) -> Tensor {
    var y = x
    y.data.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = max(p[i], 0) } }
    return y
}

/// Residual connection: a + b, then the activation (ResNet's `out += identity; out = relu(out)`).
public func add(_ a: Tensor, _ b: Tensor, activation: Activation = .none) -> Tensor {
    precondition(a.shape == b.shape, "add: shapes \(a.shape) and \(b.shape) differ")
    var y = a
    y.data.withUnsafeMutableBufferPointer { p in
        b.data.withUnsafeBufferPointer { q in
            for i in p.indices { p[i] = activation.apply(p[i] + q[i]) }
        }
    }
    return y
}
