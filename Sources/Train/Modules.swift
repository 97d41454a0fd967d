// The modules a trainable network is made of, torch.nn's with BatchNorm kept apart: each runs
// forward (keeping what its backward needs when training) and backward, and lists its state.
import Extract

/// A module of a trainable network. `backward` follows the last `forward(_, training: true)` and
/// accumulates into its parameters' gradients; it returns dL/dx when `inputGrad` (nil otherwise).
public class Module {
    public func forward(_ x: Tensor, training: Bool) -> Tensor { x }
    public func backward(_ dy: Tensor, inputGrad: Bool) -> Tensor? { dy }
    /// Trainable parameters, in module order.
    public var parameters: [Parameter] { [] }
    /// State-dict entries (parameters and buffers) under torchvision's keys, in module order.
    public var state: [(String, Tensor)] { parameters.map { ($0.name, $0.value) } }
}

/// The group a key belongs to for per-stage learning rates: its first component, with the block
/// index for EfficientNet's flat `_blocks` list (`layer3.1.conv1.weight` -> `layer3`, `_blocks.12...` -> `_blocks.12`).
/// A top-level BatchNorm belongs to the convolution it follows (`stageOfBatchNorm`).
func stage(of key: String) -> String {
    let parts = key.split(separator: ".")
    if parts.count > 2 && parts[0] == "_blocks" { return "_blocks.\(parts[1])" }
    let first = String(parts.first ?? "")
    return stageOfBatchNorm[first] ?? first
}

/// The top-level BatchNorms whose checkpoint names differ from their convolution's: torchvision's
/// ResNet stem, efficientnet-lite-pytorch's stem and head.
let stageOfBatchNorm = ["bn1": "conv1", "_bn0": "_conv_stem", "_bn1": "_conv_head"]

/// torch.nn.Conv2d; padding fixed or TF "same" (computed from the input size).
public final class Convolution: Module {
    public let weight: Parameter
    public let bias: Parameter?
    let stride: Int, padding: Conv2d.Padding, groups: Int
    private var input: Tensor?

    init(_ r: WeightReader, in c: Int, out o: Int, kernel k: Int, stride: Int = 1, padding: Conv2d.Padding = .fixed(0),
         groups: Int = 1, bias: Bool = false) throws {
        weight = Parameter(name: r.prefix + ".weight", value: try r.tensor("weight", shape: [o, c / groups, k, k]),
                           stage: stage(of: r.prefix))
        self.bias = bias ? Parameter(name: r.prefix + ".bias", value: try r.tensor("bias", shape: [o]), stage: stage(of: r.prefix)) : nil
        self.stride = stride
        self.padding = padding
        self.groups = groups
    }

    func geometry(_ x: Tensor) -> Conv2dGeometry {
        let k = weight.value.shape[2]
        switch padding {
        case .fixed(let p): return Conv2dGeometry(kernel: k, stride: stride, padding: p, groups: groups)
        case .pair(let ph, let pw):
            var g = Conv2dGeometry(kernel: 1, stride: stride, groups: groups)
            g.kernel = (weight.value.shape[2], weight.value.shape[3])
            g.padding = (ph, pw, ph, pw)
            return g
        case .same: return .same(kernel: k, stride: stride, inputSize: (x.shape[2], x.shape[3]), groups: groups)
        }
    }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        input = training ? x : nil
        return conv2d(x, weight: weight.value, bias: bias?.value.data, geometry: geometry(x))
    }

    public override func backward(_ dy: Tensor, inputGrad: Bool) -> Tensor? {
        guard let x = input else { preconditionFailure("\(weight.name): backward without a training forward pass") }
        input = nil
        let (dx, dw, db) = conv2dBackward(x, weight: weight.value, dy: dy, geometry: geometry(x), inputGrad: inputGrad,
                                          biasGrad: bias != nil)
        weight.accumulate(dw.data)
        if let db { bias?.accumulate(db) }
        return dx
    }

    public override var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }
}

