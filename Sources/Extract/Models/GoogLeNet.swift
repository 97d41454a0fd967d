// GoogLeNet (Szegedy et al. 2014, "Going Deeper with Convolutions"; TF-ported weights), following
// torchvision.models.googlenet: keys `inception4a.branch2.1.conv.weight`, BatchNorm eps 1e-3, ceil-mode pools.

/// BasicConv2d of GoogLeNet and Inception v3: `conv` (no bias), `bn` (eps 0.001, folded), ReLU;
/// the module's output (after the ReLU) is the tap `<name>`.
struct BasicConv2d {
    let conv: Conv2d
    let name: String

    init(_ r: WeightReader, in c: Int, out o: Int, kernel k: (Int, Int), stride: Int = 1, padding: Conv2d.Padding = .fixed(0)) throws {
        conv = try convBN(r.scope("conv"), r.scope("bn"), in: c, out: o, kernel: k, stride: stride, padding: padding, eps: 1e-3)
        name = r.prefix
    }

    init(_ r: WeightReader, in c: Int, out o: Int, kernel k: Int, stride: Int = 1, padding: Int = 0) throws {
        try self.init(r, in: c, out: o, kernel: (k, k), stride: stride, padding: .fixed(padding))
    }

    var outChannels: Int { conv.outChannels }

    func callAsFunction(_ x: Tensor, _ taps: Taps) throws -> Tensor {
        try taps.conv(conv, x, activation: .relu, then: name)
    }
}

/// torchvision's `transform_input`, on whenever it loads the ImageNet weights (googlenet(weights=...),
/// inception_v3(weights=...)): input normalised with ImageNet's mean and std is re-normalised to
/// (x - 0.5) / 0.5 per channel, the preprocessing these TF-ported weights were trained with.
func transformInput(_ x: Tensor) -> Tensor {
    let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
    return affine(x, scale: std.map { $0 / 0.5 }, shift: mean.map { ($0 - 0.5) / 0.5 })
}

struct GoogLeNet: Network {
    /// Inception(in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj); branch3's "5x5" is 3x3 in
    /// torchvision (a known bug its weights were trained with, pytorch/vision#906).
    struct Inception {
        let name: String
        let branch1: BasicConv2d
        let branch2, branch3: (BasicConv2d, BasicConv2d)
        let branch4: BasicConv2d

        init(_ r: WeightReader, _ c: [Int]) throws {
            name = r.prefix
            branch1 = try BasicConv2d(r.scope("branch1"), in: c[0], out: c[1], kernel: 1)
            let b2 = r.scope("branch2"), b3 = r.scope("branch3")
            branch2 = (try BasicConv2d(b2.scope(0), in: c[0], out: c[2], kernel: 1),
                       try BasicConv2d(b2.scope(1), in: c[2], out: c[3], kernel: 3, padding: 1))
            branch3 = (try BasicConv2d(b3.scope(0), in: c[0], out: c[4], kernel: 1),
                       try BasicConv2d(b3.scope(1), in: c[4], out: c[5], kernel: 3, padding: 1))
            branch4 = try BasicConv2d(r.scope("branch4").scope(1), in: c[0], out: c[6], kernel: 1)
        }

        var outChannels: Int { branch1.outChannels + branch2.1.outChannels + branch3.1.outChannels + branch4.outChannels }

        func forward(_ x: Tensor, _ taps: Taps) throws -> Tensor {
            let a = try branch1(x, taps)
            let b = try branch2.1(try branch2.0(x, taps), taps)
            try taps.emit("\(name).branch2", b)
            let c = try branch3.1(try branch3.0(x, taps), taps)
            try taps.emit("\(name).branch3", c)
            let pooled = maxPool2d(x, kernel: 3, stride: 1, padding: 1, ceilMode: true)
            try taps.emit("\(name).branch4.0", pooled)
            let d = try branch4(pooled, taps)
            try taps.emit("\(name).branch4", d)
            return concatChannels([a, b, c, d])
        }
    }

    static let inceptions: [(name: String, channels: [Int])] = [
        ("inception3a", [192, 64, 96, 128, 16, 32, 32]), ("inception3b", [256, 128, 128, 192, 32, 96, 64]),
        ("inception4a", [480, 192, 96, 208, 16, 48, 64]), ("inception4b", [512, 160, 112, 224, 24, 64, 64]),
        ("inception4c", [512, 128, 128, 256, 24, 64, 64]), ("inception4d", [512, 112, 144, 288, 32, 64, 64]),
        ("inception4e", [528, 256, 160, 320, 32, 128, 128]), ("inception5a", [832, 256, 160, 320, 32, 128, 128]),
        ("inception5b", [832, 384, 192, 384, 48, 128, 128]),
    ]

    let conv1, conv2, conv3: BasicConv2d
    let inceptions: [Inception]
    let fc: Linear

    init(_ r: WeightReader) throws {
        conv1 = try BasicConv2d(r.scope("conv1"), in: 3, out: 64, kernel: 7, stride: 2, padding: 3)
        conv2 = try BasicConv2d(r.scope("conv2"), in: 64, out: 64, kernel: 1)
        conv3 = try BasicConv2d(r.scope("conv3"), in: 64, out: 192, kernel: 3, padding: 1)
        inceptions = try Self.inceptions.map { try Inception(r.scope($0.name), $0.channels) }
        fc = try Linear(head: r.scope("fc"), in: 1024)
    }

    func forward(_ x: Tensor, _ taps: Taps) throws {
        var y = try conv1(transformInput(x), taps)
        y = maxPool2d(y, kernel: 3, stride: 2, ceilMode: true)
        try taps.emit("maxpool1", y)
        y = try conv3(try conv2(y, taps), taps)
        y = maxPool2d(y, kernel: 3, stride: 2, ceilMode: true)
        try taps.emit("maxpool2", y)
        for block in inceptions {
            y = try block.forward(y, taps)
            try taps.emit(block.name, y)
            if block.name == "inception3b" || block.name == "inception4e" {
                let k = block.name == "inception3b" ? 3 : 2
                y = maxPool2d(y, kernel: k, stride: 2, ceilMode: true)
                try taps.emit(block.name == "inception3b" ? "maxpool3" : "maxpool4", y)
            }
        }
        y = globalAvgPool(y)
        try taps.emit("avgpool", y.reshaped([y.shape[0], y.shape[1], 1, 1]))
        try taps.emit("flatten", y)
        try taps.emit("dropout", y)
        try taps.emit("fc", fc(y))
    }
}
