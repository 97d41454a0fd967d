// An HDF5 file and the groups in it; objects are named by slash-separated paths from the root,
// as in h5py (`f["codes/fc7"]`).
import CHDF5
import Foundation

public final class H5File {
    public let path: String
    let handle: Handle

    public enum Mode: Sendable { case readOnly, readWrite }

    private init(path: String, handle: Handle) {
        self.path = path
        self.handle = handle
    }

    /// Creates `path`, replacing any file there.
    ///
    /// Freed file space is never reused (`H5F_FSPACE_STRATEGY_NONE`): bytes that the last flushed metadata
    /// point at are then never overwritten by a later write that was not flushed, so a process killed between
    /// flushes leaves the last flushed state readable. Resizing a dataset down leaves its old chunks unused.
    public static func create(_ path: String) throws -> H5File {
        let fcpl = try Handle.plist(path, "/") { H5Pcreate(chdf5_p_file_create()) }
        try check(H5Pset_file_space_strategy(fcpl.id, H5F_FSPACE_STRATEGY_NONE, false, 1), path, "/",
                  "H5Pset_file_space_strategy")
        let handle = try Handle(path, "/", "create", closer: H5Fclose) {
            H5Fcreate(path, chdf5_acc_trunc(), fcpl.id, defaults)
        }
        return H5File(path: path, handle: handle)
    }

    public static func open(_ path: String, mode: Mode = .readOnly) throws -> H5File {
        guard FileManager.default.fileExists(atPath: path) else {
            throw H5Error.invalid(file: path, reason: "no such file")
        }
        let flags = mode == .readOnly ? chdf5_acc_rdonly() : chdf5_acc_rdwr()
        let handle = try Handle(path, "/", "open", closer: H5Fclose) { H5Fopen(path, flags, defaults) }
        return H5File(path: path, handle: handle)
    }

    /// Whether `path` starts with the HDF5 signature (it may still be unreadable if a writer was killed).
    public static func hasSignature(_ path: String) -> Bool {
        _ = silenceLibraryErrors
        let result = H5Fis_hdf5(path) > 0
        _ = libraryErrorMessage()
        return result
    }

    /// Writes every buffer and all metadata to disk: after this the file on disk is complete and consistent.
    public func flush() throws {
        try check(H5Fflush(handle.id, H5F_SCOPE_GLOBAL), path, "/", "H5Fflush")
    }

    /// Closes the file. Datasets still referenced keep it open until they are released too.
    public func close() throws {
        try check(handle.close(), path, "/", "H5Fclose")
    }

    public var attributes: Attributes { Attributes(location: handle, file: path, object: "/") }

    public var root: Group { Group(handle: handle, file: path, path: "/") }

    /// Whether an object exists at `name`, checking each level so a missing parent is `false`, not an error.
    public func contains(_ name: String) throws -> Bool {
        var prefix = ""
        for component in name.split(separator: "/") {
            prefix += prefix.isEmpty ? String(component) : "/\(component)"
            guard try check(H5Lexists(handle.id, prefix, defaults), path, prefix, "H5Lexists") > 0 else {
                return false
            }
        }
        return true
    }

    /// Creates a group, and any missing parent groups.
    @discardableResult
    public func createGroup(_ name: String) throws -> Group {
        let lcpl = try linkCreationList(name)
        let group = try Handle(path, name, "H5Gcreate", closer: H5Gclose) {
            H5Gcreate2(handle.id, name, lcpl.id, defaults, defaults)
        }
        return Group(handle: group, file: path, path: name)
    }

    public func group(_ name: String) throws -> Group {
        guard try contains(name) else { throw H5Error.missing(file: path, object: name) }
        let group = try Handle(path, name, "H5Gopen", closer: H5Gclose) { H5Gopen2(handle.id, name, defaults) }
        return Group(handle: group, file: path, path: name)
    }

    /// Link creation that also creates missing parent groups, as h5py does for `f.create_dataset("a/b", ...)`.
    func linkCreationList(_ name: String) throws -> Handle {
        let lcpl = try Handle.plist(path, name) { H5Pcreate(chdf5_p_link_create()) }
        try check(H5Pset_create_intermediate_group(lcpl.id, 1), path, name, "H5Pset_create_intermediate_group")
        return lcpl
    }
}

public final class Group {
    let handle: Handle
    public let file: String
    public let path: String

    init(handle: Handle, file: String, path: String) {
        self.handle = handle
        self.file = file
        self.path = path
    }

    public var attributes: Attributes { Attributes(location: handle, file: file, object: path) }

    /// The names of the group's members, in HDF5's name order (what h5py's `keys()` returns).
    public var names: [String] {
        get throws {
            var info = H5G_info_t()
            try check(H5Gget_info(handle.id, &info), file, path, "H5Gget_info")
            return try (0..<Int(info.nlinks)).map { i in
                let size = try check(H5Lget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(i),
                                                        nil, 0, defaults), file, path, "H5Lget_name_by_idx")
                var buffer = [CChar](repeating: 0, count: Int(size) + 1)
                try check(H5Lget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(i),
                                             &buffer, buffer.count, defaults), file, path, "H5Lget_name_by_idx")
                return String(cString: buffer)
            }
        }
    }
}
