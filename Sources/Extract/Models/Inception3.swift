// Inception v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture"; TF-ported weights), following
// torchvision.models.inception: keys `Mixed_6b.branch7x7_2.conv.weight`, 1x7 and 7x1 kernels, 299x299 input.

struct Inception3: Network {
    /// One step of a branch: a BasicConv2d; a 3x3 pool (average stride 1 pad 1, counting the padding
    /// as torch's F.avg_pool2d does; or max stride 2); or InceptionE's pair of convolutions on the same
    /// input, concatenated.
    enum Step { case conv(BasicConv2d), avgPool, maxPool, pair(BasicConv2d, BasicConv2d) }

    /// InceptionA..E: branches run on the block's input and are concatenated (torch.cat(outputs, 1)).
    struct Block {
        let name: String
        let branches: [[Step]]

        func forward(_ x: Tensor, _ taps: Taps) throws -> Tensor {
            let outputs = try branches.map { steps in
                try steps.reduce(x) { y, step in
                    switch step {
                    case .conv(let conv): return try conv(y, taps)
                    case .pair(let a, let b): return concatChannels([try a(y, taps), try b(y, taps)])
                    case .avgPool:
                        let z = avgPool2d(y, kernel: 3, stride: 1, padding: 1)
                        try taps.emit("\(name).avg_pool2d", z)
                        return z
                    case .maxPool:
                        let z = maxPool2d(y, kernel: 3, stride: 2)
                        try taps.emit("\(name).max_pool2d", z)
                        return z
                    }
                }
            }
            return concatChannels(outputs)
        }
    }

    /// The blocks of Inception3.__init__ with their input channels, and what each makes of them.
    static func block(_ r: WeightReader, _ kind: Character, in c: Int, _ arg: Int = 0) throws -> (Block, Int) {
        func bc(_ n: String, _ i: Int, _ o: Int, _ k: (Int, Int), stride: Int = 1, pad: (Int, Int) = (0, 0)) throws -> BasicConv2d {
            try BasicConv2d(r.scope(n), in: i, out: o, kernel: k, stride: stride, padding: .pair(pad.0, pad.1))
        }
        func conv(_ n: String, _ i: Int, _ o: Int, _ k: (Int, Int), stride: Int = 1, pad: (Int, Int) = (0, 0)) throws -> Step {
            .conv(try bc(n, i, o, k, stride: stride, pad: pad))
        }
        let one = (1, 1), three = (3, 3), row = (1, 7), column = (7, 1)
        switch kind {
        case "A":  // InceptionA(in, pool_features)
            return (Block(name: r.prefix, branches: [
                [try conv("branch1x1", c, 64, one)],
                [try conv("branch5x5_1", c, 48, one), try conv("branch5x5_2", 48, 64, (5, 5), pad: (2, 2))],
                [try conv("branch3x3dbl_1", c, 64, one), try conv("branch3x3dbl_2", 64, 96, three, pad: (1, 1)),
                 try conv("branch3x3dbl_3", 96, 96, three, pad: (1, 1))],
                [.avgPool, try conv("branch_pool", c, arg, one)],
            ]), 224 + arg)
        case "B":
            return (Block(name: r.prefix, branches: [
                [try conv("branch3x3", c, 384, three, stride: 2)],
                [try conv("branch3x3dbl_1", c, 64, one), try conv("branch3x3dbl_2", 64, 96, three, pad: (1, 1)),
                 try conv("branch3x3dbl_3", 96, 96, three, stride: 2)],
                [.maxPool],
            ]), 480 + c)
        case "C":  // InceptionC(in, channels_7x7)
            return (Block(name: r.prefix, branches: [
                [try conv("branch1x1", c, 192, one)],
                [try conv("branch7x7_1", c, arg, one), try conv("branch7x7_2", arg, arg, row, pad: (0, 3)),
                 try conv("branch7x7_3", arg, 192, column, pad: (3, 0))],
                [try conv("branch7x7dbl_1", c, arg, one), try conv("branch7x7dbl_2", arg, arg, column, pad: (3, 0)),
                 try conv("branch7x7dbl_3", arg, arg, row, pad: (0, 3)), try conv("branch7x7dbl_4", arg, arg, column, pad: (3, 0)),
                 try conv("branch7x7dbl_5", arg, 192, row, pad: (0, 3))],
                [.avgPool, try conv("branch_pool", c, 192, one)],
            ]), 768)
        case "D":
            return (Block(name: r.prefix, branches: [
                [try conv("branch3x3_1", c, 192, one), try conv("branch3x3_2", 192, 320, three, stride: 2)],
                [try conv("branch7x7x3_1", c, 192, one), try conv("branch7x7x3_2", 192, 192, row, pad: (0, 3)),
                 try conv("branch7x7x3_3", 192, 192, column, pad: (3, 0)), try conv("branch7x7x3_4", 192, 192, three, stride: 2)],
                [.maxPool],
            ]), 512 + c)
        default:  // InceptionE
            return (Block(name: r.prefix, branches: [
                [try conv("branch1x1", c, 320, one)],
                [try conv("branch3x3_1", c, 384, one),
                 .pair(try bc("branch3x3_2a", 384, 384, (1, 3), pad: (0, 1)), try bc("branch3x3_2b", 384, 384, (3, 1), pad: (1, 0)))],
                [try conv("branch3x3dbl_1", c, 448, one), try conv("branch3x3dbl_2", 448, 384, three, pad: (1, 1)),
                 .pair(try bc("branch3x3dbl_3a", 384, 384, (1, 3), pad: (0, 1)), try bc("branch3x3dbl_3b", 384, 384, (3, 1), pad: (1, 0)))],
                [.avgPool, try conv("branch_pool", c, 192, one)],
            ]), 2048)
        }
    }

