// Classification metrics as scikit-learn's sklearn.metrics defines them: confusion_matrix (rows are the
// true class), precision_recall_fscore_support with zero_division=0, and macro / weighted averages.
import Foundation

public func accuracy(truth: [Int32], predicted: [Int32]) -> Double {
    precondition(truth.count == predicted.count, "truth and predictions differ in length")
    guard !truth.isEmpty else { return 0 }
    return Double(zip(truth, predicted).filter { $0 == $1 }.count) / Double(truth.count)
}

public struct ClassificationReport: Codable, Equatable {
    public struct Average: Codable, Equatable { public var precision, recall, f1: Double }

    public var classes: [String]
    /// `confusion[t][p]`: how many codes of true class t were predicted as p.
    public var confusion: [[Int]]
    public var precision: [Double]
    public var recall: [Double]
    public var f1: [Double]
    public var support: [Int]
    public var accuracy: Double
    public var macro: Average
    /// Averages weighted by support.
    public var weighted: Average

    public init(truth: [Int32], predicted: [Int32], classes: [String]) throws {
        guard truth.count == predicted.count else {
            throw ClassifyError.dimensionMismatch(expected: truth.count, got: predicted.count, what: "predictions against labels")
        }
        guard !truth.isEmpty else { throw ClassifyError.empty(what: "the labels to score") }
        let k = classes.count
        for (i, l) in zip(truth, predicted).enumerated() {
            for v in [l.0, l.1] where v < 0 || Int(v) >= k { throw ClassifyError.labelOutOfRange(row: i, label: v, classes: k) }
        }
        var m = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for (t, p) in zip(truth, predicted) { m[Int(t)][Int(p)] += 1 }
        let support = m.map { $0.reduce(0, +) }
        let predictedCount = (0..<k).map { c in m.reduce(0) { $0 + $1[c] } }
        // zero_division=0: an undefined ratio counts as 0.
        func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }
        let precision = (0..<k).map { ratio(m[$0][$0], predictedCount[$0]) }
        let recall = (0..<k).map { ratio(m[$0][$0], support[$0]) }
        let f1 = zip(precision, recall).map { p, r in p + r == 0 ? 0 : 2 * p * r / (p + r) }
        let n = Double(truth.count)
        func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(k) }
        func weightedMean(_ v: [Double]) -> Double { zip(v, support).reduce(0) { $0 + $1.0 * Double($1.1) } / n }
        self.classes = classes
        self.confusion = m
        self.support = support
        self.precision = precision
        self.recall = recall
        self.f1 = f1
        self.accuracy = Double((0..<k).reduce(0) { $0 + m[$1][$1] }) / n
        self.macro = Average(precision: mean(precision), recall: mean(recall), f1: mean(f1))
        self.weighted = Average(precision: weightedMean(precision), recall: weightedMean(recall), f1: weightedMean(f1))
    }

    /// An aligned text table in the layout of scikit-learn's classification_report, then the confusion matrix.
    public var table: String {
        let nameWidth = max(classes.map(\.count).max() ?? 0, "weighted avg".count)
        func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        func num(_ v: Double) -> String { String(format: "%9.4f", v) }
        var lines = [pad("", nameWidth) + pad("precision", 10) + pad("recall", 10) + pad("f1-score", 10) + pad("support", 10), ""]
        for c in classes.indices {
            lines.append(pad(classes[c], nameWidth) + " " + num(precision[c]) + " " + num(recall[c]) + " " + num(f1[c]) + pad("\(support[c])", 10))
        }
        let n = support.reduce(0, +)
        lines.append("")
        lines.append(pad("accuracy", nameWidth) + pad("", 20) + " " + num(accuracy) + pad("\(n)", 10))
        lines.append(pad("macro avg", nameWidth) + " " + num(macro.precision) + " " + num(macro.recall) + " " + num(macro.f1) + pad("\(n)", 10))
        lines.append(pad("weighted avg", nameWidth) + " " + num(weighted.precision) + " " + num(weighted.recall) + " " + num(weighted.f1) + pad("\(n)", 10))
        lines.append("")
        lines.append("confusion matrix (rows: true class, columns: predicted)")
        let cell = max(confusion.flatMap { $0 }.map { "\($0)".count }.max() ?? 1, classes.map(\.count).max() ?? 1) + 1
        lines.append(pad("", nameWidth) + classes.map { pad($0, cell) }.joined())
        for c in classes.indices { lines.append(pad(classes[c], nameWidth) + confusion[c].map { pad("\($0)", cell) }.joined()) }
        return lines.joined(separator: "\n") + "\n"
    }

    public func json() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try e.encode(self), as: UTF8.self)
    }

    /// One row per class and the averages: class,precision,recall,f1,support (class names quoted as RFC 4180 asks).
    public var csv: String {
        func q(_ s: String) -> String {
            s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        let n = support.reduce(0, +)
        var rows = ["class,precision,recall,f1,support"]
        for c in classes.indices { rows.append("\(q(classes[c])),\(precision[c]),\(recall[c]),\(f1[c]),\(support[c])") }
        rows.append("macro avg,\(macro.precision),\(macro.recall),\(macro.f1),\(n)")
        rows.append("weighted avg,\(weighted.precision),\(weighted.recall),\(weighted.f1),\(n)")
        return rows.joined(separator: "\n") + "\n"
    }

    /// The confusion matrix as CSV, a header row of predicted classes and one row per true class.
    public var confusionCSV: String {
        func q(_ s: String) -> String {
            s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var rows = ["true\\predicted," + classes.map(q).joined(separator: ",")]
        for c in classes.indices { rows.append(q(classes[c]) + "," + confusion[c].map(String.init).joined(separator: ",")) }
        return rows.joined(separator: "\n") + "\n"
    }
}
