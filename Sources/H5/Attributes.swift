// Attributes of a file's root, a group or a dataset, in the types h5py writes for Python values:
// str -> variable-length UTF-8 string, int -> int64, float -> float64, list of str -> 1-D string array.
import CHDF5
import Foundation

public struct Attributes {
    let location: Handle
    let file: String
    let object: String

    private func label(_ name: String) -> String { object == "/" ? "/@\(name)" : "\(object)@\(name)" }

    public func contains(_ name: String) throws -> Bool {
        try check(H5Aexists(location.id, name), file, label(name), "H5Aexists") > 0
    }

    public var names: [String] {
        get throws {
            var info = H5O_info_t()
            try check(H5Oget_info2(location.id, &info, UInt32(H5O_INFO_NUM_ATTRS)), file, object, "H5Oget_info")
            return try (0..<Int(info.num_attrs)).map { i in
                let size = try check(H5Aget_name_by_idx(location.id, ".", H5_INDEX_NAME, H5_ITER_INC,
                                                        hsize_t(i), nil, 0, defaults), file, object, "H5Aget_name")
                var buffer = [CChar](repeating: 0, count: Int(size) + 1)
                try check(H5Aget_name_by_idx(location.id, ".", H5_INDEX_NAME, H5_ITER_INC,
                                             hsize_t(i), &buffer, buffer.count, defaults), file, object, "H5Aget_name")
                return String(cString: buffer)
            }
        }
    }

    // MARK: Writing

    public func set(_ name: String, _ value: String) throws {
        let type = try variableStringType(file, label(name))
        let pointers = makeCStrings([value])
        defer { freeCStrings(pointers) }
        try write(name, type: type.id, dims: nil, pointers)
    }

    public func set(_ name: String, _ values: [String]) throws {
        let type = try variableStringType(file, label(name))
        let pointers = makeCStrings(values)
        defer { freeCStrings(pointers) }
        try write(name, type: type.id, dims: [values.count], pointers)
    }

    public func set(_ name: String, _ value: Int64) throws {
        try write(name, type: chdf5_std_i64le(), memoryType: chdf5_native_int64(), dims: nil, [value])
    }

    public func set(_ name: String, _ value: Int) throws { try set(name, Int64(value)) }

    public func set(_ name: String, _ value: Double) throws {
        try write(name, type: chdf5_ieee_f64le(), memoryType: chdf5_native_double(), dims: nil, [value])
    }

    public func delete(_ name: String) throws {
        try check(H5Adelete(location.id, name), file, label(name), "H5Adelete")
    }

    /// Rewrites in place when the attribute already has this type and shape (no object-header churn when a
    /// counter is updated after every batch), otherwise replaces it.
    private func write<T: BitwiseCopyable>(_ name: String, type: hid_t, memoryType: hid_t? = nil, dims: [Int]?, _ values: [T]) throws {
        let what = label(name)
        if try contains(name) {
            let existing = try Handle(file, what, "H5Aopen", closer: H5Aclose) { H5Aopen(location.id, name, defaults) }
            let existingType = try Handle.type(file, what) { H5Aget_type(existing.id) }
            let existingSpace = try Handle.space(file, what) { H5Aget_space(existing.id) }
            let sameType = try check(H5Tequal(existingType.id, type), file, what, "H5Tequal") > 0
            let sameShape = try dimensions(of: existingSpace.id, file, what) == (dims ?? [])
            if sameType && sameShape {
                try values.withUnsafeBytes { raw in
                    _ = try check(H5Awrite(existing.id, memoryType ?? type, raw.baseAddress), file, what, "H5Awrite")
                }
                return
            }
            _ = existing.close()
            try delete(name)
        }
        let space = try Handle.space(file, what) {
            guard let dims else { return H5Screate(H5S_SCALAR) }
            var extent = dims.map { hsize_t($0) }
            return H5Screate_simple(1, &extent, nil)
        }
        let attribute = try Handle(file, what, "H5Acreate", closer: H5Aclose) {
            H5Acreate2(location.id, name, type, space.id, defaults, defaults)
        }
        try values.withUnsafeBytes { raw in
            _ = try check(H5Awrite(attribute.id, memoryType ?? type, raw.baseAddress), file, what, "H5Awrite")
        }
    }

    // MARK: Reading

