// The layers models are built from, loaded strictly by checkpoint key, with BatchNorm folded
// into the preceding convolution at load time (inference only).

/// torch.nn.Conv2d, optionally with a BatchNorm2d folded in. Padding is fixed (PyTorch) or
/// TensorFlow "same" computed from the input size at call time (EfficientNet-Lite).
public struct Conv2d {
    /// `fixed(p)` on every side, `pair(h, w)` (torch's padding=(h, w), Inception's 1x7 and 7x1), TF "same".
    public enum Padding { case fixed(Int), pair(Int, Int), same }

    /// The module's name, its checkpoint key prefix (`layer1.0.conv1`), which is its tap name.
    public let name: String
    /// The BatchNorm that follows it, folded in, or kept apart in `separateBN` when the
    /// convolution's own output is wanted (`WeightReader.unfolded`).
    public private(set) var bnName: String?
    public private(set) var separateBN: BatchNorm?
    public var weight: Tensor          // [O, C/groups, kH, kW]
    public var bias: [Float]?          // [O]
    public var stride: Int
    public var padding: Padding
    public var groups: Int
    /// Winograd-transformed or packed weights, made on first use (a forward-pass cache, not a parameter).
    let derived = WeightCache()

    public var outChannels: Int { weight.shape[0] }

    /// Reads `<scope>.weight` (and `<scope>.bias` when `bias`) with the shape the layer implies.
    public init(_ r: WeightReader, in c: Int, out o: Int, kernel k: Int, stride: Int = 1, padding: Padding = .fixed(0),
                groups: Int = 1, bias: Bool = true) throws {
        try self.init(r, in: c, out: o, kernel: (k, k), stride: stride, padding: padding, groups: groups, bias: bias)
    }

    /// A kH x kW kernel (Inception v3's 1x7, 7x1, 1x3, 3x1).
    public init(_ r: WeightReader, in c: Int, out o: Int, kernel k: (h: Int, w: Int), stride: Int = 1,
                padding: Padding = .fixed(0), groups: Int = 1, bias: Bool = true) throws {
        name = r.prefix
        weight = try r.tensor("weight", shape: [o, c / groups, k.h, k.w])
        self.bias = bias ? try r.tensor("bias", shape: [o]).data : nil
        self.stride = stride
        self.padding = padding
        self.groups = groups
    }

    public func geometry(height: Int, width: Int) -> Conv2dGeometry {
        let k = weight.shape[2]
        switch padding {
        case .fixed(let p) where weight.shape[3] == k: return Conv2dGeometry(kernel: k, stride: stride, padding: p, groups: groups)
        case .fixed(let p): return rectangular(padding: (p, p))
        case .pair(let ph, let pw): return rectangular(padding: (ph, pw))
        case .same: return .same(kernel: k, stride: stride, inputSize: (height, width), groups: groups)
        }
    }

    private func rectangular(padding p: (h: Int, w: Int)) -> Conv2dGeometry {
        var g = Conv2dGeometry(kernel: 1, stride: stride, groups: groups)
        g.kernel = (weight.shape[2], weight.shape[3])
        g.padding = (p.h, p.w, p.h, p.w)
        return g
    }

    public func callAsFunction(_ x: Tensor, activation: Activation = .none) -> Tensor {
        conv2d(x, weight: weight, bias: bias, geometry: geometry(height: x.shape[2], width: x.shape[3]), activation: activation,
               cache: derived)
    }

    /// Attaches the BatchNorm named `name` that follows this convolution: folded into the weights,
    /// or kept apart when `separate` (the convolution's own output is a requested tap).
    public mutating func attach(_ bn: BatchNorm, name: String, separate: Bool) {
        bnName = name
        if separate { separateBN = bn } else { fold(bn) }
    }

    /// Folds y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta into the weights and bias,
    /// computed in Double so folding adds no error beyond float32 rounding.
    public mutating func fold(_ bn: BatchNorm) {
        let o = outChannels
        precondition(bn.weight.count == o, "BatchNorm of \(bn.weight.count) channels after a convolution of \(o)")
        let per = weight.count / o
        var newBias = [Float](repeating: 0, count: o)
        for ch in 0..<o {
            let scale = Double(bn.weight[ch]) / (Double(bn.runningVar[ch]) + bn.eps).squareRoot()
            for i in ch * per..<(ch + 1) * per { weight.data[i] = Float(Double(weight.data[i]) * scale) }
            let b = Double(bias?[ch] ?? 0)
            newBias[ch] = Float((b - Double(bn.runningMean[ch])) * scale + Double(bn.bias[ch]))
        }
        bias = newBias
    }
}

/// torch.nn.BatchNorm2d's inference parameters (its training counter num_batches_tracked is not needed).
public struct BatchNorm {
    public var weight: [Float], bias: [Float], runningMean: [Float], runningVar: [Float]
    public var eps: Double

