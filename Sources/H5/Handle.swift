// Ownership of HDF5 identifiers: one Swift object per open identifier, closed when it goes away.
import CHDF5
import Foundation

/// An open HDF5 identifier, closed in `deinit` with the matching `H5?close`.
final class Handle {
    let id: hid_t
    private let closer: (hid_t) -> herr_t
    private var isOpen = true

    init(_ id: hid_t, closer: @escaping (hid_t) -> herr_t) {
        self.id = id
        self.closer = closer
    }

    /// Opens with `open` and throws the library's message when it fails.
    convenience init(_ file: String, _ object: String, _ operation: String,
                     closer: @escaping (hid_t) -> herr_t, open: () -> hid_t) throws {
        _ = silenceLibraryErrors
        let id = open()
        try check(id, file, object, operation)
        self.init(id, closer: closer)
    }

    func close() -> herr_t {
        guard isOpen else { return 0 }
        isOpen = false
        return closer(id)
    }

    deinit { _ = close() }
}

extension Handle {
    static func type(_ file: String, _ object: String, _ open: () -> hid_t) throws -> Handle {
        try Handle(file, object, "H5T", closer: H5Tclose, open: open)
    }
    static func space(_ file: String, _ object: String, _ open: () -> hid_t) throws -> Handle {
        try Handle(file, object, "H5S", closer: H5Sclose, open: open)
    }
    static func plist(_ file: String, _ object: String, _ open: () -> hid_t) throws -> Handle {
        try Handle(file, object, "H5P", closer: H5Pclose, open: open)
    }
}

/// A variable-length UTF-8 string type: what h5py writes for `str` and reads back as `str`.
func variableStringType(_ file: String, _ object: String) throws -> Handle {
    let type = try Handle.type(file, object) { H5Tcopy(chdf5_c_s1()) }
    try check(H5Tset_size(type.id, chdf5_variable()), file, object, "H5Tset_size")
    try check(H5Tset_cset(type.id, H5T_CSET_UTF8), file, object, "H5Tset_cset")
    return type
}

/// The extent of a dataspace.
func dimensions(of space: hid_t, _ file: String, _ object: String) throws -> [Int] {
    let rank = try check(H5Sget_simple_extent_ndims(space), file, object, "H5Sget_simple_extent_ndims")
    var dims = [hsize_t](repeating: 0, count: Int(rank))
    try check(H5Sget_simple_extent_dims(space, &dims, nil), file, object, "H5Sget_simple_extent_dims")
    return dims.map { Int($0) }
}

/// Duplicates Swift strings into C memory for an HDF5 write of `char *` elements; free with `freeCStrings`.
func makeCStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] {
    strings.map { strdup($0) }
}

func freeCStrings(_ pointers: [UnsafeMutablePointer<CChar>?]) {
    for p in pointers { free(p) }
}

/// `H5P_DEFAULT`, which Swift imports as an `Int32` macro, as the `hid_t` the calls take.
let defaults = hid_t(H5P_DEFAULT)