    /// A string attribute, variable- or fixed-length (numpy `S` strings, which h5py writes for `bytes`).
    public func string(_ name: String) throws -> String {
        let values = try strings(name, scalar: true)
        return values[0]
    }

    public func strings(_ name: String) throws -> [String] {
        try strings(name, scalar: false)
    }

    public func int(_ name: String) throws -> Int {
        let (attribute, _) = try open(name, classes: [H5T_INTEGER], expected: "an integer")
        var value: Int64 = 0
        try check(H5Aread(attribute.id, chdf5_native_int64(), &value), file, label(name), "H5Aread")
        return Int(value)
    }

    public func double(_ name: String) throws -> Double {
        let (attribute, _) = try open(name, classes: [H5T_FLOAT, H5T_INTEGER], expected: "a number")
        var value = 0.0
        try check(H5Aread(attribute.id, chdf5_native_double(), &value), file, label(name), "H5Aread")
        return value
    }

    private func open(_ name: String, classes: [H5T_class_t], expected: String) throws -> (Handle, Handle) {
        let what = label(name)
        guard try contains(name) else { throw H5Error.missing(file: file, object: what) }
        let attribute = try Handle(file, what, "H5Aopen", closer: H5Aclose) { H5Aopen(location.id, name, defaults) }
        let type = try Handle.type(file, what) { H5Aget_type(attribute.id) }
        let typeClass = H5Tget_class(type.id)
        guard classes.contains(typeClass) else {
            throw H5Error.wrongType(file: file, object: what, expected: expected, found: describe(typeClass))
        }
        return (attribute, type)
    }

    private func strings(_ name: String, scalar: Bool) throws -> [String] {
        let what = label(name)
        let (attribute, type) = try open(name, classes: [H5T_STRING], expected: "a string")
        let space = try Handle.space(file, what) { H5Aget_space(attribute.id) }
        let dims = try dimensions(of: space.id, file, what)
        if scalar && !dims.isEmpty && dims != [1] {
            throw H5Error.shape(file: file, object: what, expected: "() (one string)", found: "\(dims)")
        }
        let count = dims.reduce(1, *)
        return try readStrings(count: count, fileType: type.id, file: file, object: what) { memoryType, buffer in
            H5Aread(attribute.id, memoryType, buffer)
        } reclaim: { memoryType, buffer in
            H5Dvlen_reclaim(memoryType, space.id, defaults, buffer)
        }
    }
}

func describe(_ typeClass: H5T_class_t) -> String {
    switch typeClass {
    case H5T_INTEGER: return "an integer"
    case H5T_FLOAT: return "a float"
    case H5T_STRING: return "a string"
    case H5T_COMPOUND: return "a compound"
    case H5T_ARRAY: return "an array type"
    case H5T_VLEN: return "a variable-length sequence"
    default: return "HDF5 type class \(typeClass.rawValue)"
    }
}

/// Reads `count` strings stored as `fileType`, variable-length or fixed-length, with `read(memoryType, buffer)`.
/// Fixed-length strings end at the first NUL, and space-padded ones lose their padding, as h5py reads them.
func readStrings(count: Int, fileType: hid_t, file: String, object: String,
                 read: (hid_t, UnsafeMutableRawPointer) -> herr_t,
                 reclaim: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> [String] {
    let memoryType = try Handle.type(file, object) { H5Tcopy(fileType) }
    if try check(H5Tis_variable_str(fileType), file, object, "H5Tis_variable_str") > 0 {
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
        try pointers.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            try check(read(memoryType.id, base), file, object, "read")
        }
        let strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
        pointers.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { _ = reclaim(memoryType.id, base) }
        }
        return strings
    }
    let size = H5Tget_size(fileType)
    let spacePadded = H5Tget_strpad(fileType) == H5T_STR_SPACEPAD
    var bytes = [UInt8](repeating: 0, count: max(1, size * count))
    try bytes.withUnsafeMutableBytes { raw in
        guard let base = raw.baseAddress else { return }
        try check(read(memoryType.id, base), file, object, "read")
    }
    return (0..<count).map { i in
        var element = bytes[(i * size)..<((i + 1) * size)]
        if let end = element.firstIndex(of: 0) { element = element[..<end] }
        var text = String(decoding: element, as: UTF8.self)
        if spacePadded { while text.hasSuffix(" ") { text.removeLast() } }
        return text
    }
}
