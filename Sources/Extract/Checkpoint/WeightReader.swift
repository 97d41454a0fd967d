// Scoped, strict loading (CONVENTIONS.md, principle 2): a model builder walks the checkpoint's
// module tree by prefix, states every shape it expects, and finally asks what it never read.

/// Hands out a state dict's tensors to a model builder and remembers which keys it took.
public final class WeightReader {
    /// Shared by a reader and all its scopes.
    private final class Ledger {
        let dict: StateDict
        var used: Set<String> = []
        /// Set when the reader makes up weights of the asked shapes instead (benchmarks, `layers`).
        var random: RandomWeights?
        /// Modules whose own output is wanted, so a BatchNorm after them is kept apart, not folded.
        var unfolded: Set<String> = []
        init(_ dict: StateDict) { self.dict = dict }
    }

    private let ledger: Ledger
    /// The scope's prefix, without a trailing dot; empty at the root.
    public let prefix: String

    public init(_ dict: StateDict) {
        ledger = Ledger(dict)
        prefix = ""
    }

    /// A reader that answers every request with seeded random weights of the asked shape
    /// (He-scaled convolution and linear weights, BatchNorm statistics near identity), for
    /// measuring speed or listing layers when no checkpoint is at hand.
    public static func random(seed: UInt64 = 0) -> WeightReader {
        let r = WeightReader(StateDict([]))
        r.ledger.random = RandomWeights(state: seed)
        return r
    }

    private init(_ ledger: Ledger, prefix: String) {
        self.ledger = ledger
        self.prefix = prefix
    }

    /// `scope("layer1").scope(0)` reads keys `layer1.0.*`.
    public func scope(_ name: String) -> WeightReader {
        WeightReader(ledger, prefix: key(name))
    }

    public func scope(_ index: Int) -> WeightReader {
        scope(String(index))
    }

    private func key(_ name: String) -> String {
        prefix.isEmpty ? name : prefix + "." + name
    }

    public func has(_ name: String) -> Bool {
        ledger.dict[key(name)] != nil
    }

    /// Convolutions (by module name, e.g. `layer1.0.conv1`) whose output before their BatchNorm
    /// will be asked for: `convBN` keeps their BatchNorm apart instead of folding it.
    public var unfolded: Set<String> {
        get { ledger.unfolded }
        set { ledger.unfolded = newValue }
    }

    /// The shape stored under `prefix.name`, without reading it (a head sized by the checkpoint).
    public func shape(of name: String) -> [Int]? {
        ledger.dict[key(name)]?.shape
    }

    /// The tensor `prefix.name`, which must have exactly `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let t = try optional(name, shape: shape) else {
            throw CheckpointError.missing(key: key(name), hint: missingHint())
        }
        return t
    }

    /// Like `tensor`, but nil when the key is absent (a bias the layer may lack).
    public func optional(_ name: String, shape: [Int]) throws -> Tensor? {
        let full = key(name)
        if ledger.random != nil { return ledger.random?.tensor(name: name, shape: shape) }
        guard let t = ledger.dict[full] else { return nil }
        guard t.shape == shape else {
            throw CheckpointError.shapeMismatch(key: full, expected: shape, got: t.shape)
        }
        ledger.used.insert(full)
        return t
    }

    /// Throws `.unused` with every key never read, except `num_batches_tracked` (BatchNorm's
    /// training counter) and keys under `allowUnusedPrefixes` (`"fc"` drops `fc.weight`, `fc.bias`).
    public func finish(allowUnusedPrefixes: [String] = []) throws {
        let allowed = allowUnusedPrefixes.map { $0.hasSuffix(".") ? $0 : $0 + "." }
        let unused = ledger.dict.keys.filter { k in
            !ledger.used.contains(k) && !k.hasSuffix("num_batches_tracked")
                && !allowed.contains { k.hasPrefix($0) || k + "." == $0 }
        }
        if !unused.isEmpty { throw CheckpointError.unused(keys: unused) }
    }

    private func missingHint() -> String {
        let dict = ledger.dict
        let near = prefix.isEmpty ? [] : dict.keys.filter { $0.hasPrefix(prefix + ".") }
        let shown = (near.isEmpty ? Array(dict.keys.prefix(4)) : Array(near.prefix(6))).map { "`\($0)`" }
        let what = near.isEmpty ? (prefix.isEmpty ? "its first keys" : "no keys under `\(prefix).`; its first keys")
            : "keys under `\(prefix).`"
        return "\(dict.source) has \(dict.keys.count) keys, \(what): \(shown.joined(separator: ", "))"
    }
}

/// splitmix64 numbers turned into plausible weights; see `WeightReader.random`.
final class RandomWeights {
    private var state: UInt64
    init(state: UInt64) { self.state = state }

    private func uniform() -> Float {  // in [-1, 1)
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }

    func tensor(name: String, shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        switch (name, shape.count) {
        case ("running_var", _), ("weight", 1): return Tensor(shape: shape, data: .init(repeating: 1, count: n))
        case ("running_mean", _), ("bias", _), ("num_batches_tracked", _): return Tensor(zeros: shape)
        default:
            let fanIn = max(shape.dropFirst().reduce(1, *), 1)
            let scale = (6 / Float(fanIn)).squareRoot()   // uniform with He's variance 2 / fan_in
            return Tensor(shape: shape, data: (0..<n).map { _ in uniform() * scale })
        }
    }
}
