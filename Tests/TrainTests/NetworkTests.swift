// The trainable networks against Extract's inference models on the same weights (a consistency
// check beside the independent references), freezing, and strict loading.
import XCTest
import Extract
@testable import Train

final class NetworkTests: XCTestCase {
    /// Pseudo-random input in [-1, 1).
    static func input(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float(rng.uniform() * 2 - 1) })
    }

    static func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0
    }

    /// In evaluation mode a trainable network computes what the inference model (BatchNorm folded) does.
    func testEvalModeMatchesInferenceModel() throws {
        for (arch, size) in [(Architecture.resnet18, 64), (.resnet50, 64), (.efficientnet_lite0, 64)] {
            let net = try TrainableNetwork(random: arch, classes: 10, seed: 3)
            let model = try Model(arch, weights: StateDict(net.namedState))
            let x = Self.input([2, 3, size, size], seed: 5)
            let ours = try net.forward(x, training: false)
            let theirs = try XCTUnwrap(model.run(x, layers: [arch.family == .efficientnetLite ? "_fc" : "fc"]).values.first)
            XCTAssertEqual(ours.shape, [2, 10])
            let scale = theirs.data.map(abs).max() ?? 1
            let d = Self.maxDiff(ours, theirs)
            XCTAssertLessThan(d, 1e-4 * max(scale, 1), "\(arch): max |difference| \(d) (logits up to \(scale))")
        }
    }

    /// A few SGD steps on one fixed batch drive its loss down, for every family (frozen up to a tap).
    func testSGDStepsLowerTheLossOnAFixedBatch() throws {
        for (arch, freeze, size) in [(Architecture.resnet18, "layer2", 64), (.efficientnet_lite0, "stage4", 64)] {
            let net = try TrainableNetwork(random: arch, classes: 3, freezeUntil: freeze, seed: 1)
            let x = Self.input([4, 3, size, size], seed: 9)
            let labels = [0, 1, 2, 1]
            let sgd = SGD(momentum: 0.9, weightDecay: 1e-4)
            var losses: [Double] = []
            for _ in 0..<6 {
                net.zeroGrad()
                let (loss, grad, _) = crossEntropy(try net.forward(x, training: true), labels: labels)
                losses.append(loss)
                try net.backward(grad)
                sgd.step(net.parameters) { $0.isHead ? 0.01 : 0.001 }
            }
            XCTAssertLessThan(losses.last ?? .infinity, losses[0], "\(arch) frozen up to \(freeze): losses \(losses)")
        }
    }
}
