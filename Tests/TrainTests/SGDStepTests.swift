// Two SGD steps of a small ResNet-like network with BatchNorm, built from the engine's ResNet
// blocks, against the hand-written numpy float64 reference Golden/make_sgd_step.py.
import XCTest
import Extract
@testable import Train

final class SGDStepTests: XCTestCase {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden/sgd_step.safetensors").path

    /// The golden file's tensors under `prefix.`, with the prefix removed.
    static func scope(_ dict: StateDict, _ prefix: String) -> StateDict {
        StateDict(dict.keys.filter { $0.hasPrefix(prefix + ".") }.compactMap { k in
            dict[k].map { (String(k.dropFirst(prefix.count + 1)), $0) }
        })
    }

    func testTwoStepsMatchNumpyWithin1e4() throws {
        let golden = try StateDict.load(path: Self.golden)
        let r = WeightReader(Self.scope(golden, "initial"))
        let units = [
            Unit(tap: "relu", module: Chain([try Convolution(r.scope("conv1"), in: 3, out: 4, kernel: 3, padding: .fixed(1)),
                                             try BatchNormalization(r.scope("bn1"), channels: 4, eps: 1e-5, momentum: 0.1),
                                             Activate(.relu)])),
            Unit(tap: "maxpool", module: MaxPool(kernel: 3, stride: 2, padding: 1)),
            Unit(tap: "layer1.0", module: try TrainableResNet.block(r.scope("layer1").scope(0), in: 4, planes: 6, stride: 2,
                                                                    bottleneck: false)),
            Unit(tap: "avgpool", module: GlobalAvgPool()),
            Unit(tap: "fc", module: try FullyConnected(r.scope("fc"), in: 6, out: 3)),
        ]
        try r.finish()
        let net = TrainableNetwork(.resnet18, units: units, classes: 3)
        let sgd = SGD(momentum: 0.9, weightDecay: 0.01)
        let expectedLoss = try XCTUnwrap(golden["loss"]).data
        for step in 0..<2 {
            let x = try XCTUnwrap(golden["step\(step).input"])
            let labels = try XCTUnwrap(golden["step\(step).labels"]).data.map { Int($0) }
            net.zeroGrad()
            let (loss, grad, _) = crossEntropy(try net.forward(x, training: true), labels: labels)
            XCTAssertEqual(loss, Double(expectedLoss[step]), accuracy: 1e-4, "loss of step \(step)")
            try net.backward(grad)
            sgd.step(net.parameters) { $0.name.hasPrefix("fc.") ? 0.5 : 0.05 }
        }

        let expected = Self.scope(golden, "expected")
        let ours = net.stateDict()
        XCTAssertEqual(Set(ours.keys), Set(expected.keys), "state-dict keys")
        var worst = (key: "", diff: Float(0))
        for key in expected.keys {
            let e = try XCTUnwrap(expected[key]), o = try XCTUnwrap(ours[key], key)
            XCTAssertEqual(o.shape, e.shape, key)
            let d = zip(o.data, e.data).map { abs($0 - $1) }.max() ?? 0
            if d > worst.diff { worst = (key, d) }
            XCTAssertLessThanOrEqual(d, 1e-4, "\(key) after two steps: max |difference| \(d)")
        }
        let momentum = Self.scope(golden, "momentum")
        for key in momentum.keys {
            let e = try XCTUnwrap(momentum[key]), o = try XCTUnwrap(sgd.state[key], "momentum buffer of \(key)")
            let d = zip(o.data, e.data).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(d, 1e-4, "momentum buffer of \(key): max |difference| \(d)")
        }
        print("SGD step vs numpy: largest |difference| \(worst.diff) at \(worst.key)")
    }
}
