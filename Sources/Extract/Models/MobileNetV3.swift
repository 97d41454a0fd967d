// MobileNetV3 (Howard et al. 2019, "Searching for MobileNetV3"), following torchvision.models.mobilenetv3:
// keys `features.4.block.2.fc1.weight`, Hardswish, Hardsigmoid squeeze-and-excitation, BatchNorm eps 1e-3.

struct MobileNetV3: Network {
    /// torchvision's InvertedResidualConfig rows: input, kernel, expanded, output, SE, Hardswish, stride.
    struct Config { let input, kernel, expanded, out: Int; let se, hs: Bool; let stride: Int }

    static func configs(_ a: Architecture) -> (blocks: [Config], lastChannel: Int) {
        func c(_ i: Int, _ k: Int, _ e: Int, _ o: Int, _ se: Bool, _ act: String, _ s: Int) -> Config {
            Config(input: i, kernel: k, expanded: e, out: o, se: se, hs: act == "HS", stride: s)
        }
        if a == .mobilenet_v3_small {
            return ([c(16, 3, 16, 16, true, "RE", 2), c(16, 3, 72, 24, false, "RE", 2), c(24, 3, 88, 24, false, "RE", 1),
                     c(24, 5, 96, 40, true, "HS", 2), c(40, 5, 240, 40, true, "HS", 1), c(40, 5, 240, 40, true, "HS", 1),
                     c(40, 5, 120, 48, true, "HS", 1), c(48, 5, 144, 48, true, "HS", 1), c(48, 5, 288, 96, true, "HS", 2),
                     c(96, 5, 576, 96, true, "HS", 1), c(96, 5, 576, 96, true, "HS", 1)], 1024)
        }
        return ([c(16, 3, 16, 16, false, "RE", 1), c(16, 3, 64, 24, false, "RE", 2), c(24, 3, 72, 24, false, "RE", 1),
                 c(24, 5, 72, 40, true, "RE", 2), c(40, 5, 120, 40, true, "RE", 1), c(40, 5, 120, 40, true, "RE", 1),
                 c(40, 3, 240, 80, false, "HS", 2), c(80, 3, 200, 80, false, "HS", 1), c(80, 3, 184, 80, false, "HS", 1),
                 c(80, 3, 184, 80, false, "HS", 1), c(80, 3, 480, 112, true, "HS", 1), c(112, 3, 672, 112, true, "HS", 1),
                 c(112, 5, 672, 160, true, "HS", 2), c(160, 5, 960, 160, true, "HS", 1), c(160, 5, 960, 160, true, "HS", 1)], 1280)
    }

    static let eps = 1e-3

    /// torchvision.models._utils._make_divisible: round to a multiple of 8, never more than 10% down.
    static func makeDivisible(_ v: Int, _ divisor: Int = 8) -> Int {
        var n = max(divisor, (v + divisor / 2) / divisor * divisor)
        if Double(n) < 0.9 * Double(v) { n += divisor }
        return n
    }

    /// torchvision.ops.SqueezeExcitation with ReLU and Hardsigmoid: `scale * input`, scale from
    /// avgpool -> fc1 (1x1 conv) -> activation -> fc2 -> scale_activation.
    struct SqueezeExcitation {
        let name: String
        let fc1, fc2: Conv2d

        init(_ r: WeightReader, channels c: Int) throws {
            name = r.prefix
            let squeeze = MobileNetV3.makeDivisible(c / 4)
            fc1 = try Conv2d(r.scope("fc1"), in: c, out: squeeze, kernel: 1)
            fc2 = try Conv2d(r.scope("fc2"), in: squeeze, out: c, kernel: 1)
        }

        func callAsFunction(_ x: Tensor, _ taps: Taps) throws -> Tensor {
            var s = globalAvgPool(x).reshaped([x.shape[0], x.shape[1], 1, 1])
            try taps.emit("\(name).avgpool", s)
            s = try taps.layer("\(name).fc1", then: "\(name).activation", activation: .relu) { fc1(s, activation: $0) }
            s = try taps.layer("\(name).fc2", then: "\(name).scale_activation", activation: .hardsigmoid) { fc2(s, activation: $0) }
            let y = scaleChannels(x, by: s)
            try taps.emit(name, y)
            return y
        }
    }