    /// y = scale * x + shift per channel, the BatchNorm at inference.
    public var scaleAndShift: (scale: [Float], shift: [Float]) {
        var scale = [Float](), shift = [Float]()
        for ch in weight.indices {
            let s = Double(weight[ch]) / (Double(runningVar[ch]) + eps).squareRoot()
            scale.append(Float(s))
            shift.append(Float(Double(bias[ch]) - s * Double(runningMean[ch])))
        }
        return (scale, shift)
    }

    public init(weight: [Float], bias: [Float], runningMean: [Float], runningVar: [Float], eps: Double) {
        precondition([bias.count, runningMean.count, runningVar.count].allSatisfy { $0 == weight.count },
                     "BatchNorm parameters of different lengths")
        self.weight = weight
        self.bias = bias
        self.runningMean = runningMean
        self.runningVar = runningVar
        self.eps = eps
    }

    public init(_ r: WeightReader, channels c: Int, eps: Double = 1e-5) throws {
        weight = try r.tensor("weight", shape: [c]).data
        bias = try r.tensor("bias", shape: [c]).data
        runningMean = try r.tensor("running_mean", shape: [c]).data
        runningVar = try r.tensor("running_var", shape: [c]).data
        self.eps = eps
    }
}

/// A convolution immediately followed by its BatchNorm, stored folded unless the convolution's
/// own output is wanted (`WeightReader.unfolded`).
public func convBN(_ conv: WeightReader, _ bn: WeightReader, in c: Int, out o: Int, kernel k: Int, stride: Int = 1,
                   padding: Conv2d.Padding = .fixed(0), groups: Int = 1, bias: Bool = false, eps: Double = 1e-5) throws -> Conv2d {
    try convBN(conv, bn, in: c, out: o, kernel: (k, k), stride: stride, padding: padding, groups: groups, bias: bias, eps: eps)
}

public func convBN(_ conv: WeightReader, _ bn: WeightReader, in c: Int, out o: Int, kernel k: (h: Int, w: Int), stride: Int = 1,
                   padding: Conv2d.Padding = .fixed(0), groups: Int = 1, bias: Bool = false, eps: Double = 1e-5) throws -> Conv2d {
    var layer = try Conv2d(conv, in: c, out: o, kernel: k, stride: stride, padding: padding, groups: groups, bias: bias)
    layer.attach(try BatchNorm(bn, channels: o, eps: eps), name: bn.prefix, separate: conv.unfolded.contains(conv.prefix))
    return layer
}

/// torch.nn.Linear.
public struct Linear {
    public var weight: Tensor   // [O, I]
    public var bias: [Float]    // [O]

    /// The weights packed for conv_gemm, made on first use (a forward-pass cache, not a parameter).
    let derived = WeightCache()

    public var outFeatures: Int { weight.shape[0] }

    public init(_ r: WeightReader, in i: Int, out o: Int) throws {
        weight = try r.tensor("weight", shape: [o, i])
        bias = try r.tensor("bias", shape: [o]).data
    }

    /// The classifier head: its output size is whatever the checkpoint says (1000 for ImageNet,
    /// the data set's classes for a fine-tuned network).
    public init(head r: WeightReader, in i: Int) throws {
        let o = r.shape(of: "weight")?.first ?? 1000
        try self.init(r, in: i, out: o)
    }

    public func callAsFunction(_ x: Tensor, activation: Activation = .none) -> Tensor {
        linear(flatten(x), weight: weight, bias: bias, activation: activation, cache: derived)
    }
}

/// torchvision.ops.Conv2dNormActivation (MobileNet v2/v3's blocks; ShuffleNet's conv1 and conv5 have
/// the same layout): `<name>.0` convolution with padding (k - 1) / 2, `<name>.1` BatchNorm (folded),
/// `<name>.2` the activation unless it is `.none`.
struct ConvNormActivation {
    let conv: Conv2d
    let activation: Activation
    let name: String

    init(_ r: WeightReader, in c: Int, out o: Int, kernel k: Int, stride: Int = 1, groups: Int = 1,
         activation: Activation, eps: Double = 1e-5) throws {
        conv = try convBN(r.scope(0), r.scope(1), in: c, out: o, kernel: k, stride: stride, padding: .fixed((k - 1) / 2),
                          groups: groups, eps: eps)
        self.activation = activation
        name = r.prefix
    }

    var outChannels: Int { conv.outChannels }

    /// Emits `<name>.0`, `.1`, `.2` and the module's own output `<name>`.
    func callAsFunction(_ x: Tensor, _ taps: Taps) throws -> Tensor {
        let y = try taps.conv(conv, x, activation: activation, then: activation == .none ? nil : "\(name).2")
        try taps.emit(name, y)
        return y
    }
}
