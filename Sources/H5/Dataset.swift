// Datasets that grow by rows: 1-D [N] or 2-D [N, D], first dimension unlimited, chunked by rows.
// Element types are h5py's: float32 ('<f4'), int32 ('<i4') and variable-length UTF-8 strings
// (`h5py.string_dtype()`; h5py reads them as bytes, and as str through `ds.asstr()[:]`).
import CHDF5
import Foundation

public enum ElementKind: Sendable {
    case float32, int32, string

    var name: String {
        switch self {
        case .float32: return "float32"
        case .int32: return "int32"
        case .string: return "a variable-length string"
        }
    }

    /// Bytes per element in the file; a variable-length string is a 16-byte global-heap reference.
    var fileSize: Int { self == .string ? 16 : 4 }
}

/// Types a dataset can hold.
public protocol H5Element { static var h5Kind: ElementKind { get } }
extension Float: H5Element { public static var h5Kind: ElementKind { .float32 } }
extension Int32: H5Element { public static var h5Kind: ElementKind { .int32 } }
extension String: H5Element { public static var h5Kind: ElementKind { .string } }

extension H5File {
    /// Creates an empty dataset of `T` with rows of `columns` elements (`nil`: a 1-D dataset).
    /// - Parameters:
    ///   - chunkRows: rows per chunk; by default a chunk is about 512 KiB (one row if a row is larger), inside
    ///     the 1 MiB raw-data chunk cache that HDF5 and h5py keep per dataset.
    ///   - gzip: deflate level 1–9 with the shuffle filter, both built into every h5py; float datasets only.
    public func createDataset<T: H5Element>(_ name: String, of type: T.Type, columns: Int? = nil,
                                            chunkRows: Int? = nil, gzip: Int? = nil) throws -> Dataset<T> {
        let kind = T.h5Kind
        if let columns, columns < 1 {
            throw H5Error.invalid(file: path, reason: "`\(name)`: a row needs at least one column, got \(columns)")
        }
        if gzip != nil && kind != .float32 {
            throw H5Error.invalid(file: path, reason: "`\(name)`: gzip is offered for float datasets only")
        }
        let rowShape = columns.map { [$0] } ?? []
        let rowBytes = rowShape.reduce(kind.fileSize, *)
        let rows = max(1, chunkRows ?? (512 * 1024 / rowBytes))

        var dims = ([0] + rowShape).map { hsize_t($0) }
        var maxDims = [chdf5_unlimited()] + rowShape.map { hsize_t($0) }
        var chunk = ([rows] + rowShape).map { hsize_t($0) }
        let space = try Handle.space(path, name) { H5Screate_simple(Int32(dims.count), &dims, &maxDims) }
        let dcpl = try Handle.plist(path, name) { H5Pcreate(chdf5_p_dataset_create()) }
        try check(H5Pset_chunk(dcpl.id, Int32(chunk.count), &chunk), path, name, "H5Pset_chunk")
        if let level = gzip {
            try check(H5Pset_shuffle(dcpl.id), path, name, "H5Pset_shuffle")
            try check(H5Pset_deflate(dcpl.id, UInt32(min(9, max(1, level)))), path, name, "H5Pset_deflate")
        }
        let fileType = try Dataset<T>.fileType(file: path, name: name)
        let lcpl = try linkCreationList(name)
        let handle = try Handle(path, name, "H5Dcreate", closer: H5Dclose) {
            H5Dcreate2(self.handle.id, name, fileType.id, space.id, lcpl.id, dcpl.id, defaults)
        }
        return try Dataset(handle: handle, file: path, name: name)
    }

    /// Opens a dataset of `T`'s type class (any float for `Float`, any integer for `Int32`, any string
    /// for `String`; HDF5 converts on reading). Its first dimension must be unlimited to append to it.
    public func dataset<T: H5Element>(_ name: String, of type: T.Type) throws -> Dataset<T> {
        guard try contains(name) else { throw H5Error.missing(file: path, object: name) }
        let handle = try Handle(path, name, "H5Dopen", closer: H5Dclose) { H5Dopen2(self.handle.id, name, defaults) }
        let fileType = try Handle.type(path, name) { H5Dget_type(handle.id) }
        let expected: H5T_class_t
        switch T.h5Kind {
        case .float32: expected = H5T_FLOAT
        case .int32: expected = H5T_INTEGER
        case .string: expected = H5T_STRING
        }
        let found = H5Tget_class(fileType.id)
        guard found == expected else {
            throw H5Error.wrongType(file: path, object: name, expected: T.h5Kind.name, found: describe(found))
        }
        return try Dataset(handle: handle, file: path, name: name)
    }
}

public final class Dataset<T: H5Element> {
    let handle: Handle
    public let file: String
    public let name: String
    /// The current extent, rows first.
    public private(set) var shape: [Int]

    init(handle: Handle, file: String, name: String) throws {
        self.handle = handle
        self.file = file
        self.name = name
        let space = try Handle.space(file, name) { H5Dget_space(handle.id) }
        shape = try dimensions(of: space.id, file, name)
        guard shape.count == 1 || shape.count == 2 else {
            throw H5Error.shape(file: file, object: name, expected: "[N] or [N, D]", found: "\(shape)")
        }
    }

