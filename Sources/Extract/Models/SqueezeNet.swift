// SqueezeNet 1.0 (Iandola et al. 2016) and 1.1 (DeepScale's SqueezeNet_v1.1), following
// torchvision.models.squeezenet: `features.<i>` indices, Fire modules, ceil-mode max pooling.

struct SqueezeNet: Network {
    enum Item { case pool, fire(squeeze: Int, expand: Int) }

    /// torchvision's `features` after conv (index 0) and ReLU (1): max pools and Fire modules from index 2,
    /// Fire(squeeze, expand) having expand1x1 = expand3x3 = `expand` channels.
    static func plan(_ a: Architecture) -> (stem: (out: Int, kernel: Int), items: [Item]) {
        if a == .squeezenet1_0 {
            return ((96, 7), [.pool, .fire(squeeze: 16, expand: 64), .fire(squeeze: 16, expand: 64), .fire(squeeze: 32, expand: 128),
                              .pool, .fire(squeeze: 32, expand: 128), .fire(squeeze: 48, expand: 192), .fire(squeeze: 48, expand: 192),
                              .fire(squeeze: 64, expand: 256), .pool, .fire(squeeze: 64, expand: 256)])
        }
        return ((64, 3), [.pool, .fire(squeeze: 16, expand: 64), .fire(squeeze: 16, expand: 64), .pool,
                          .fire(squeeze: 32, expand: 128), .fire(squeeze: 32, expand: 128), .pool, .fire(squeeze: 48, expand: 192),
                          .fire(squeeze: 48, expand: 192), .fire(squeeze: 64, expand: 256), .fire(squeeze: 64, expand: 256)])
    }

    /// Caffe's blob names (DeepScale's deploy.prototxt): conv1, pool1, fire2..fire9, conv10, pool10.
    static func aliases(_ a: Architecture) -> [String: String] {
        var result = ["conv1": "features.1", "conv10": "classifier.2", "pool10": "classifier.3"]
        var fire = 2
        for (i, item) in plan(a).items.enumerated() {
            switch item {
            case .pool:  // named after the layer before it: pool1, pool4, pool8 (1.0); pool1, pool3, pool5 (1.1)
                result["pool\(fire - 1)"] = "features.\(i + 2)"
            case .fire:
                result["fire\(fire)"] = "features.\(i + 2)"
                fire += 1
            }
        }
        return result
    }

    struct Fire {
        let name: String
        let squeeze, expand1x1, expand3x3: Conv2d

        init(_ r: WeightReader, in c: Int, squeeze s: Int, expand e: Int) throws {
            name = r.prefix
            squeeze = try Conv2d(r.scope("squeeze"), in: c, out: s, kernel: 1)
            expand1x1 = try Conv2d(r.scope("expand1x1"), in: s, out: e, kernel: 1)
            expand3x3 = try Conv2d(r.scope("expand3x3"), in: s, out: e, kernel: 3, padding: .fixed(1))
        }

        func forward(_ x: Tensor, _ taps: Taps) throws -> Tensor {
            let s = try taps.conv(squeeze, x, activation: .relu, then: "\(name).squeeze_activation")
            let a = try taps.conv(expand1x1, s, activation: .relu, then: "\(name).expand1x1_activation")
            let b = try taps.conv(expand3x3, s, activation: .relu, then: "\(name).expand3x3_activation")
            return concatChannels([a, b])
        }
    }

    let conv1: Conv2d
    let items: [Item]
    let fires: [Int: Fire]
    let conv10: Conv2d

    init(_ r: WeightReader, _ a: Architecture) throws {
        let (stem, items) = Self.plan(a)
        let f = r.scope("features")
        conv1 = try Conv2d(f.scope(0), in: 3, out: stem.out, kernel: stem.kernel, stride: 2)
        var c = stem.out, fires: [Int: Fire] = [:]
        for (i, item) in items.enumerated() {
            if case let .fire(s, e) = item {
                fires[i + 2] = try Fire(f.scope(i + 2), in: c, squeeze: s, expand: e)
                c = 2 * e
            }
        }
        self.items = items
        self.fires = fires
        let head = r.scope("classifier").scope(1)
        conv10 = try Conv2d(head, in: c, out: head.shape(of: "weight")?.first ?? 1000, kernel: 1)
    }

    func forward(_ x: Tensor, _ taps: Taps) throws {
        var y = try taps.conv(conv1, x, activation: .relu, then: "features.1")
        for (i, item) in items.enumerated() {
            if let fire = fires[i + 2] {
                y = try fire.forward(y, taps)
            } else {
                y = maxPool2d(y, kernel: 3, stride: 2, ceilMode: true)
            }
            try taps.emit("features.\(i + 2)", y)
        }
        try taps.emit("features", y)
        try taps.emit("classifier.0", y)  // Dropout: identity at inference
        y = try taps.conv(conv10, y, activation: .relu, then: "classifier.2")
        y = globalAvgPool(y)
        try taps.emit("classifier.3", y.reshaped([y.shape[0], y.shape[1], 1, 1]))
        try taps.emit("classifier", y.reshaped([y.shape[0], y.shape[1], 1, 1]))
        try taps.emit("flatten", y)
    }
}