    static let blocks: [(name: String, kind: Character, arg: Int)] = [
        ("Mixed_5b", "A", 32), ("Mixed_5c", "A", 64), ("Mixed_5d", "A", 64), ("Mixed_6a", "B", 0), ("Mixed_6b", "C", 128),
        ("Mixed_6c", "C", 160), ("Mixed_6d", "C", 160), ("Mixed_6e", "C", 192), ("Mixed_7a", "D", 0), ("Mixed_7b", "E", 0),
        ("Mixed_7c", "E", 0),
    ]

    let stem: [BasicConv2d]
    let mixed: [Block]
    let fc: Linear

    init(_ r: WeightReader) throws {
        stem = [
            try BasicConv2d(r.scope("Conv2d_1a_3x3"), in: 3, out: 32, kernel: 3, stride: 2),
            try BasicConv2d(r.scope("Conv2d_2a_3x3"), in: 32, out: 32, kernel: 3),
            try BasicConv2d(r.scope("Conv2d_2b_3x3"), in: 32, out: 64, kernel: 3, padding: 1),
            try BasicConv2d(r.scope("Conv2d_3b_1x1"), in: 64, out: 80, kernel: 1),
            try BasicConv2d(r.scope("Conv2d_4a_3x3"), in: 80, out: 192, kernel: 3),
        ]
        var c = 192
        mixed = try Self.blocks.map { b in
            let (block, out) = try Self.block(r.scope(b.name), b.kind, in: c, b.arg)
            c = out
            return block
        }
        fc = try Linear(head: r.scope("fc"), in: 2048)
    }

    func forward(_ x: Tensor, _ taps: Taps) throws {
        var y = transformInput(x)
        for (i, conv) in stem.enumerated() {
            y = try conv(y, taps)
            if i == 2 || i == 4 {  // maxpool1 after Conv2d_2b_3x3, maxpool2 after Conv2d_4a_3x3
                y = maxPool2d(y, kernel: 3, stride: 2)
                try taps.emit(i == 2 ? "maxpool1" : "maxpool2", y)
            }
        }
        for block in mixed {
            y = try block.forward(y, taps)
            try taps.emit(block.name, y)
        }
        y = globalAvgPool(y)
        try taps.emit("avgpool", y.reshaped([y.shape[0], y.shape[1], 1, 1]))
        try taps.emit("dropout", y.reshaped([y.shape[0], y.shape[1], 1, 1]))
        try taps.emit("flatten", y)
        try taps.emit("fc", fc(y))
    }
}
