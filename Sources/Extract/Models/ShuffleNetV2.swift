// ShuffleNet V2 (Ma et al. 2018, "Practical Guidelines for Efficient CNN Architecture Design"), following
// torchvision.models.shufflenetv2: keys `stage3.0.branch2.3.weight`, channel split, concat and shuffle (2 groups).

struct ShuffleNetV2: Network {
    static let repeats = [4, 8, 4]

    /// stages_out_channels of shufflenet_v2_x0_5 and _x1_0: conv1, stage2..4, conv5.
    static func channels(_ a: Architecture) -> [Int] {
        a == .shufflenet_v2_x0_5 ? [24, 48, 96, 192, 1024] : [24, 116, 232, 464, 1024]
    }

    /// InvertedResidual. Stride 2: both branches see the input; branch1 = depthwise 3x3 (`.0`, BN `.1`),
    /// 1x1 (`.2`, BN `.3`), ReLU `.4`. Stride 1: the first half of the channels passes through.
    /// branch2 = 1x1 (`.0`/`.1`), ReLU `.2`, depthwise 3x3 (`.3`/`.4`), 1x1 (`.5`/`.6`), ReLU `.7`.
    struct Block {
        let name: String
        let branch1: (depthwise: Conv2d, pointwise: Conv2d)?
        let branch2: (first: Conv2d, depthwise: Conv2d, last: Conv2d)

        init(_ r: WeightReader, in c: Int, out: Int, stride: Int) throws {
            name = r.prefix
            let k = out / 2
            if stride > 1 {
                let b = r.scope("branch1")
                branch1 = (try convBN(b.scope(0), b.scope(1), in: c, out: c, kernel: 3, stride: stride, padding: .fixed(1), groups: c),
                           try convBN(b.scope(2), b.scope(3), in: c, out: k, kernel: 1))
            } else {
                branch1 = nil
            }
            let b = r.scope("branch2")
            branch2 = (try convBN(b.scope(0), b.scope(1), in: stride > 1 ? c : k, out: k, kernel: 1),
                       try convBN(b.scope(3), b.scope(4), in: k, out: k, kernel: 3, stride: stride, padding: .fixed(1), groups: k),
                       try convBN(b.scope(5), b.scope(6), in: k, out: k, kernel: 1))
        }

        func forward(_ x: Tensor, _ taps: Taps) throws -> Tensor {
            let left: Tensor, right: Tensor
            if let (depthwise, pointwise) = branch1 {
                var y = try taps.conv(depthwise, x)
                y = try taps.conv(pointwise, y, activation: .relu, then: "\(name).branch1.4")
                try taps.emit("\(name).branch1", y)
                (left, right) = (y, x)
            } else {
                let half = x.shape[1] / 2  // x.chunk(2, dim=1)
                (left, right) = (sliceChannels(x, 0..<half), sliceChannels(x, half..<x.shape[1]))
            }
            var y = try taps.conv(branch2.first, right, activation: .relu, then: "\(name).branch2.2")
            y = try taps.conv(branch2.depthwise, y)
            y = try taps.conv(branch2.last, y, activation: .relu, then: "\(name).branch2.7")
            try taps.emit("\(name).branch2", y)
            return channelShuffle(concatChannels([left, y]), groups: 2)
        }
    }

    let conv1: ConvNormActivation
    let stages: [[Block]]
    let conv5: ConvNormActivation
    let fc: Linear

    init(_ r: WeightReader, _ a: Architecture) throws {
        let ch = Self.channels(a)
        conv1 = try ConvNormActivation(r.scope("conv1"), in: 3, out: ch[0], kernel: 3, stride: 2, activation: .relu)
        var c = ch[0]
        stages = try Self.repeats.enumerated().map { s, n in
            let stage = r.scope("stage\(s + 2)"), out = ch[s + 1]
            return try (0..<n).map { i in
                defer { c = out }
                return try Block(stage.scope(i), in: i == 0 ? c : out, out: out, stride: i == 0 ? 2 : 1)
            }
        }
        conv5 = try ConvNormActivation(r.scope("conv5"), in: c, out: ch[4], kernel: 1, activation: .relu)
        fc = try Linear(head: r.scope("fc"), in: ch[4])
    }

    func forward(_ x: Tensor, _ taps: Taps) throws {
        var y = try conv1(x, taps)
        y = maxPool2d(y, kernel: 3, stride: 2, padding: 1)
        try taps.emit("maxpool", y)
        for (s, stage) in stages.enumerated() {
            for (i, block) in stage.enumerated() {
                y = try block.forward(y, taps)
                try taps.emit("stage\(s + 2).\(i)", y)
            }
            try taps.emit("stage\(s + 2)", y)
        }
        y = try conv5(y, taps)
        y = globalAvgPool(y)  // x.mean([2, 3])
        try taps.emit("mean", y)
        try taps.emit("fc", fc(y))
    }
}
