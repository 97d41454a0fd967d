// ResNet (He et al. 2015) with torchvision's V1.5 bottleneck (stride on the 3x3 conv), following
// torchvision.models.resnet: `layer1.0.conv1` etc. are the checkpoint keys and the tap names.

struct ResNet: Network {
    struct Block {
        let convs: [Conv2d]          // BatchNorm folded: conv1/bn1, conv2/bn2[, conv3/bn3]
        let downsample: Conv2d?      // downsample.0 with downsample.1 folded

        /// BasicBlock (ResNet-18/34) or Bottleneck (50/101/152) of torchvision.
        init(_ r: WeightReader, in c: Int, planes: Int, stride: Int, bottleneck: Bool) throws {
            let out = bottleneck ? planes * 4 : planes
            if bottleneck {
                convs = [
                    try convBN(r.scope("conv1"), r.scope("bn1"), in: c, out: planes, kernel: 1),
                    try convBN(r.scope("conv2"), r.scope("bn2"), in: planes, out: planes, kernel: 3, stride: stride, padding: .fixed(1)),
                    try convBN(r.scope("conv3"), r.scope("bn3"), in: planes, out: out, kernel: 1),
                ]
            } else {
                convs = [
                    try convBN(r.scope("conv1"), r.scope("bn1"), in: c, out: planes, kernel: 3, stride: stride, padding: .fixed(1)),
                    try convBN(r.scope("conv2"), r.scope("bn2"), in: planes, out: planes, kernel: 3, padding: .fixed(1)),
                ]
            }
            downsample = stride != 1 || c != out
                ? try convBN(r.scope("downsample").scope(0), r.scope("downsample").scope(1), in: c, out: out, kernel: 1, stride: stride)
                : nil
        }

        func forward(_ x: Tensor, name: String, _ taps: Taps) throws -> Tensor {
            var y = x
            for (i, conv) in convs.dropLast().enumerated() {
                let relu = i == 0 ? "relu" : "relu_\(i)"
                y = try taps.conv(conv, y, activation: .relu, then: "\(name).\(relu)")
            }
            y = try taps.conv(convs[convs.count - 1], y)
            let identity = try downsample.map { try taps.conv($0, x) } ?? x
            add(into: &y, identity, activation: .relu)
            return y
        }
    }

    let stem: Conv2d
    let stages: [[Block]]
    let fc: Linear

    static func blocks(_ a: Architecture) -> (counts: [Int], bottleneck: Bool) {
        switch a {
        case .resnet18: return ([2, 2, 2, 2], false)
        case .resnet34: return ([3, 4, 6, 3], false)
        case .resnet50: return ([3, 4, 6, 3], true)
        case .resnet101: return ([3, 4, 23, 3], true)
        default: return ([3, 8, 36, 3], true)
        }
    }

    init(_ r: WeightReader, _ a: Architecture) throws {
        let (counts, bottleneck) = ResNet.blocks(a)
        stem = try convBN(r.scope("conv1"), r.scope("bn1"), in: 3, out: 64, kernel: 7, stride: 2, padding: .fixed(3))
        var c = 64
        stages = try counts.enumerated().map { s, count in
            let planes = 64 << s
            let layer = r.scope("layer\(s + 1)")
            return try (0..<count).map { b in
                let block = try Block(layer.scope(b), in: c, planes: planes, stride: (b == 0 && s > 0) ? 2 : 1, bottleneck: bottleneck)
                c = bottleneck ? planes * 4 : planes
                return block
            }
        }
        fc = try Linear(head: r.scope("fc"), in: c)
    }

    func forward(_ x: Tensor, _ taps: Taps) throws {
        var y = try taps.conv(stem, x, activation: .relu, then: "relu")
        y = maxPool2d(y, kernel: 3, stride: 2, padding: 1)
        try taps.emit("maxpool", y)
        for (s, stage) in stages.enumerated() {
            for (b, block) in stage.enumerated() {
                y = try block.forward(y, name: "layer\(s + 1).\(b)", taps)
                try taps.emit("layer\(s + 1).\(b)", y)
            }
            try taps.emit("layer\(s + 1)", y)
        }
        y = globalAvgPool(y)
        try taps.emit("avgpool", y.reshaped([y.shape[0], y.shape[1], 1, 1]))
        try taps.emit("flatten", y)
        try taps.emit("fc", fc(y))
    }
}
