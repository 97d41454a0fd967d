// MobileNetV2 (Sandler et al. 2018, "Inverted Residuals and Linear Bottlenecks"), following
// torchvision.models.mobilenetv2: keys `features.3.conv.1.0.weight`, ReLU6, BatchNorm eps 1e-5.

struct MobileNetV2: Network {
    /// torchvision's inverted_residual_setting: expansion t, output channels c, repeats n, first stride s.
    static let settings: [(t: Int, c: Int, n: Int, s: Int)] = [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ]

    /// InvertedResidual: `conv.0` 1x1 expansion (absent when t = 1), then the 3x3 depthwise
    /// Conv2dNormActivation, then the linear 1x1 projection `conv.<k>` with its BatchNorm `conv.<k+1>`.
    struct Block {
        let name: String
        let expand: ConvNormActivation?
        let depthwise: ConvNormActivation
        let project: Conv2d
        let residual: Bool

        init(_ r: WeightReader, in c: Int, out: Int, stride: Int, expandRatio t: Int) throws {
            name = r.prefix
            let hidden = c * t
            let conv = r.scope("conv")
            expand = t == 1 ? nil : try ConvNormActivation(conv.scope(0), in: c, out: hidden, kernel: 1, activation: .relu6)
            let d = t == 1 ? 0 : 1
            depthwise = try ConvNormActivation(conv.scope(d), in: hidden, out: hidden, kernel: 3, stride: stride, groups: hidden,
                                               activation: .relu6)
            project = try convBN(conv.scope(d + 1), conv.scope(d + 2), in: hidden, out: out, kernel: 1)
            residual = stride == 1 && c == out
        }

        /// Outputs inside the block that fusing it (InvertedResidual.swift) would not produce.
        var inner: [String] { [expand?.name, expand.map { "\($0.name).2" }, depthwise.name, "\(depthwise.name).2", "\(name).conv"].compactMap { $0 } }

        func forward(_ x: Tensor, _ taps: Taps) throws -> Tensor {
            if let y = taps.fusedInvertedResidual(x, expand: expand?.conv, depthwise: depthwise.conv, project: project,
                                                  activation: .relu6, residual: residual, inner: inner) {
                return y
            }
            var y = try expand.map { try $0(x, taps) } ?? x
            y = try depthwise(y, taps)
            y = try taps.conv(project, y)
            try taps.emit("\(name).conv", y)
            if residual { add(into: &y, x) }
            return y
        }
    }

    let stem: ConvNormActivation
    let blocks: [Block]
    let head: ConvNormActivation
    let classifier: Linear

    init(_ r: WeightReader) throws {
        let f = r.scope("features")
        stem = try ConvNormActivation(f.scope(0), in: 3, out: 32, kernel: 3, stride: 2, activation: .relu6)
        var list: [Block] = [], c = 32
        for (t, out, n, s) in Self.settings {
            for i in 0..<n {
                list.append(try Block(f.scope(list.count + 1), in: c, out: out, stride: i == 0 ? s : 1, expandRatio: t))
                c = out
            }
        }
        blocks = list
        head = try ConvNormActivation(f.scope(list.count + 1), in: c, out: 1280, kernel: 1, activation: .relu6)
        classifier = try Linear(head: r.scope("classifier").scope(1), in: 1280)
    }

    func forward(_ x: Tensor, _ taps: Taps) throws {
        var y: Tensor
        var rest = blocks[...]
        // Where blocks are fused (batch 1), the stem runs as the first block's expansion (it has none).
        if let first = blocks.first, first.expand == nil, !first.residual,
           let fused = taps.fusedInvertedResidual(x, expand: stem.conv, depthwise: first.depthwise.conv, project: first.project,
                                                  activation: .relu6, residual: false,
                                                  inner: [stem.name, "\(stem.name).2"] + first.inner) {
            y = fused
            try taps.emit("features.1", y)
            rest = blocks.dropFirst()
        } else {
            y = try stem(x, taps)
        }
        for (i, block) in zip(rest.indices, rest) {
            y = try block.forward(y, taps)
            try taps.emit("features.\(i + 1)", y)
        }
        y = try head(y, taps)
        try taps.emit("features", y)
        // forward: nn.functional.adaptive_avg_pool2d(x, (1, 1)), torch.flatten, classifier (Dropout, Linear).
        y = globalAvgPool(y)
        try taps.emit("adaptive_avg_pool2d", y.reshaped([y.shape[0], y.shape[1], 1, 1]))
        try taps.emit("flatten", y)
        try taps.emit("classifier.0", y)
        try taps.emit("classifier.1", classifier(y))
    }
}
