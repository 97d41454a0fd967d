// VGG (Simonyan & Zisserman 2014), configurations A, B, D, E with and without BatchNorm,
// following torchvision.models.vgg: `features.<i>` / `classifier.<i>` module indices are the keys.

struct VGG: Network {
    enum Item { case conv(Int), pool }

    /// torchvision's cfgs "A", "B", "D", "E"; 0 stands for "M" (max pool).
    static func config(_ a: Architecture) -> [Item] {
        let raw: [Int]
        switch a {
        case .vgg11, .vgg11_bn: raw = [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0]
        case .vgg13, .vgg13_bn: raw = [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0]
        case .vgg16, .vgg16_bn: raw = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]
        default: raw = [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0]
        }
        return raw.map { $0 == 0 ? .pool : .conv($0) }
    }

    static func batchNorm(_ a: Architecture) -> Bool { a.rawValue.hasSuffix("_bn") }

    /// Walks the config as torchvision's make_layers numbers modules: conv, [bn], relu, ..., pool.
    static func modules(_ cfg: [Item], batchNorm: Bool) -> [(item: Item, index: Int)] {
        var index = 0
        return cfg.map { item in
            defer {
                if case .conv = item { index += batchNorm ? 3 : 2 } else { index += 1 }
            }
            return (item, index)
        }
    }

    /// Caffe's names: conv<b>_<j> (after ReLU), conv<b> = the block's last conv, pool<b>, fc6..fc8.
    static func aliases(config: [Item], batchNorm: Bool) -> [String: String] {
        var a = ["fc6": "classifier.1", "fc7": "classifier.4", "fc8": "classifier.6"]
        var block = 1, j = 1
        for (item, index) in modules(config, batchNorm: batchNorm) {
            switch item {
            case .conv:
                let relu = "features.\(index + (batchNorm ? 2 : 1))"
                a["conv\(block)_\(j)"] = relu
                a["conv\(block)"] = relu
                j += 1
            case .pool:
                a["pool\(block)"] = "features.\(index)"
                block += 1
                j = 1
            }
        }
        return a
    }

    let layers: [(conv: Conv2d?, index: Int)]
    let batchNorm: Bool
    let fc: [Linear]

    init(_ r: WeightReader, config: [Item], batchNorm: Bool) throws {
        let f = r.scope("features")
        var c = 3
        layers = try VGG.modules(config, batchNorm: batchNorm).map { item, index in
            guard case .conv(let o) = item else { return (nil, index) }
            defer { c = o }
            // torchvision's make_layers gives every conv a bias, BatchNorm or not.
            let conv = batchNorm
                ? try convBN(f.scope(index), f.scope(index + 1), in: c, out: o, kernel: 3, padding: .fixed(1), bias: true)
                : try Conv2d(f.scope(index), in: c, out: o, kernel: 3, padding: .fixed(1))
            return (conv, index)
        }
        self.batchNorm = batchNorm
        let cl = r.scope("classifier")
        fc = [
            try Linear(cl.scope(0), in: 512 * 7 * 7, out: 4096),
            try Linear(cl.scope(3), in: 4096, out: 4096),
            try Linear(head: cl.scope(6), in: 4096),
        ]
    }

    func forward(_ x: Tensor, _ taps: Taps) throws {
        var y = x
        for (conv, index) in layers {
            guard let conv else {
                y = maxPool2d(y, kernel: 2, stride: 2)
                try taps.emit("features.\(index)", y)
                continue
            }
            y = try taps.conv(conv, y, activation: .relu, then: "features.\(index + (batchNorm ? 2 : 1))")
        }
        y = adaptiveAvgPool2d(y, outputHeight: 7, outputWidth: 7)
        try taps.emit("avgpool", y)
        y = flatten(y)
        try taps.emit("flatten", y)
        y = try taps.layer("classifier.0", then: "classifier.1", activation: .relu) { fc[0](y, activation: $0) }
        try taps.emit("classifier.2", y)  // Dropout: identity at inference
        y = try taps.layer("classifier.3", then: "classifier.4", activation: .relu) { fc[1](y, activation: $0) }
        try taps.emit("classifier.5", y)
        y = fc[2](y)
        try taps.emit("classifier.6", y)
    }
}
