// A model's weights by name, as torch's `state_dict()` names them, from any file users bring:
// torch.save archives (zip or legacy) and safetensors, told apart by their first bytes.

/// The renames applied on load; the only ones anywhere (CONVENTIONS.md, principle 1).
enum CheckpointRenames {
    /// Training scripts save `{"state_dict": sd, "epoch": 3, "optimizer": ...}`: the weights are
    /// taken from the first of these keys that holds a dict.
    static let wrapperKeys = ["state_dict", "model_state_dict", "model"]
    /// Prefixes stripped when every key carries them: `module.` from nn.DataParallel and
    /// DistributedDataParallel, `_orig_mod.` from torch.compile.
    static let commonPrefixes = ["module.", "_orig_mod."]

    /// torchvision's DenseNet checkpoints predate its module names: `denselayer1.norm.1.weight` is
    /// today's `denselayer1.norm1.weight` (densenet.py's _load_state_dict, with the same pattern).
    nonisolated(unsafe) static let legacyDenseLayer =
        #/^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$/#

    /// A key as today's torchvision names it.
    static func current(_ key: String) -> String {
        guard key.contains("denselayer"), let m = key.wholeMatch(of: legacyDenseLayer) else { return key }
        return String(m.output.1) + String(m.output.2)  // `...denselayer1.norm` + `1.weight`
    }
}

/// Named float32 tensors in file order.
public struct StateDict {
    public private(set) var keys: [String]
    private var tensors: [String: Tensor]
    /// Where the weights came from, for error messages.
    public private(set) var source: String

    public init(_ tensors: [(String, Tensor)]) {
        self.init(tensors, source: "(in memory)")
    }

    init(_ tensors: [(String, Tensor)], source: String) {
        keys = []
        self.tensors = [:]
        self.source = source
        for (key, tensor) in tensors {
            if self.tensors.updateValue(tensor, forKey: key) == nil { keys.append(key) }
        }
    }

    /// Every floating dtype (and int64 buffers such as `num_batches_tracked`) as Float32.
    public subscript(key: String) -> Tensor? {
        tensors[key]
    }

    /// Reads a `.pth`/`.pt` file of either torch.save format, or a `.safetensors` file, by its
    /// magic bytes; unwraps training-script wrappers, strips a common `module.` prefix and renames
    /// legacy DenseNet keys (`CheckpointRenames`).
    public static func load(path: String) throws -> StateDict {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        var named: [(String, Tensor)]
        if ZipArchive.isZip(bytes) {
            named = try tensors(of: try TorchCheckpoint.readZip(file), path: path)
        } else if TorchCheckpoint.isLegacy(bytes) {
            named = try tensors(of: try TorchCheckpoint.readLegacy(file), path: path)
        } else if Safetensors.looksLike(bytes) {
            named = try Safetensors.read(file)
        } else if bytes.count > 262, bytes[257 ..< 262].elementsEqual("ustar".utf8) {
            throw CheckpointError.unsupported(
                path: path, what: "a tar checkpoint from torch < 0.4; load it in Python and save it again with torch.save")
        } else {
            throw CheckpointError.unreadable(
                path: path, reason: "neither a torch.save file (zip or legacy pickle) nor safetensors")
        }
        named = named.map { (CheckpointRenames.current($0.0), $0.1) }
        for prefix in CheckpointRenames.commonPrefixes
        where !named.isEmpty && named.allSatisfy({ $0.0.hasPrefix(prefix) }) {
            named = named.map { (String($0.0.dropFirst(prefix.count)), $0.1) }
        }
        return StateDict(named, source: path)
    }

    /// The `__metadata__` of a safetensors file: what the file says it is.
    public static func safetensorsMetadata(path: String) throws -> [String: String] {
        try Safetensors.metadata(try MappedFile(path: path))
    }

    /// Writes every tensor as F32 safetensors, which the `safetensors` package reads; atomically
    /// (a temporary file renamed over `path`).
    public func save(safetensors path: String, metadata: [String: String] = [:]) throws {
        try Safetensors.write(keys.compactMap { k in tensors[k].map { (k, $0) } }, metadata: metadata, to: path)
    }

    /// The weights of an unpickled checkpoint: a dict of tensors, maybe inside a wrapper dict.
    private static func tensors(of checkpoint: TorchCheckpoint, path: String) throws -> [(String, Tensor)] {
        guard case var .dict(dict) = checkpoint.root else {
            throw CheckpointError.unsupported(
                path: path, what: "the file holds \(checkpoint.root.describe), not a state dict; a pickled nn.Module "
                    + "cannot be read without its Python class: save model.state_dict() instead")
        }
        let isStateDict = { (d: PickleDict) in
            d.items.allSatisfy { if case .tensor = $0.value { return true } else { return false } }
        }
        if !isStateDict(dict) {
            let wrapped = CheckpointRenames.wrapperKeys.lazy.compactMap { key -> PickleDict? in
                if case let .dict(inner)? = dict[key] { return inner } else { return nil }
            }.first
            guard let inner = wrapped else {
                let names = dict.items.prefix(10).map { item -> String in
                    if case let .string(s) = item.key { return "`\(s)`: \(item.value.describe)" }
                    return item.key.describe
                }
                throw CheckpointError.unsupported(
                    path: path, what: "a dict that is not a state dict and holds none under "
                        + CheckpointRenames.wrapperKeys.map { "`\($0)`" }.joined(separator: ", ")
                        + "; its entries: " + names.joined(separator: ", "))
            }
            dict = inner
        }
        var out: [(String, Tensor)] = []
        out.reserveCapacity(dict.items.count)
        for (k, v) in dict.items {
            guard case let .string(key) = k else {
                throw CheckpointError.unsupported(path: path, what: "a state dict key that is \(k.describe)")
            }
            guard case let .tensor(ref) = v else {
                throw CheckpointError.unsupported(path: path, what: "`\(key)` is \(v.describe), not a tensor")
            }
            out.append((key, Tensor(shape: ref.view.shape, data: try checkpoint.floats(ref, path: path, key: key))))
        }
        return out
    }
}
