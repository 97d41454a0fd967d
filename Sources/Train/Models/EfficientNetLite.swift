// EfficientNet-Lite0 for training, following efficientnet-lite-pytorch: its keys, TF "same" padding,
// BatchNorm eps 1e-3 and momentum 0.01 (1 - TF's 0.99), dropout 0.2 before `_fc`, and drop-connect
// 0.2 * index / 16 on residual blocks; stages from Extract's EfficientNetLite.
import Extract

enum TrainableEfficientNetLite {
    static let momentum = 0.01, dropout = 0.2, dropConnect = 0.2

    static func units(_ r: WeightReader, seed: UInt64, head: HeadFactory) throws -> [Unit] {
        let eps = Architecture.efficientNetLiteEps
        func convBN(_ conv: WeightReader, _ bn: WeightReader, in c: Int, out o: Int, kernel k: Int, stride: Int = 1,
                    groups: Int = 1) throws -> [Module] {
            [try Convolution(conv, in: c, out: o, kernel: k, stride: stride, padding: .same, groups: groups),
             try BatchNormalization(bn, channels: o, eps: eps, momentum: momentum)]
        }
        var units = [Unit(tap: "stem", module: Chain(try convBN(r.scope("_conv_stem"), r.scope("_bn0"), in: 3, out: 32, kernel: 3,
                                                                 stride: 2) + [Activate(.relu6)]))]
        let stages = Architecture.efficientNetLiteStages
        let total = stages.reduce(0) { $0 + $1.repeats }
        var index = 0
        for (s, st) in stages.enumerated() {
            for i in 0..<st.repeats {
                let b = r.scope("_blocks").scope(index)
                let c = i == 0 ? st.input : st.output, stride = i == 0 ? st.stride : 1
                let e = c * st.expand
                var main: [Module] = []
                if st.expand != 1 {
                    main += try convBN(b.scope("_expand_conv"), b.scope("_bn0"), in: c, out: e, kernel: 1) + [Activate(.relu6)]
                }
                main += try convBN(b.scope("_depthwise_conv"), b.scope("_bn1"), in: e, out: e, kernel: st.kernel, stride: stride,
                                   groups: e) + [Activate(.relu6)]
                main += try convBN(b.scope("_project_conv"), b.scope("_bn2"), in: e, out: st.output, kernel: 1)
                let module: Module = stride == 1 && c == st.output
                    ? Residual(main: Chain(main), shortcut: nil, activation: .none,
                               dropConnect: dropConnect * Double(index) / Double(total), seed: seed &+ UInt64(index) &* 7919)
                    : Chain(main)
                units.append(Unit(tap: "_blocks.\(index)", module: module,
                                  alias: i == st.repeats - 1 ? "stage\(s + 1)" : nil))
                index += 1
            }
        }
        units.append(Unit(tap: "head", module: Chain(try convBN(r.scope("_conv_head"), r.scope("_bn1"), in: 320, out: 1280, kernel: 1)
                                                      + [Activate(.relu6)])))
        units.append(Unit(tap: "avgpool", module: GlobalAvgPool()))
        units.append(Unit(tap: "_fc", module: Chain([Dropout(p: dropout, seed: seed &+ 104_729), try head.make(r.scope("_fc"), 1280)])))
        return units
    }
}
