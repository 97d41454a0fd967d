// Everything that can go wrong while reading weights, with the file or key in the message.

/// Why a checkpoint could not be read, or did not fit the model being built.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened, or its bytes are not what its format promises.
    case unreadable(path: String, reason: String)
    /// The file is well formed but holds something this reader does not load.
    case unsupported(path: String, what: String)
    /// A weight the model needs is not in the checkpoint.
    case missing(key: String, hint: String)
    /// A weight is present with a shape other than the model's.
    case shapeMismatch(key: String, expected: [Int], got: [Int])
    /// Weights the model never read: usually a different architecture or a head to drop.
    case unused(keys: [String])
    /// A file could not be written.
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "\(path): cannot read checkpoint: \(reason)"
        case let .unsupported(path, what):
            return "\(path): \(what)"
        case let .missing(key, hint):
            return "missing weight `\(key)`" + (hint.isEmpty ? "" : "; \(hint)")
        case let .shapeMismatch(key, expected, got):
            return "weight `\(key)` has shape \(got) in the checkpoint, the model expects \(expected)"
        case let .unused(keys):
            let shown = keys.prefix(8).map { "`\($0)`" }.joined(separator: ", ")
            let more = keys.count > 8 ? " and \(keys.count - 8) more" : ""
            return "\(keys.count) checkpoint weight(s) were not used by the model: \(shown)\(more); "
                + "is this checkpoint for another architecture? To drop a head on purpose, "
                + "pass its prefix in allowUnusedPrefixes"
        case let .unwritable(path, reason):
            return "\(path): cannot write: \(reason)"
        }
    }
}
