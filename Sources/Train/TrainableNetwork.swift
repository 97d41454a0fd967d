// A network being fine-tuned: torchvision's module tree with BatchNorm kept apart, a new head, and
// a frozen prefix that runs through Extract's inference model (BatchNorm folded, evaluation mode).
import Dispatch
import Extract

/// A module that ends at a tap (`layer2.1`, `_blocks.7`, `features.16`): the points a network can be frozen up to.
struct Unit {
    let tap: String
    let module: Module
    /// A second name for the same point (`layer2` for the last block of layer2, `stage3` in EfficientNet-Lite).
    var alias: String? = nil
}

/// Makes the classifier head: a new one, or the checkpoint's own when asked to keep it (resuming, or
/// evaluating a checkpoint as it is) and it has `classes` outputs.
final class HeadFactory {
    let classes: Int
    let seed: UInt64
    let keep: Bool
    /// Set when the checkpoint's head is replaced: its prefix, whose keys the strict loader may leave unread.
    private(set) var dropped: String?

    init(classes: Int, seed: UInt64, keep: Bool) {
        self.classes = classes
        self.seed = seed
        self.keep = keep
    }

    func make(_ r: WeightReader, _ inFeatures: Int) throws -> FullyConnected {
        if keep && r.shape(of: "weight") == [classes, inFeatures] && r.shape(of: "bias") == [classes] {
            return try FullyConnected(keptHead: r, in: inFeatures, out: classes)
        }
        dropped = r.prefix
        return FullyConnected(head: r.prefix, in: inFeatures, out: classes, seed: seed)
    }
}

public enum TrainError: Error, CustomStringConvertible {
    case unknownFreezePoint(String, Architecture, valid: [String])
    case nothingToTrain(String, Architecture)
    case classes(Int)
    case noTrainingForward
    case gradientShape([Int], expected: [Int])
    case unsupportedArchitecture(Architecture)

    public var description: String {
        switch self {
        case let .unknownFreezePoint(name, arch, valid):
            return "cannot freeze \(arch.rawValue) up to `\(name)`: the network can be frozen up to one of "
                + valid.joined(separator: ", ")
        case let .nothingToTrain(name, arch):
            return "freezing \(arch.rawValue) up to `\(name)` leaves nothing to train; name an earlier layer"
        case let .classes(n):
            return "a network needs at least 2 classes to be trained; got \(n)"
        case .noTrainingForward:
            return "backward needs a forward pass with training: true first"
        case let .gradientShape(got, expected):
            return "the gradient of the logits has shape \(got); the last forward pass gave logits of \(expected)"
        case let .unsupportedArchitecture(arch):
            return "fine-tuning \(arch.rawValue) is not supported yet: fine-tune alexnet, vgg*, resnet* or efficientnet_lite0, "
                + "or extract codes from \(arch.rawValue) with `pipeline extract`"
        }
    }
}

/// A network being fine-tuned: torchvision's module tree, BatchNorm unfolded, new head of `classes` outputs.
public final class TrainableNetwork {
    public let architecture: Architecture
    public let classes: Int
    /// The tap everything up to which is frozen (resolved from an alias), or nil.
    public let frozenUntil: String?
    let units: [Unit]
    /// How many leading units are frozen; they run through `frozenModel`.
    let frozenCount: Int
    let frozenModel: Model?
    private var lastLogitsShape: [Int]?
    /// Seconds per unit and direction (`layer1.0 forward`, `layer1.0 backward`, `frozen forward`) when
    /// set to a dictionary (`pipeline bench --train --profile`); nil: not measured.
    public var profile: [String: Double]?