    /// InvertedResidual: `block.0` expansion (when the width changes), the depthwise
    /// Conv2dNormActivation, SqueezeExcitation when configured, then the linear projection.
    struct Block {
        let name: String
        let expand: ConvNormActivation?
        let depthwise: ConvNormActivation
        let se: SqueezeExcitation?
        let project: ConvNormActivation
        let residual: Bool

        init(_ r: WeightReader, _ c: Config) throws {
            name = r.prefix
            let act: Activation = c.hs ? .hardswish : .relu, eps = MobileNetV3.eps
            let b = r.scope("block")
            var i = 0
            expand = c.expanded == c.input ? nil
                : try ConvNormActivation(b.scope(0), in: c.input, out: c.expanded, kernel: 1, activation: act, eps: eps)
            if expand != nil { i += 1 }
            depthwise = try ConvNormActivation(b.scope(i), in: c.expanded, out: c.expanded, kernel: c.kernel, stride: c.stride,
                                               groups: c.expanded, activation: act, eps: eps)
            i += 1
            se = c.se ? try SqueezeExcitation(b.scope(i), channels: c.expanded) : nil
            if c.se { i += 1 }
            project = try ConvNormActivation(b.scope(i), in: c.expanded, out: c.out, kernel: 1, activation: .none, eps: eps)
            residual = c.stride == 1 && c.input == c.out
        }

        func forward(_ x: Tensor, _ taps: Taps) throws -> Tensor {
            // Blocks without squeeze-and-excitation can run fused (InvertedResidual.swift).
            if se == nil,
               let y = taps.fusedInvertedResidual(
                   x, expand: expand?.conv, depthwise: depthwise.conv, project: project.conv, activation: depthwise.activation,
                   residual: residual,
                   inner: [expand?.name, expand.map { "\($0.name).2" }, depthwise.name, "\(depthwise.name).2", project.name,
                           "\(name).block"].compactMap { $0 }) {
                return y
            }
            var y = try expand.map { try $0(x, taps) } ?? x
            y = try depthwise(y, taps)
            if let se { y = try se(y, taps) }
            y = try project(y, taps)
            try taps.emit("\(name).block", y)
            if residual { add(into: &y, x) }
            return y
        }
    }

    let stem: ConvNormActivation
    let blocks: [Block]
    let head: ConvNormActivation
    let hidden, classifier: Linear

    init(_ r: WeightReader, _ a: Architecture) throws {
        let (configs, last) = Self.configs(a)
        let f = r.scope("features")
        stem = try ConvNormActivation(f.scope(0), in: 3, out: 16, kernel: 3, stride: 2, activation: .hardswish, eps: Self.eps)
        blocks = try configs.enumerated().map { i, c in try Block(f.scope(i + 1), c) }
        let c = configs[configs.count - 1].out
        head = try ConvNormActivation(f.scope(configs.count + 1), in: c, out: 6 * c, kernel: 1, activation: .hardswish, eps: Self.eps)
        hidden = try Linear(r.scope("classifier").scope(0), in: 6 * c, out: last)
        classifier = try Linear(head: r.scope("classifier").scope(3), in: last)
    }

    func forward(_ x: Tensor, _ taps: Taps) throws {
        var y = try stem(x, taps)
        for (i, block) in blocks.enumerated() {
            y = try block.forward(y, taps)
            try taps.emit("features.\(i + 1)", y)
        }
        y = try head(y, taps)
        try taps.emit("features", y)
        y = globalAvgPool(y)
        try taps.emit("avgpool", y.reshaped([y.shape[0], y.shape[1], 1, 1]))
        try taps.emit("flatten", y)
        // classifier: Linear, Hardswish, Dropout (identity at inference), Linear.
        y = try taps.layer("classifier.0", then: "classifier.1", activation: .hardswish) { hidden(y, activation: $0) }
        try taps.emit("classifier.2", y)
        try taps.emit("classifier.3", classifier(y))
    }
}
