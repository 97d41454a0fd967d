// Element types that checkpoints store, and their bulk conversion to the engine's Float32.
// The names are torch's storage classes (torch/storage.py) and safetensors' dtype strings.

enum StoredType: String, CaseIterable {
    case float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool

    var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// `torch.FloatStorage` and friends, as pickled by torch.save in a storage's persistent id.
    init?(torchStorage name: String) {
        switch name {
        case "FloatStorage": self = .float32
        case "DoubleStorage": self = .float64
        case "HalfStorage": self = .float16
        case "BFloat16Storage": self = .bfloat16
        case "LongStorage": self = .int64
        case "IntStorage": self = .int32
        case "ShortStorage": self = .int16
        case "CharStorage": self = .int8
        case "ByteStorage": self = .uint8
        case "BoolStorage": self = .bool
        default: return nil
        }
    }

    /// The dtype strings of the safetensors format.
    init?(safetensors name: String) {
        switch name {
        case "F32": self = .float32
        case "F64": self = .float64
        case "F16": self = .float16
        case "BF16": self = .bfloat16
        case "I64": self = .int64
        case "I32": self = .int32
        case "I16": self = .int16
        case "I8": self = .int8
        case "U8": self = .uint8
        case "BOOL": self = .bool
        default: return nil
        }
    }
}

/// A strided view into raw little-endian storage: torch's (storage, storage_offset, size, stride).
struct StridedView {
    var type: StoredType
    var offset: Int          // in elements
    var shape: [Int]
    var stride: [Int]        // in elements

    var count: Int { shape.reduce(1, *) }

    /// Row-major with no gaps: the case that is copied in one pass.
    var isContiguous: Bool {
        var expected = 1
        for d in stride.indices.reversed() where shape[d] != 1 {
            if stride[d] != expected { return false }
            expected *= shape[d]
        }
        return true
    }

    /// One past the last element the view touches, in elements; `offset` when it is empty.
    var extent: Int {
        if count == 0 { return offset }
        return offset + 1 + zip(shape, stride).reduce(0) { $0 + ($1.0 - 1) * $1.1 }
    }
}

func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for d in shape.indices.reversed() {
        strides[d] = s
        s *= shape[d]
    }
    return strides
}

/// Copies the view out of `storage` (`elements` elements long) as Float32, checking its bounds.
func floats(_ view: StridedView, in storage: UnsafeRawBufferPointer, elements: Int,
            path: String, key: String) throws -> [Float] {
    guard view.shape.count == view.stride.count, view.shape.allSatisfy({ $0 >= 0 }),
          view.stride.allSatisfy({ $0 >= 0 }), view.offset >= 0 else {
        throw CheckpointError.unreadable(path: path, reason: "tensor `\(key)` has a bad size \(view.shape) or stride \(view.stride)")
    }
    guard view.extent <= elements, elements * view.type.size <= storage.count else {
        throw CheckpointError.unreadable(
            path: path, reason: "tensor `\(key)` reaches element \(view.extent) of a storage of \(elements)")
    }
    let count = view.count
    guard count > 0, let base = storage.baseAddress else { return [] }
    let size = view.type.size
    let rank = view.shape.count
    return [Float](unsafeUninitializedCapacity: count) { out, initialized in
        guard let dst = out.baseAddress else { initialized = 0; return }
        initialized = count
        if view.isContiguous {
            convertRun(base + view.offset * size, count: count, byteStride: size, type: view.type, into: dst, stride: 1)
            return
        }
        // A strided view (a transpose, a slice of a shared storage; TF-ported weights are stored
        // transposed): copy runs along the dimension of smallest stride, stepping the others.
        let outStride = rowMajorStrides(view.shape)
        let run = (0 ..< rank).filter { view.shape[$0] > 1 }.min { view.stride[$0] < view.stride[$1] } ?? rank - 1
        let dims = (0 ..< rank).filter { $0 != run }
        var index = [Int](repeating: 0, count: rank)
        var at = view.offset, to = 0
        for _ in 0 ..< count / view.shape[run] {
            convertRun(base + at * size, count: view.shape[run], byteStride: view.stride[run] * size,
                       type: view.type, into: dst + to, stride: outStride[run])
            for d in dims.reversed() {
                index[d] += 1
                at += view.stride[d]
                to += outStride[d]
                if index[d] < view.shape[d] { break }
                at -= view.stride[d] * view.shape[d]
                to -= outStride[d] * view.shape[d]
                index[d] = 0
            }
        }
    }
}

/// Converts `count` little-endian elements `byteStride` bytes apart, which may be unaligned
/// (legacy .pth files put storages at any byte offset), to Float32 `stride` elements apart.
/// One loop per type, so that release builds vectorise the contiguous case.
func convertRun(_ p: UnsafeRawPointer, count: Int, byteStride: Int, type: StoredType,
                into dst: UnsafeMutablePointer<Float>, stride: Int) {
    if type == .float32, byteStride == 4, stride == 1 {
        UnsafeMutableRawPointer(dst).copyMemory(from: p, byteCount: count * 4)
        return
    }
    let b = byteStride
    switch type {
    case .float32:
        for i in 0 ..< count { dst[i * stride] = p.loadUnaligned(fromByteOffset: i * b, as: Float.self) }
    case .float64:
        for i in 0 ..< count { dst[i * stride] = Float(p.loadUnaligned(fromByteOffset: i * b, as: Double.self)) }
    case .float16:
        for i in 0 ..< count {
            dst[i * stride] = halfToFloat(p.loadUnaligned(fromByteOffset: i * b, as: UInt16.self))
        }
    case .bfloat16:
        // bfloat16 is the top half of a float32.
        for i in 0 ..< count {
            dst[i * stride] = Float(bitPattern: UInt32(p.loadUnaligned(fromByteOffset: i * b, as: UInt16.self)) << 16)
        }
    case .int64:
        for i in 0 ..< count { dst[i * stride] = Float(p.loadUnaligned(fromByteOffset: i * b, as: Int64.self)) }
    case .int32:
        for i in 0 ..< count { dst[i * stride] = Float(p.loadUnaligned(fromByteOffset: i * b, as: Int32.self)) }
    case .int16:
        for i in 0 ..< count { dst[i * stride] = Float(p.loadUnaligned(fromByteOffset: i * b, as: Int16.self)) }
    case .int8:
        for i in 0 ..< count { dst[i * stride] = Float(p.load(fromByteOffset: i * b, as: Int8.self)) }
    case .uint8, .bool:
        for i in 0 ..< count { dst[i * stride] = Float(p.load(fromByteOffset: i * b, as: UInt8.self)) }
    }
}

/// IEEE 754 binary16 to binary32 by hand, because Swift's Float16 is unavailable on Intel Macs.
@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13) }  // inf, NaN
    if exponent == 0 {  // zero and subnormals: mantissa * 2^-24
        let magnitude = Float(mantissa) * Float(bitPattern: 0x3380_0000)
        return sign == 0 ? magnitude : -magnitude
    }
    return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)  // rebias 15 -> 127
}
