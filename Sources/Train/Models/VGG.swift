// AlexNet and VGG for training, following torchvision.models.alexnet / vgg: `features.<i>` and
// `classifier.<i>` keys, dropout 0.5 before the first two classifier layers; VGG's configs from Extract.
import Extract

enum TrainableVGG {
    static let dropout = 0.5

    /// features.<i> units ending at each ReLU and each max pool, then avgpool and the classifier.
    static func units(_ r: WeightReader, _ a: Architecture, seed: UInt64, head: HeadFactory) throws -> [Unit] {
        let f = r.scope("features")
        var units: [Unit] = []
        var c = 3, index = 0
        let bn = a.vggBatchNorm
        for item in a.vggConfig {
            guard let o = item else {
                units.append(Unit(tap: "features.\(index)", module: MaxPool(kernel: 2, stride: 2)))
                index += 1
                continue
            }
            var m: [Module] = [try Convolution(f.scope(index), in: c, out: o, kernel: 3, padding: .fixed(1), bias: true)]
            if bn { m.append(try BatchNormalization(f.scope(index + 1), channels: o, eps: 1e-5, momentum: 0.1)) }
            index += bn ? 2 : 1
            units.append(Unit(tap: "features.\(index)", module: Chain(m + [Activate(.relu)])))
            index += 1
            c = o
        }
        units.append(Unit(tap: "avgpool", module: AdaptiveAvgPool(7, 7)))
        units += try classifier(r.scope("classifier"), in: 512 * 7 * 7, dropoutFirst: false, seed: seed, head: head)
        return units
    }

    /// VGG: Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear (0..6);
    /// AlexNet: Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear (0..6).
    static func classifier(_ r: WeightReader, in i: Int, dropoutFirst: Bool, seed: UInt64, head: HeadFactory) throws -> [Unit] {
        let d0 = dropoutFirst ? 1 : 0
        var units: [Unit] = []
        if dropoutFirst { units.append(Unit(tap: "classifier.0", module: Dropout(p: dropout, seed: seed &+ 1))) }
        units.append(Unit(tap: "classifier.\(d0 + 1)", module: Chain([try FullyConnected(r.scope(d0), in: i, out: 4096), Activate(.relu)])))
        units.append(Unit(tap: "classifier.\(d0 + 2)", module: Dropout(p: dropout, seed: seed &+ 2)))
        units.append(Unit(tap: "classifier.\(d0 + 4)", module: Chain([try FullyConnected(r.scope(d0 + 3), in: 4096, out: 4096), Activate(.relu)])))
        if !dropoutFirst { units.append(Unit(tap: "classifier.5", module: Dropout(p: dropout, seed: seed &+ 3))) }
        units.append(Unit(tap: "classifier.6", module: try head.make(r.scope(6), 4096)))
        return units
    }

    static func alexnet(_ r: WeightReader, seed: UInt64, head: HeadFactory) throws -> [Unit] {
        let f = r.scope("features")
        // (index, in, out, kernel, stride, padding, max pool after)
        let convs = [(0, 3, 64, 11, 4, 2, true), (3, 64, 192, 5, 1, 2, true), (6, 192, 384, 3, 1, 1, false),
                     (8, 384, 256, 3, 1, 1, false), (10, 256, 256, 3, 1, 1, true)]
        var units: [Unit] = []
        for (index, c, o, k, s, p, pool) in convs {
            units.append(Unit(tap: "features.\(index + 1)", module: Chain([
                try Convolution(f.scope(index), in: c, out: o, kernel: k, stride: s, padding: .fixed(p), bias: true), Activate(.relu)])))
            if pool { units.append(Unit(tap: "features.\(index + 2)", module: MaxPool(kernel: 3, stride: 2))) }
        }
        units.append(Unit(tap: "avgpool", module: AdaptiveAvgPool(6, 6)))
        units += try classifier(r.scope("classifier"), in: 256 * 6 * 6, dropoutFirst: true, seed: seed, head: head)
        return units
    }
}
