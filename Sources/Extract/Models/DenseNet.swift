// DenseNet-BC (Huang et al. 2017, "Densely Connected Convolutional Networks"), following
// torchvision.models.densenet: keys `features.denseblock2.denselayer3.conv1.weight`, final F.relu after norm5.

struct DenseNet: Network {
    /// (growth rate, layers per block, initial features) of densenet121/161/169/201; bn_size 4.
    static func config(_ a: Architecture) -> (growth: Int, blocks: [Int], initial: Int) {
        switch a {
        case .densenet161: return (48, [6, 12, 36, 24], 96)
        case .densenet169: return (32, [6, 12, 32, 32], 64)
        case .densenet201: return (32, [6, 12, 48, 32], 64)
        default: return (32, [6, 12, 24, 16], 64)
        }
    }

    /// BatchNorm, then ReLU: before a convolution, so it cannot be folded into one.
    struct NormReLU {
        let name: String, relu: String
        let scale, shift: [Float]

        init(_ r: WeightReader, channels c: Int, relu: String) throws {
            name = r.prefix
            self.relu = relu
            (scale, shift) = try BatchNorm(r, channels: c).scaleAndShift
        }

        func callAsFunction(_ x: Tensor, _ taps: Taps) throws -> Tensor {
            var y = affine(x, scale: scale, shift: shift)
            try taps.emit(name, y)
            apply(.relu, to: &y)
            try taps.emit(relu, y)
            return y
        }
    }

    /// _DenseLayer: norm1, relu1, conv1 (1x1, norm2 folded in), relu2, conv2 (3x3); returns only
    /// the new `growth` channels, which _DenseBlock concatenates to its input.
    struct Layer {
        let name: String
        let norm1: NormReLU
        let conv1, conv2: Conv2d

        init(_ r: WeightReader, in c: Int, growth k: Int) throws {
            name = r.prefix
            norm1 = try NormReLU(r.scope("norm1"), channels: c, relu: r.prefix + ".relu1")
            conv1 = try convBN(r.scope("conv1"), r.scope("norm2"), in: c, out: 4 * k, kernel: 1)
            conv2 = try Conv2d(r.scope("conv2"), in: 4 * k, out: k, kernel: 3, padding: .fixed(1), bias: false)
        }

        func forward(_ x: Tensor, _ taps: Taps) throws -> Tensor {
            var y = try norm1(x, taps)
            y = try taps.conv(conv1, y, activation: .relu, then: "\(name).relu2")
            y = try taps.conv(conv2, y)
            try taps.emit(name, y)
            return y
        }
    }

    /// _Transition: norm, relu, conv (1x1, half the channels), pool (2x2 average).
    struct Transition {
        let name: String
        let norm: NormReLU
        let conv: Conv2d

        init(_ r: WeightReader, in c: Int) throws {
            name = r.prefix
            norm = try NormReLU(r.scope("norm"), channels: c, relu: r.prefix + ".relu")
            conv = try Conv2d(r.scope("conv"), in: c, out: c / 2, kernel: 1, bias: false)
        }

        func forward(_ x: Tensor, _ taps: Taps) throws -> Tensor {
            var y = try taps.conv(conv, try norm(x, taps))
            y = avgPool2d(y, kernel: 2, stride: 2)
            try taps.emit("\(name).pool", y)
            try taps.emit(name, y)
            return y
        }
    }

    let stem: Conv2d
    let blocks: [[Layer]]
    let transitions: [Transition]
    let norm5: (scale: [Float], shift: [Float])
    let classifier: Linear

    init(_ r: WeightReader, _ a: Architecture) throws {
        let (k, counts, initial) = Self.config(a)
        let f = r.scope("features")
        stem = try convBN(f.scope("conv0"), f.scope("norm0"), in: 3, out: initial, kernel: 7, stride: 2, padding: .fixed(3))
        var c = initial, blocks: [[Layer]] = [], transitions: [Transition] = []
        for (b, count) in counts.enumerated() {
            let block = f.scope("denseblock\(b + 1)")
            blocks.append(try (0..<count).map { i in try Layer(block.scope("denselayer\(i + 1)"), in: c + i * k, growth: k) })
            c += count * k
            if b < counts.count - 1 {
                transitions.append(try Transition(f.scope("transition\(b + 1)"), in: c))
                c /= 2
            }
        }
        self.blocks = blocks
        self.transitions = transitions
        norm5 = try BatchNorm(f.scope("norm5"), channels: c).scaleAndShift
        classifier = try Linear(head: r.scope("classifier"), in: c)
    }

    func forward(_ x: Tensor, _ taps: Taps) throws {
        var y = try taps.conv(stem, x, activation: .relu, then: "features.relu0")
        y = maxPool2d(y, kernel: 3, stride: 2, padding: 1)
        try taps.emit("features.pool0", y)
        for (b, block) in blocks.enumerated() {
            for layer in block { y = concatChannels([y, try layer.forward(y, taps)]) }
            try taps.emit("features.denseblock\(b + 1)", y)
            if b < transitions.count { y = try transitions[b].forward(y, taps) }
        }
        y = affine(y, scale: norm5.scale, shift: norm5.shift)
        try taps.emit("features.norm5", y)
        try taps.emit("features", y)
        apply(.relu, to: &y)  // forward: F.relu(features), then adaptive_avg_pool2d, flatten, classifier
        try taps.emit("relu", y)
        y = globalAvgPool(y)
        try taps.emit("adaptive_avg_pool2d", y.reshaped([y.shape[0], y.shape[1], 1, 1]))
        try taps.emit("flatten", y)
        try taps.emit("classifier", classifier(y))
    }
}
