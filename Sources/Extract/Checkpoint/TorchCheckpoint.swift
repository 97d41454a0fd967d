// Files written by torch.save, read without torch. Both formats are described by
// torch/serialization.py: `_save` / `_load` (a zip archive, torch >= 1.6) and `_legacy_save` /
// `_legacy_load` (pickles and raw storages back to back, what older releases wrote). A tensor is
// pickled by torch/_tensor.py `__reduce_ex__` as a call of torch/_utils.py `_rebuild_tensor_v2`
// on a storage that the pickle names only by a persistent id; the storage bytes sit elsewhere.

/// A storage as named by a persistent id: its key in the file, element type and length,
/// and (legacy storage views only) where the view starts in its root storage.
struct StorageRef {
    var key: String
    var type: StoredType
    var numel: Int
    var offset: Int
}

struct TensorRef {
    var storage: StorageRef
    var view: StridedView
}

/// The top-level pickled object of a checkpoint, with the storages its tensors point into.
struct TorchCheckpoint {
    var root: PickleValue
    var storages: [String: (bytes: UnsafeRawBufferPointer, numel: Int)]

    /// The first bytes of a legacy file: pickle protocol 2, LONG1 of torch's MAGIC_NUMBER, STOP.
    static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]

    static func isLegacy(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= legacyMagic.count && zip(bytes, legacyMagic).allSatisfy { $0 == $1 }
    }

    /// Copies a tensor out of its storage as Float32.
    func floats(_ t: TensorRef, path: String, key: String) throws -> [Float] {
        guard let s = storages[t.storage.key] else {
            throw CheckpointError.unreadable(path: path, reason: "tensor `\(key)` names storage \(t.storage.key), which the file does not hold")
        }
        return try Extract.floats(t.view, in: s.bytes, elements: s.numel, path: path, key: key)
    }

    // MARK: zip (torch >= 1.6)

    static func readZip(_ file: MappedFile) throws -> TorchCheckpoint {
        let path = file.path
        let reader = ByteReader(bytes: file.bytes, path: path)
        let archive = try ZipArchive(reader)
        // Every record sits in one folder, named after the file when saved ("archive" in torch 2).
        guard let pickle = archive.entries.first(where: {
            $0.name.hasSuffix("/data.pkl") && $0.name.filter { $0 == "/" }.count == 1
        }) else {
            throw CheckpointError.unsupported(path: path, what: "a zip file without <folder>/data.pkl: not written by torch.save")
        }
        let prefix = String(pickle.name.dropLast("data.pkl".count))
        if archive.entry(prefix + "constants.pkl") != nil {
            throw CheckpointError.unsupported(
                path: path, what: "a TorchScript archive (torch.jit.save); load it in Python and save its state_dict() with torch.save")
        }
        if let order = archive.entry(prefix + "byteorder"), let text = try? archive.data(order),
           String(decoding: text, as: UTF8.self) != "little" {
            throw CheckpointError.unsupported(path: path, what: "a big-endian checkpoint")
        }

        let found = Found()
        let pickleBytes = try archive.data(pickle)
        var unpickler = Unpickler(
            ByteReader(bytes: pickleBytes, path: path + ":" + pickle.name), at: 0,
            persistentLoad: { try storageRef($0, path: path, legacy: false, found: found) },
            reduce: { try torchReduce($0, $1, $2, path: path) })
        let root = try unpickler.load()

        var storages: [String: (UnsafeRawBufferPointer, Int)] = [:]
        for (key, s) in found.storages {
            let name = prefix + "data/" + key
            guard let entry = archive.entry(name) else {
                throw CheckpointError.unreadable(path: path, reason: "storage record `\(name)` is missing")
            }
            storages[key] = (try archive.data(entry), s.numel)
        }
        return TorchCheckpoint(root: root, storages: storages)
    }

    // MARK: legacy (torch < 1.6, or _use_new_zipfile_serialization=False)

    static func readLegacy(_ file: MappedFile) throws -> TorchCheckpoint {
        let path = file.path
        let reader = ByteReader(bytes: file.bytes, path: path)
        let noCalls: (String, String, [PickleValue]) throws -> PickleValue = { m, n, _ in .object("\(m).\(n)") }
        let noIds: (PickleValue) throws -> PickleValue = { _ in .none }

        var header = Unpickler(reader, at: legacyMagic.count, persistentLoad: noIds, reduce: noCalls)
        guard case .int(1001) = try header.load() else {  // PROTOCOL_VERSION
            throw CheckpointError.unsupported(path: path, what: "a legacy checkpoint of an unknown protocol version")
        }
        let sysInfo = try header.load()
        if case let .dict(info) = sysInfo, case .bool(false)? = info["little_endian"] {
            throw CheckpointError.unsupported(path: path, what: "a big-endian checkpoint")
        }

        let found = Found()
        var main = Unpickler(
            reader, at: header.pos,
            persistentLoad: { try storageRef($0, path: path, legacy: true, found: found) },
            reduce: { try torchReduce($0, $1, $2, path: path) })
        let root = try main.load()
        var keysPickle = Unpickler(reader, at: main.pos, persistentLoad: noIds, reduce: noCalls)
        guard case let .list(keyList) = try keysPickle.load() else {
            throw CheckpointError.unreadable(path: path, reason: "no list of storage keys after the object")
        }

        // Each storage follows in that order: its element count as a little-endian int64, then
        // its bytes (torch/csrc/serialization.cpp, THPStorage_readFileRaw).
        var storages: [String: (UnsafeRawBufferPointer, Int)] = [:]
        var at = keysPickle.pos
        for item in keyList.items {
            guard case let .string(key) = item, let s = found.storages[key] else {
                throw CheckpointError.unreadable(path: path, reason: "storage key \(item.describe) was never referenced")
            }
            let numel = Int(clamping: try reader.u64(at))
            guard numel == s.numel else {
                throw CheckpointError.unreadable(path: path, reason: "storage \(key) holds \(numel) elements, its id says \(s.numel)")
            }
            let bytes = numel * s.type.size
            try reader.check(at + 8, bytes, "storage \(key)")
            storages[key] = (UnsafeRawBufferPointer(rebasing: reader.bytes[at + 8 ..< at + 8 + bytes]), numel)
            at += 8 + bytes
        }
        return TorchCheckpoint(root: root, storages: storages)
    }

    // MARK: torch's unpickler hooks

    /// The storages persistent ids have named so far.
    final class Found {
        var storages: [String: (type: StoredType, numel: Int)] = [:]
    }

    /// `persistent_load` of torch/serialization.py: ('storage', storage_type, key, location, numel)
    /// in zip files; legacy files add a sixth item, view_metadata = (view_key, offset, view_size) or None.
    static func storageRef(_ pid: PickleValue, path: String, legacy: Bool, found: Found) throws -> PickleValue {
        guard case let .tuple(items) = pid, let tag = items.first else {
            throw CheckpointError.unreadable(path: path, reason: "persistent id \(pid.describe) is not a tuple")
        }
        let typename: String
        switch tag {
        case let .string(s): typename = s
        case let .bytes(b): typename = String(decoding: b, as: UTF8.self)
        default: typename = tag.describe
        }
        if typename == "module" { return .object("module source") }  // legacy: source of a pickled nn.Module
        guard typename == "storage", items.count >= 5 else {
            throw CheckpointError.unsupported(path: path, what: "persistent id of kind `\(typename)`")
        }
        guard case let .global(module, cls) = items[1], module == "torch",
              let type = StoredType(torchStorage: cls) ?? (cls == "UntypedStorage" ? .uint8 : nil) else {
            throw CheckpointError.unsupported(path: path, what: "storage type \(items[1].describe)")
        }
        guard case let .string(key) = items[2], case let .int(numel) = items[4], numel >= 0 else {
            throw CheckpointError.unreadable(path: path, reason: "malformed storage id")
        }
        found.storages[key] = (type, numel)
        var ref = StorageRef(key: key, type: type, numel: numel, offset: 0)
        if legacy, items.count >= 6, case let .tuple(view) = items[5], view.count == 3, case let .int(offset) = view[1] {
            ref.offset = offset
        }
        return .storage(ref)
    }

    /// The calls a checkpoint may pickle. Tensors and parameters become `TensorRef`s; an OrderedDict
    /// becomes a dict; anything else stays an opaque object (an optimizer's state, a Namespace).
    static func torchReduce(_ module: String, _ name: String, _ args: [PickleValue], path: String) throws -> PickleValue {
        switch (module, name) {
        case ("collections", "OrderedDict"):
            return .dict(PickleDict())
        case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            guard args.count >= 4, case let .storage(s) = args[0], case let .int(offset) = args[1],
                  let size = ints(args[2]), let stride = ints(args[3]) else {
                throw CheckpointError.unreadable(path: path, reason: "malformed arguments to \(module).\(name)")
            }
            let view = StridedView(type: s.type, offset: s.offset + offset, shape: size, stride: stride)
            return .tensor(TensorRef(storage: s, view: view))
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            // nn.Parameter(data, requires_grad, backward_hooks[, state]): the data is the tensor.
            guard let data = args.first, case .tensor = data else {
                throw CheckpointError.unreadable(path: path, reason: "a Parameter without tensor data")
            }
            return data
        case ("_codecs", "encode"):
            // How protocol 2 pickles Python 3 bytes: _codecs.encode(text, 'latin1').
            guard case let .string(text)? = args.first else { return .object("bytes") }
            return .bytes(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        default:
            return .object("\(module).\(name)")
        }
    }

    static func ints(_ value: PickleValue) -> [Int]? {
        let items: [PickleValue]
        switch value {
        case let .tuple(t): items = t
        case let .list(l): items = l.items
        default: return nil
        }
        var out: [Int] = []
        for item in items {
            guard case let .int(v) = item else { return nil }
            out.append(v)
        }
        return out
    }
}