/// torch.nn.BatchNorm2d: batch statistics when training (running statistics updated with
/// `momentum`, running_var from the unbiased variance, num_batches_tracked counted), running
/// statistics in evaluation.
public final class BatchNormalization: Module {
    public let weight: Parameter, bias: Parameter
    public private(set) var runningMean: [Float], runningVar: [Float]
    public private(set) var numBatchesTracked: Float
    let name: String, eps: Double, momentum: Double
    private var saved: (x: Tensor, stats: BatchStatistics)?

    init(_ r: WeightReader, channels c: Int, eps: Double, momentum: Double) throws {
        name = r.prefix
        weight = Parameter(name: name + ".weight", value: try r.tensor("weight", shape: [c]), stage: stage(of: name))
        bias = Parameter(name: name + ".bias", value: try r.tensor("bias", shape: [c]), stage: stage(of: name))
        runningMean = try r.tensor("running_mean", shape: [c]).data
        runningVar = try r.tensor("running_var", shape: [c]).data
        // torch saves it as an int64 scalar; checkpoints from before torch 0.4.1 lack it; some
        // writers (the test fixtures' numpy) store it as a 1-element vector.
        let counterShape = r.shape(of: "num_batches_tracked") == [1] ? [1] : []
        numBatchesTracked = try r.optional("num_batches_tracked", shape: counterShape)?.data.first ?? 0
        self.eps = eps
        self.momentum = momentum
    }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        guard training else {
            saved = nil
            return batchNormInference(x, gamma: weight.value.data, beta: bias.value.data, runningMean: runningMean,
                                      runningVar: runningVar, eps: eps)
        }
        let (y, stats) = batchNormTraining(x, gamma: weight.value.data, beta: bias.value.data, eps: eps)
        saved = (x, stats)
        // torch: running = (1 - momentum) * running + momentum * batch (momentum is not None, so
        // num_batches_tracked only counts).
        for ch in runningMean.indices {
            runningMean[ch] = Float((1 - momentum) * Double(runningMean[ch]) + momentum * Double(stats.mean[ch]))
            runningVar[ch] = Float((1 - momentum) * Double(runningVar[ch]) + momentum * stats.unbiasedVariance[ch])
        }
        numBatchesTracked += 1
        return y
    }

    public override func backward(_ dy: Tensor, inputGrad: Bool) -> Tensor? {
        guard let (x, stats) = saved else { preconditionFailure("\(name): backward without a training forward pass") }
        saved = nil
        let (dx, dgamma, dbeta) = batchNormTrainingBackward(x, dy: dy, gamma: weight.value.data, stats: stats)
        weight.accumulate(dgamma)
        bias.accumulate(dbeta)
        return dx
    }

    public override var parameters: [Parameter] { [weight, bias] }

    public override var state: [(String, Tensor)] {
        let c = runningMean.count
        return [(weight.name, weight.value), (bias.name, bias.value),
                (name + ".running_mean", Tensor(shape: [c], data: runningMean)),
                (name + ".running_var", Tensor(shape: [c], data: runningVar)),
                (name + ".num_batches_tracked", Tensor(shape: [], data: [numBatchesTracked]))]
    }
}

/// ReLU or ReLU6.
public final class Activate: Module {
    let kind: Activation
    private var output: Tensor?

    init(_ kind: Activation) { self.kind = kind }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        let y = kind == .relu ? relu(x) : activated(x, kind)
        output = training ? y : nil
        return y
    }

    public override func backward(_ dy: Tensor, inputGrad: Bool) -> Tensor? {
        guard let y = output else { preconditionFailure("\(kind): backward without a training forward pass") }
        output = nil
        return activationBackward(kind, y: y, dy: dy)
    }
}

/// ReLU6 (or ReLU) into a new tensor, split across the workers.
func activated(_ x: Tensor, _ a: Activation) -> Tensor {
    Tensor(shape: x.shape) { y in
        x.data.withUnsafeBufferPointer { xp in
            let xb = xp.baseAddress!
            parallelRanges(x.count, grain: 1 << 15, align: 16) { r in
                if a == .relu6 {
                    for i in r { y[i] = min(max(xb[i], 0), 6) }
                } else {
                    for i in r { y[i] = max(xb[i], 0) }
                }
            }
        }
    }
}