    @inline(__always) private func timed<R>(_ key: String, _ body: () throws -> R) rethrows -> R {
        guard profile != nil else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { profile?[key, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        return try body()
    }

    /// Builds `architecture` from a state dict with torchvision's (or efficientnet-lite-pytorch's) keys,
    /// strictly: every key must be used, except the old head's, which is replaced by a new one unless
    /// `keepHead` (resuming a fine-tuning run) and it has `classes` outputs.
    /// `freezeUntil`: a tap (`layer2`, `_blocks.10`, `features.7`, or an alias such as `pool5`); it and
    /// everything before it are frozen: forward only, BatchNorm in evaluation mode, statistics untouched.
    /// `seed` seeds the new head's initialisation and the dropout masks.
    public convenience init(_ arch: Architecture, weights: StateDict, classes: Int, freezeUntil: String?, seed: UInt64,
                            keepHead: Bool = false) throws {
        try self.init(arch, reader: WeightReader(weights), classes: classes, freezeUntil: freezeUntil, seed: seed,
                      keepHead: keepHead)
    }

    /// The architecture with seeded random weights (Extract's WeightReader.random): for benchmarks and tests.
    public convenience init(random arch: Architecture, classes: Int, freezeUntil: String? = nil, seed: UInt64 = 0) throws {
        try self.init(arch, reader: .random(seed: seed), classes: classes, freezeUntil: freezeUntil, seed: seed)
    }

    init(_ arch: Architecture, reader r: WeightReader, classes: Int, freezeUntil: String?, seed: UInt64,
         keepHead: Bool = false) throws {
        guard classes >= 2 else { throw TrainError.classes(classes) }
        architecture = arch
        self.classes = classes
        let head = HeadFactory(classes: classes, seed: seed, keep: keepHead)
        let units: [Unit]
        switch arch.family {
        case .resnet: units = try TrainableResNet.units(r, arch, head: head)
        case .efficientnetLite: units = try TrainableEfficientNetLite.units(r, seed: seed, head: head)
        case .vgg: units = try TrainableVGG.units(r, arch, seed: seed, head: head)
        case .alexnet: units = try TrainableVGG.alexnet(r, seed: seed, head: head)
        default: throw TrainError.unsupportedArchitecture(arch)
        }
        self.units = units
        try r.finish(allowUnusedPrefixes: head.dropped.map { [$0] } ?? [])

        guard let name = freezeUntil else {
            frozenUntil = nil
            frozenCount = 0
            frozenModel = nil
            return
        }
        let target = arch.aliases[name].flatMap { a in units.contains { $0.tap == a || $0.alias == a } ? a : nil } ?? name
        guard let index = units.firstIndex(where: { $0.tap == target || $0.alias == target }) else {
            throw TrainError.unknownFreezePoint(name, arch, valid: units.dropLast().map { u in u.alias.map { "\(u.tap) (\($0))" } ?? u.tap })
        }
        guard index < units.count - 1 else { throw TrainError.nothingToTrain(name, arch) }
        frozenUntil = units[index].tap
        frozenCount = index + 1
        // The frozen layers never change: the inference model, built once from them, runs them fastest.
        frozenModel = try Model(arch, weights: StateDict(Self.entries(units)))
    }

    /// A network of the given units, none frozen (tests build small ones from the same blocks).
    init(_ arch: Architecture, units: [Unit], classes: Int) {
        architecture = arch
        self.classes = classes
        self.units = units
        frozenUntil = nil
        frozenCount = 0
        frozenModel = nil
    }

    static func entries(_ units: [Unit]) -> [(String, Tensor)] { units.flatMap { $0.module.state } }

    /// Trainable parameters, in module order (the frozen prefix has none).
    public var parameters: [Parameter] { units[frozenCount...].flatMap { $0.module.parameters } }

    /// x: [N, 3, H, W] -> logits [N, classes]. `training`: batch statistics in the trainable BatchNorms
    /// (running statistics updated), dropout on, and what the backward pass needs kept.
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == 3 else { throw ModelError.inputShape(x.shape, architecture.rawValue) }
        var y = x
        if let model = frozenModel, let tap = frozenUntil {
            guard let out = try timed("frozen forward", { try model.run(x, layers: [tap])[tap] }) else {
                throw ModelError.unknownLayer(tap, architecture.rawValue, "pipeline layers --model \(architecture.rawValue)")
            }
            y = out
        }
        for unit in units[frozenCount...] { y = timed("\(unit.tap) forward") { unit.module.forward(y, training: training) } }
        lastLogitsShape = training ? y.shape : nil
        return y
    }

    /// Back-propagates dL/dlogits through the trainable layers of the last training forward pass,
    /// adding to each parameter's `grad`.
    public func backward(_ dLogits: Tensor) throws {
        guard let shape = lastLogitsShape else { throw TrainError.noTrainingForward }
        guard dLogits.shape == shape else { throw TrainError.gradientShape(dLogits.shape, expected: shape) }
        lastLogitsShape = nil
        var g: Tensor? = dLogits
        for i in (frozenCount..<units.count).reversed() {
            guard let d = g else { break }
            g = timed("\(units[i].tap) backward") { units[i].module.backward(d, inputGrad: i > frozenCount) }
        }
    }

    public func zeroGrad() {
        for p in parameters {
            p.grad.data.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
    }

    /// Every state-dict entry under torchvision's keys, in module order: weights, BatchNorm running
    /// statistics and num_batches_tracked (as a float scalar), and the head.
    public var namedState: [(String, Tensor)] { Self.entries(units) }

    public func stateDict() -> [String: Tensor] {
        Dictionary(namedState, uniquingKeysWith: { a, _ in a })
    }

    /// The taps the network can be frozen up to, in forward order (the head excluded).
    public var freezePoints: [String] { units.dropLast().map(\.tap) }
}
