// Reading ONNX TensorProtos (initializers, Constant values) into float tensors and integer lists, as
// onnx/onnx's IR.md defines their storage: raw_data little-endian, or the typed repeated fields, or an
// external file next to the model (external_data: location, offset, length).
import Foundation

/// Errors of an ONNX file, each naming the file and the node, tensor or attribute at fault.
public struct ONNXError: Error, CustomStringConvertible {
    public let description: String
    init(_ file: String, _ message: String) { description = "\(file): \(message)" }
}

/// ONNX TensorProto.DataType codes this reader understands.
enum ONNXDataType: Int32 {
    case float = 1, uint8 = 2, int8 = 3, int32 = 6, int64 = 7, bool = 9, float16 = 10, double = 11

    var size: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .float16: return 2
        case .float, .int32: return 4
        case .int64, .double: return 8
        }
    }
}

/// A constant of the graph: float values (as the runner computes) and, for integer tensors, the exact integers.
struct ONNXConstant {
    var shape: [Int]
    var floats: [Float]
    var ints: [Int]?

    var tensor: Tensor { Tensor(shape: shape, data: floats) }
}

/// Decodes `t` (an initializer or a Constant's value); `directory` is where external data files live.
func readTensor(_ t: Onnx_TensorProto, file: String, directory: URL) throws -> ONNXConstant {
    let what = "tensor `\(t.name)`"
    guard let type = ONNXDataType(rawValue: t.dataType) else {
        throw ONNXError(file, "\(what) has data type \(t.dataType), which is not float, float16, double or an integer type")
    }
    let shape = t.dims.map { Int($0) }
    guard shape.allSatisfy({ $0 >= 0 }) else { throw ONNXError(file, "\(what) has negative dimensions \(shape)") }
    let count = shape.reduce(1, *)

    var raw: Data?
    if t.dataLocation == .external {
        raw = try readExternal(t, file: file, directory: directory, bytes: count * type.size)
    } else if t.hasRawData {
        raw = t.rawData
    }
    var floats: [Float], ints: [Int]?
    if let raw {
        guard raw.count == count * type.size else {
            throw ONNXError(file, "\(what) holds \(raw.count) bytes; shape \(shape) of \(type) needs \(count * type.size)")
        }
        (floats, ints) = raw.withUnsafeBytes { p -> ([Float], [Int]?) in
            // ONNX stores raw_data little-endian, as this machine is; loadUnaligned because protobuf bytes need not be aligned.
            switch type {
            case .float: return ((0..<count).map { Float(bitPattern: p.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }, nil)
            case .double: return ((0..<count).map { Float(Double(bitPattern: p.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))) }, nil)
            case .float16:
                return ((0..<count).map { Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }, nil)
            case .int64:
                let v = (0..<count).map { Int(p.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
                return (v.map(Float.init), v)
            case .int32:
                let v = (0..<count).map { Int(p.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
                return (v.map(Float.init), v)
            case .int8:
                let v = (0..<count).map { Int(p.load(fromByteOffset: $0, as: Int8.self)) }
                return (v.map(Float.init), v)
            case .uint8, .bool:
                let v = (0..<count).map { Int(p.load(fromByteOffset: $0, as: UInt8.self)) }
                return (v.map(Float.init), v)
            }
        }
    } else {
        switch type {
        case .float: floats = t.floatData; ints = nil
        case .double: floats = t.doubleData.map { Float($0) }; ints = nil
        case .float16: floats = t.int32Data.map { Float(Float16(bitPattern: UInt16(truncatingIfNeeded: $0))) }; ints = nil
        case .int64: ints = t.int64Data.map { Int($0) }; floats = ints?.map(Float.init) ?? []
        case .int32, .int8, .uint8, .bool: ints = t.int32Data.map { Int($0) }; floats = ints?.map(Float.init) ?? []
        }
        guard floats.count == count else {
            throw ONNXError(file, "\(what) holds \(floats.count) values; shape \(shape) needs \(count)")
        }
    }
    return ONNXConstant(shape: shape, floats: floats, ints: ints)
}

/// The bytes of a tensor stored outside the model (IR.md, "External Tensor Data"), `location` being
/// relative to the model's folder.
private func readExternal(_ t: Onnx_TensorProto, file: String, directory: URL, bytes: Int) throws -> Data {
    var fields: [String: String] = [:]
    for e in t.externalData { fields[e.key] = e.value }
    guard let location = fields["location"], !location.isEmpty else {
        throw ONNXError(file, "tensor `\(t.name)` is stored externally but names no location")
    }
    guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
        throw ONNXError(file, "tensor `\(t.name)`: external data location `\(location)` must be a path inside the model's folder")
    }
    let url = directory.appendingPathComponent(location)
    let offset = Int(fields["offset"] ?? "0") ?? -1
    let length = fields["length"].flatMap { Int($0) } ?? bytes
    guard offset >= 0, length == bytes else {
        throw ONNXError(file, "tensor `\(t.name)`: external data offset \(fields["offset"] ?? "") / length \(length) do not fit its \(bytes) bytes")
    }
    guard let handle = FileHandle(forReadingAtPath: url.path) else {
        throw ONNXError(file, "tensor `\(t.name)`: cannot open its external data file \(url.path) (it must sit next to the model)")
    }
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    let data = try handle.read(upToCount: length) ?? Data()
    guard data.count == length else {
        throw ONNXError(file, "tensor `\(t.name)`: \(url.path) ends before offset \(offset) + \(length) bytes")
    }
    return data
}