/// torch.nn.MaxPool2d.
public final class MaxPool: Module {
    let kernel, stride, padding: Int
    let ceilMode: Bool
    private var saved: (indices: [Int32], shape: [Int])?

    init(kernel: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false) {
        (self.kernel, self.stride, self.padding, self.ceilMode) = (kernel, stride, padding, ceilMode)
    }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        guard training else {
            saved = nil
            return maxPool2d(x, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
        }
        let (y, indices) = maxPool2dWithIndices(x, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
        saved = (indices, x.shape)
        return y
    }

    public override func backward(_ dy: Tensor, inputGrad: Bool) -> Tensor? {
        guard let (indices, shape) = saved else { preconditionFailure("max pool: backward without a training forward pass") }
        saved = nil
        return maxPool2dBackward(dy: dy, indices: indices, inputShape: shape)
    }
}

/// torch.nn.AdaptiveAvgPool2d((oH, oW)).
public final class AdaptiveAvgPool: Module {
    let size: (h: Int, w: Int)
    private var inputShape: [Int]?

    init(_ h: Int, _ w: Int) { size = (h, w) }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = training ? x.shape : nil
        return adaptiveAvgPool2d(x, outputHeight: size.h, outputWidth: size.w)
    }

    public override func backward(_ dy: Tensor, inputGrad: Bool) -> Tensor? {
        guard let shape = inputShape else { preconditionFailure("avgpool: backward without a training forward pass") }
        inputShape = nil
        return adaptiveAvgPool2dBackward(dy: dy.reshaped([shape[0], shape[1], size.h, size.w]), inputShape: shape)
    }
}

/// AdaptiveAvgPool2d(1) then flatten: [N, C, H, W] -> [N, C].
public final class GlobalAvgPool: Module {
    private var inputShape: [Int]?

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = training ? x.shape : nil
        return globalAvgPool(x)
    }

    public override func backward(_ dy: Tensor, inputGrad: Bool) -> Tensor? {
        guard let shape = inputShape else { preconditionFailure("avgpool: backward without a training forward pass") }
        inputShape = nil
        return globalAvgPoolBackward(dy: dy.reshaped([shape[0], shape[1]]), inputShape: shape)
    }
}

/// torch.nn.Linear on the flattened input.
public final class FullyConnected: Module {
    public let weight: Parameter, bias: Parameter
    private var input: Tensor?
    private var inputShape: [Int] = []

    init(_ r: WeightReader, in i: Int, out o: Int) throws {
        weight = Parameter(name: r.prefix + ".weight", value: try r.tensor("weight", shape: [o, i]), stage: stage(of: r.prefix))
        bias = Parameter(name: r.prefix + ".bias", value: try r.tensor("bias", shape: [o]), stage: stage(of: r.prefix))
    }

    /// A new head, initialised as torch.nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) gives
    /// weights uniform in +-1/sqrt(in), and the bias is uniform in +-1/sqrt(in) too.
    init(head name: String, in i: Int, out o: Int, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let bound = 1 / Double(i).squareRoot()
        let draw = { Float((rng.unit() * 2 - 1) * bound) }
        weight = Parameter(name: name + ".weight", value: Tensor(shape: [o, i], data: (0..<(o * i)).map { _ in draw() }),
                           isHead: true, stage: stage(of: name))
        bias = Parameter(name: name + ".bias", value: Tensor(shape: [o], data: (0..<o).map { _ in draw() }),
                         isHead: true, stage: stage(of: name))
    }

    /// The checkpoint's own head, kept (a tuned checkpoint being resumed): it trains as the head.
    init(keptHead r: WeightReader, in i: Int, out o: Int) throws {
        weight = Parameter(name: r.prefix + ".weight", value: try r.tensor("weight", shape: [o, i]), isHead: true,
                           stage: stage(of: r.prefix))
        bias = Parameter(name: r.prefix + ".bias", value: try r.tensor("bias", shape: [o]), isHead: true, stage: stage(of: r.prefix))
    }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        let flat = flatten(x)
        input = training ? flat : nil
        inputShape = x.shape
        return linear(flat, weight: weight.value, bias: bias.value.data)
    }

    public override func backward(_ dy: Tensor, inputGrad: Bool) -> Tensor? {
        guard let x = input else { preconditionFailure("\(weight.name): backward without a training forward pass") }
        input = nil
        let (dx, dw, db) = linearBackward(x, weight: weight.value, dy: dy, inputGrad: inputGrad)
        weight.accumulate(dw.data)
        bias.accumulate(db)
        return dx?.reshaped(inputShape)
    }

    public override var parameters: [Parameter] { [weight, bias] }
}

