// AlexNet (Krizhevsky et al. 2012, "One weird trick" single-tower variant), following
// torchvision.models.alexnet: its module indices are the checkpoint keys and the tap names.

struct AlexNet: Network {
    let convs: [Conv2d]
    let fc: [Linear]

    init(_ r: WeightReader) throws {
        let f = r.scope("features"), c = r.scope("classifier")
        convs = [
            try Conv2d(f.scope(0), in: 3, out: 64, kernel: 11, stride: 4, padding: .fixed(2)),
            try Conv2d(f.scope(3), in: 64, out: 192, kernel: 5, padding: .fixed(2)),
            try Conv2d(f.scope(6), in: 192, out: 384, kernel: 3, padding: .fixed(1)),
            try Conv2d(f.scope(8), in: 384, out: 256, kernel: 3, padding: .fixed(1)),
            try Conv2d(f.scope(10), in: 256, out: 256, kernel: 3, padding: .fixed(1)),
        ]
        fc = [
            try Linear(c.scope(1), in: 256 * 6 * 6, out: 4096),
            try Linear(c.scope(4), in: 4096, out: 4096),
            try Linear(head: c.scope(6), in: 4096),
        ]
    }

    func forward(_ x: Tensor, _ taps: Taps) throws {
        var y = x
        // features: conv-relu pairs at 0/1, 3/4, 6/7, 8/9, 10/11; max pools at 2, 5, 12.
        for (i, index) in [0, 3, 6, 8, 10].enumerated() {
            y = try taps.conv(convs[i], y, activation: .relu, then: "features.\(index + 1)")
            if [0, 3, 10].contains(index) {
                y = maxPool2d(y, kernel: 3, stride: 2)
                try taps.emit("features.\(index + 2)", y)
            }
        }
        y = adaptiveAvgPool2d(y, outputHeight: 6, outputWidth: 6)
        try taps.emit("avgpool", y)
        y = flatten(y)
        try taps.emit("flatten", y)
        try taps.emit("classifier.0", y)  // Dropout: identity at inference
        y = try taps.layer("classifier.1", then: "classifier.2", activation: .relu) { fc[0](y, activation: $0) }
        try taps.emit("classifier.3", y)
        y = try taps.layer("classifier.4", then: "classifier.5", activation: .relu) { fc[1](y, activation: $0) }
        y = fc[2](y)
        try taps.emit("classifier.6", y)
    }
}
