// Every failure names the file and the object inside it, so a message is enough to act on.
import CHDF5

public enum H5Error: Error, CustomStringConvertible, Equatable {
    /// A C call failed; `reason` is the innermost message of HDF5's error stack.
    case failed(file: String, object: String, operation: String, reason: String)
    case missing(file: String, object: String)
    case wrongType(file: String, object: String, expected: String, found: String)
    case shape(file: String, object: String, expected: String, found: String)
    /// An existing file's metadata differ from what the caller asked for.
    case mismatch(file: String, field: String, existing: String, requested: String)
    case unknownLayer(file: String, layer: String, available: [String])
    case unsupportedVersion(file: String, found: Int, supported: Int)
    case invalid(file: String, reason: String)

    public var description: String {
        switch self {
        case let .failed(file, object, operation, reason):
            let suffix = reason.isEmpty ? "" : ": \(reason)"
            return "\(file): \(operation) failed on `\(object)`\(suffix)"
        case let .missing(file, object):
            return "\(file): no `\(object)` in the file"
        case let .wrongType(file, object, expected, found):
            return "\(file): `\(object)` is \(found), expected \(expected)"
        case let .shape(file, object, expected, found):
            return "\(file): `\(object)` has shape \(found), expected \(expected)"
        case let .mismatch(file, field, existing, requested):
            return "\(file) exists with \(field) = \"\(existing)\", but \"\(requested)\" was requested; "
                + "choose another output path or pass --overwrite to replace it"
        case let .unknownLayer(file, layer, available):
            return "\(file): unknown layer `\(layer)`; the file holds \(available.joined(separator: ", "))"
        case let .unsupportedVersion(file, found, supported):
            return "\(file): format_version \(found) is not supported (this tool reads version \(supported)); "
                + "re-extract the codes with this version of `pipeline extract`"
        case let .invalid(file, reason):
            return "\(file): \(reason)"
        }
    }
}

/// Silences HDF5's automatic error printing once per process; failures become `H5Error`s instead.
let silenceLibraryErrors: Void = {
    H5open()
    chdf5_silence_errors()
}()

/// The innermost message on HDF5's error stack, which is then cleared.
func libraryErrorMessage() -> String {
    var buffer = [CChar](repeating: 0, count: 512)
    chdf5_error_message(&buffer)
    return String(cString: buffer)
}

/// Throws `.failed` when an HDF5 call returns a negative status or identifier.
@discardableResult
func check<T: BinaryInteger>(_ result: T, _ file: String, _ object: String, _ operation: String) throws -> T {
    if result < 0 {
        throw H5Error.failed(file: file, object: object, operation: operation, reason: libraryErrorMessage())
    }
    return result
}
