// EfficientNet-Lite0 (Tan & Le 2019; TF's efficientnet/lite builder: ReLU6, no squeeze-excite,
// fixed stem and head), following the PyPI package efficientnet-lite-pytorch: its keys
// (`_blocks.3._depthwise_conv.weight`), TF "same" padding, BatchNorm eps 1e-3.

struct EfficientNetLite: Network {
    struct Stage { let repeats, kernel, stride, expand, input, output: Int }

    /// efficientnet_lite_builder.py's block strings r1_k3_s11_e1_i32_o16 ... r1_k3_s11_e6_i192_o320.
    static let stages = [
        Stage(repeats: 1, kernel: 3, stride: 1, expand: 1, input: 32, output: 16),
        Stage(repeats: 2, kernel: 3, stride: 2, expand: 6, input: 16, output: 24),
        Stage(repeats: 2, kernel: 5, stride: 2, expand: 6, input: 24, output: 40),
        Stage(repeats: 3, kernel: 3, stride: 2, expand: 6, input: 40, output: 80),
        Stage(repeats: 3, kernel: 5, stride: 1, expand: 6, input: 80, output: 112),
        Stage(repeats: 4, kernel: 5, stride: 2, expand: 6, input: 112, output: 192),
        Stage(repeats: 1, kernel: 3, stride: 1, expand: 6, input: 192, output: 320),
    ]
    static let eps = 1e-3

    struct Block {
        let expand: Conv2d?, depthwise: Conv2d, project: Conv2d
        let residual: Bool

        init(_ r: WeightReader, in c: Int, out: Int, kernel: Int, stride: Int, expandRatio: Int) throws {
            let e = c * expandRatio
            let eps = EfficientNetLite.eps
            expand = expandRatio == 1 ? nil
                : try convBN(r.scope("_expand_conv"), r.scope("_bn0"), in: c, out: e, kernel: 1, padding: .same, eps: eps)
            depthwise = try convBN(r.scope("_depthwise_conv"), r.scope("_bn1"), in: e, out: e, kernel: kernel, stride: stride,
                                   padding: .same, groups: e, eps: eps)
            project = try convBN(r.scope("_project_conv"), r.scope("_bn2"), in: e, out: out, kernel: 1, padding: .same, eps: eps)
            residual = stride == 1 && c == out
        }

        /// Emits each convolution's and BatchNorm's output (`_blocks.3._expand_conv`, `_blocks.3._bn0`, ...);
        /// the ReLU6 after them is one shared module (`_swish`) in the reference, so it has no tap of its own.
        func forward(_ x: Tensor, _ taps: Taps) throws -> Tensor {
            if let y = taps.fusedInvertedResidual(x, expand: expand, depthwise: depthwise, project: project,
                                                  activation: .relu6, residual: residual) {
                return y
            }
            var y = try expand.map { try taps.conv($0, x, activation: .relu6) } ?? x
            y = try taps.conv(depthwise, y, activation: .relu6)
            y = try taps.conv(project, y)
            if residual { add(into: &y, x) }
            return y
        }
    }

    let stem: Conv2d
    let blocks: [Block]
    let head: Conv2d
    let fc: Linear

    init(_ r: WeightReader) throws {
        stem = try convBN(r.scope("_conv_stem"), r.scope("_bn0"), in: 3, out: 32, kernel: 3, stride: 2, padding: .same, eps: Self.eps)
        var list: [Block] = []
        let br = r.scope("_blocks")
        for stage in Self.stages {
            for i in 0..<stage.repeats {
                list.append(try Block(br.scope(list.count), in: i == 0 ? stage.input : stage.output, out: stage.output,
                                      kernel: stage.kernel, stride: i == 0 ? stage.stride : 1, expandRatio: stage.expand))
            }
        }
        blocks = list
        head = try convBN(r.scope("_conv_head"), r.scope("_bn1"), in: 320, out: 1280, kernel: 1, padding: .same, eps: Self.eps)
        fc = try Linear(head: r.scope("_fc"), in: 1280)
    }

    func forward(_ x: Tensor, _ taps: Taps) throws {
        var y: Tensor
        var rest = blocks[...]
        // Where blocks are fused (batch 1), the stem runs as the first block's expansion (it has none).
        if let first = blocks.first, first.expand == nil, !first.residual,
           let fused = taps.fusedInvertedResidual(x, expand: stem, depthwise: first.depthwise, project: first.project,
                                                  activation: .relu6, residual: false, inner: ["stem"]) {
            y = fused
            try taps.emit("_blocks.0", y)
            rest = blocks.dropFirst()
        } else {
            y = try taps.conv(stem, x, activation: .relu6, then: "stem")
        }
        for (i, block) in zip(rest.indices, rest) {
            y = try block.forward(y, taps)
            try taps.emit("_blocks.\(i)", y)
        }
        y = try taps.conv(head, y, activation: .relu6, then: "head")
        y = globalAvgPool(y)
        try taps.emit("avgpool", y.reshaped([y.shape[0], y.shape[1], 1, 1]))
        try taps.emit("_fc", fc(y))
    }
}
