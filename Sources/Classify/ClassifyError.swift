// Everything Classify refuses, with the row, field or file that caused it.

public enum ClassifyError: Error, CustomStringConvertible, Equatable {
    case empty(what: String)
    case singleClass(label: String)
    case nonFinite(row: Int, column: Int, value: Float)
    case dimensionMismatch(expected: Int, got: Int, what: String)
    case labelOutOfRange(row: Int, label: Int32, classes: Int)
    case unknownSolver(String)
    case solverLacksProbabilities(String)
    case invalidParameter(String)
    case liblinear(String)
    case file(path: String, reason: String)
    case provenanceMismatch([String])

    public var description: String {
        switch self {
        case .empty(let what):
            return "\(what) is empty"
        case .singleClass(let label):
            return "training needs at least two classes; every row has class `\(label)`"
        case .nonFinite(let row, let column, let value):
            return "row \(row), column \(column) is \(value); codes must be finite"
        case .dimensionMismatch(let expected, let got, let what):
            return "\(what): expected dimension \(expected), got \(got)"
        case .labelOutOfRange(let row, let label, let classes):
            return "row \(row) has label \(label), outside 0..<\(classes)"
        case .unknownSolver(let name):
            return "unknown solver `\(name)`; one of: \(Linear.Solver.allCases.map(\.rawValue).joined(separator: ", "))"
        case .solverLacksProbabilities(let name):
            return "solver `\(name)` gives no probabilities; use l2r_lr, l1r_lr or l2r_lr_dual"
        case .invalidParameter(let message):
            return "invalid parameter: \(message)"
        case .liblinear(let message):
            return "liblinear: \(message)"
        case .file(let path, let reason):
            return "\(path): \(reason)"
        case .provenanceMismatch(let lines):
            return "the codes do not come from what the classifier was trained on:\n  "
                + lines.joined(separator: "\n  ")
        }
    }
}