/// torch.nn.Dropout(p): identity in evaluation.
public final class Dropout: Module {
    let p: Double
    var rng: SplitMix64
    private var mask: [Float]?

    init(p: Double, seed: UInt64) {
        self.p = p
        rng = SplitMix64(seed: seed)
    }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        guard training, p > 0 else { mask = nil; return x }
        let (y, m) = dropout(x, p: p, rng: &rng)
        mask = m
        return y
    }

    public override func backward(_ dy: Tensor, inputGrad: Bool) -> Tensor? {
        guard let m = mask else { return dy }
        mask = nil
        return scaled(dy, by: m)
    }
}

/// Modules applied in order (torch.nn.Sequential).
public final class Chain: Module {
    let modules: [Module]

    init(_ modules: [Module]) { self.modules = modules }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        modules.reduce(x) { $1.forward($0, training: training) }
    }

    public override func backward(_ dy: Tensor, inputGrad: Bool) -> Tensor? {
        var g: Tensor? = dy
        for (i, m) in modules.enumerated().reversed() {
            guard let d = g else { break }
            g = m.backward(d, inputGrad: inputGrad || i > 0)
        }
        return g
    }

    public override var parameters: [Parameter] { modules.flatMap(\.parameters) }
    public override var state: [(String, Tensor)] { modules.flatMap(\.state) }
}

/// y = act(main(x) * dropMask + shortcut(x)): ResNet's blocks (shortcut = downsample or identity,
/// ReLU) and EfficientNet's (identity shortcut, no activation, drop-connect on the main branch in
/// training as efficientnet-lite-pytorch's drop_connect: per image, kept with 1 - p, scaled by 1 / (1 - p)).
public final class Residual: Module {
    let main: Chain
    let shortcut: Chain?
    let activation: Activation
    let dropConnect: Double
    var rng: SplitMix64
    private var output: Tensor?
    private var mask: [Float]?

    init(main: Chain, shortcut: Chain?, activation: Activation, dropConnect: Double = 0, seed: UInt64 = 0) {
        self.main = main
        self.shortcut = shortcut
        self.activation = activation
        self.dropConnect = dropConnect
        rng = SplitMix64(seed: seed)
    }

    public override func forward(_ x: Tensor, training: Bool) -> Tensor {
        var y = main.forward(x, training: training)
        mask = nil
        if training && dropConnect > 0 {
            // drop_connect: binary = floor(keep + U[0,1)) per image, output = x / keep * binary.
            let keep = 1 - dropConnect
            let m = (0..<x.shape[0]).map { _ in Float((keep + rng.unit()).rounded(.down) / keep) }
            y = scaled(y, by: m)
            mask = m
        }
        let s = shortcut?.forward(x, training: training) ?? x
        add(into: &y, s, activation: activation)
        output = training ? y : nil
        return y
    }

    public override func backward(_ dy: Tensor, inputGrad: Bool) -> Tensor? {
        guard let y = output else { preconditionFailure("residual block: backward without a training forward pass") }
        output = nil
        let dz = activationBackward(activation, y: y, dy: dy)
        var dx = main.backward(mask.map { scaled(dz, by: $0) } ?? dz, inputGrad: inputGrad)
        let ds = shortcut.map { $0.backward(dz, inputGrad: inputGrad) } ?? (inputGrad ? dz : nil)
        if var d = dx, let ds { add(into: &d, ds); dx = d }
        return dx
    }

    public override var parameters: [Parameter] { main.parameters + (shortcut?.parameters ?? []) }
    public override var state: [(String, Tensor)] { main.state + (shortcut?.state ?? []) }
}
