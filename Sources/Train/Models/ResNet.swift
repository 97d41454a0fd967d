// ResNet (He et al. 2015) for training, following torchvision.models.resnet (V1.5 bottleneck,
// BatchNorm momentum 0.1, eps 1e-5): the same keys and block counts as Extract's ResNet.
import Extract

enum TrainableResNet {
    static let momentum = 0.1, eps = 1e-5

    static func convBN(_ r: WeightReader, _ conv: String, _ bn: String, in c: Int, out o: Int, kernel k: Int,
                       stride: Int = 1, padding: Int = 0) throws -> [Module] {
        [try Convolution(r.scope(conv), in: c, out: o, kernel: k, stride: stride, padding: .fixed(padding)),
         try BatchNormalization(r.scope(bn), channels: o, eps: eps, momentum: momentum)]
    }

    /// BasicBlock or Bottleneck: conv-bn-relu ... conv-bn, plus the shortcut, then ReLU.
    static func block(_ r: WeightReader, in c: Int, planes: Int, stride: Int, bottleneck: Bool) throws -> Residual {
        let out = bottleneck ? planes * 4 : planes
        let main: [Module]
        if bottleneck {
            main = try convBN(r, "conv1", "bn1", in: c, out: planes, kernel: 1) + [Activate(.relu)]
                + convBN(r, "conv2", "bn2", in: planes, out: planes, kernel: 3, stride: stride, padding: 1) + [Activate(.relu)]
                + convBN(r, "conv3", "bn3", in: planes, out: out, kernel: 1)
        } else {
            main = try convBN(r, "conv1", "bn1", in: c, out: planes, kernel: 3, stride: stride, padding: 1) + [Activate(.relu)]
                + convBN(r, "conv2", "bn2", in: planes, out: planes, kernel: 3, padding: 1)
        }
        let d = r.scope("downsample")
        let shortcut = stride != 1 || c != out
            ? Chain([try Convolution(d.scope(0), in: c, out: out, kernel: 1, stride: stride),
                     try BatchNormalization(d.scope(1), channels: out, eps: eps, momentum: momentum)])
            : nil
        return Residual(main: Chain(main), shortcut: shortcut, activation: .relu)
    }

    /// Units named by the tap that ends them: relu (stem), maxpool, layer1.0 ... layer4.N, avgpool, fc.
    static func units(_ r: WeightReader, _ a: Architecture, head: HeadFactory) throws -> [Unit] {
        let (counts, bottleneck) = a.resnetBlocks
        var units = [Unit(tap: "relu", module: Chain(try convBN(r, "conv1", "bn1", in: 3, out: 64, kernel: 7, stride: 2, padding: 3)
                                                      + [Activate(.relu)])),
                     Unit(tap: "maxpool", module: MaxPool(kernel: 3, stride: 2, padding: 1))]
        var c = 64
        for (s, count) in counts.enumerated() {
            let planes = 64 << s
            for b in 0..<count {
                let name = "layer\(s + 1).\(b)"
                units.append(Unit(tap: name, module: try block(r.scope(name), in: c, planes: planes,
                                                               stride: b == 0 && s > 0 ? 2 : 1, bottleneck: bottleneck),
                                  alias: b == count - 1 ? "layer\(s + 1)" : nil))
                c = bottleneck ? planes * 4 : planes
            }
        }
        units.append(Unit(tap: "avgpool", module: GlobalAvgPool()))
        units.append(Unit(tap: "fc", module: try head.make(r.scope("fc"), c)))
        return units
    }
}