    public var rows: Int { shape[0] }
    /// Elements per row: 1 for a 1-D dataset.
    public var columns: Int { shape.dropFirst().reduce(1, *) }

    public var attributes: Attributes { Attributes(location: handle, file: file, object: name) }

    /// Appends `values.count / columns` rows, row-major.
    public func append(rows values: [T]) throws {
        guard values.count % columns == 0 else {
            throw H5Error.shape(file: file, object: name, expected: "a multiple of \(columns) values",
                                found: "\(values.count) values")
        }
        let start = rows
        let count = values.count / columns
        guard count > 0 else { return }
        try resize(rows: start + count)
        try transfer(rows: start..<(start + count)) { memoryType, memorySpace, fileSpace in
            try write(values, memoryType: memoryType, memorySpace: memorySpace, fileSpace: fileSpace)
        }
    }

    /// Sets the number of rows; fewer rows truncates the dataset.
    public func resize(rows newRows: Int) throws {
        precondition(newRows >= 0, "negative row count")
        var dims = ([newRows] + shape.dropFirst()).map { hsize_t($0) }
        try check(H5Dset_extent(handle.id, &dims), file, name, "H5Dset_extent")
        shape[0] = newRows
    }

    public func read() throws -> [T] { try read(rows: 0..<rows) }

    /// Rows `range`, row-major.
    public func read(rows range: Range<Int>) throws -> [T] {
        guard range.lowerBound >= 0 && range.upperBound <= rows else {
            throw H5Error.shape(file: file, object: name, expected: "rows \(range)", found: "\(rows) rows")
        }
        var result: [T] = []
        try transfer(rows: range) { memoryType, memorySpace, fileSpace in
            result = try read(count: range.count * columns, memoryType: memoryType,
                              memorySpace: memorySpace, fileSpace: fileSpace)
        }
        return result
    }

    // MARK: Transfers

    static func fileType(file: String, name: String) throws -> Handle {
        switch T.h5Kind {
        case .float32: return try Handle.type(file, name) { H5Tcopy(chdf5_ieee_f32le()) }
        case .int32: return try Handle.type(file, name) { H5Tcopy(chdf5_std_i32le()) }
        case .string: return try variableStringType(file, name)
        }
    }

    private func memoryType() throws -> Handle {
        switch T.h5Kind {
        case .float32: return try Handle.type(file, name) { H5Tcopy(chdf5_native_float()) }
        case .int32: return try Handle.type(file, name) { H5Tcopy(chdf5_native_int32()) }
        case .string: return try variableStringType(file, name)
        }
    }

    /// Selects rows `range` in the file and a matching memory space, then runs `body`.
    private func transfer(rows range: Range<Int>, _ body: (hid_t, hid_t, hid_t) throws -> Void) throws {
        let type = try memoryType()
        let fileSpace = try Handle.space(file, name) { H5Dget_space(handle.id) }
        var start = ([range.lowerBound] + shape.dropFirst().map { _ in 0 }).map { hsize_t($0) }
        var count = ([range.count] + shape.dropFirst()).map { hsize_t($0) }
        try check(H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &start, nil, &count, nil), file, name,
                  "H5Sselect_hyperslab")
        let memorySpace = try Handle.space(file, name) { H5Screate_simple(Int32(count.count), &count, nil) }
        try body(type.id, memorySpace.id, fileSpace.id)
    }

    private func write(_ values: [T], memoryType: hid_t, memorySpace: hid_t, fileSpace: hid_t) throws {
        if T.h5Kind == .string {
            guard let strings = values as? [String] else { preconditionFailure("string dataset of \(T.self)") }
            let pointers = makeCStrings(strings)
            defer { freeCStrings(pointers) }
            try check(H5Dwrite(handle.id, memoryType, memorySpace, fileSpace, defaults, pointers), file, name,
                      "H5Dwrite")
        } else {
            try values.withUnsafeBytes { raw in
                _ = try check(H5Dwrite(handle.id, memoryType, memorySpace, fileSpace, defaults, raw.baseAddress),
                          file, name, "H5Dwrite")
            }
        }
    }

    private func read(count: Int, memoryType: hid_t, memorySpace: hid_t, fileSpace: hid_t) throws -> [T] {
        guard count > 0 else { return [] }
        if T.h5Kind == .string {
            let fileType = try Handle.type(file, name) { H5Dget_type(handle.id) }
            let strings = try readStrings(count: count, fileType: fileType.id, file: file, object: name) { type, buffer in
                H5Dread(handle.id, type, memorySpace, fileSpace, defaults, buffer)
            } reclaim: { type, buffer in
                H5Dvlen_reclaim(type, memorySpace, defaults, buffer)
            }
            guard let values = strings as? [T] else { preconditionFailure("string dataset of \(T.self)") }
            return values
        }
        var status: herr_t = 0
        let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            // Float and Int32 are trivial types: HDF5 fills every element or fails.
            status = H5Dread(handle.id, memoryType, memorySpace, fileSpace, defaults, buffer.baseAddress)
            if status < 0 { UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, repeating: 0) }
            initialized = count
        }
        try check(status, file, name, "H5Dread")
        return values
    }
}
