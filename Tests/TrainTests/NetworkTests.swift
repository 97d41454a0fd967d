// The trainable networks against Extract's inference models on the same weights (a consistency
// check beside the independent references), freezing, and strict loading.
import XCTest
import Extract
@testable import Train

final class NetworkTests: XCTestCase {
    /// Pseudo-random input in [-1, 1).
    static func input(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float(rng.unit() * 2 - 1) })
    }

    static func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0
    }

    /// In evaluation mode a trainable network computes what the inference model (BatchNorm folded) does.
    func testEvalModeMatchesInferenceModel() throws {
        for (arch, size) in [(Architecture.resnet18, 64), (.resnet50, 64), (.efficientnet_lite0, 64), (.vgg11, 32), (.alexnet, 64)] {
            let net = try TrainableNetwork(random: arch, classes: 10, seed: 3)
            let model = try Model(arch, weights: StateDict(net.namedState))
            let x = Self.input([2, 3, size, size], seed: 5)
            let ours = try net.forward(x, training: false)
            let head = arch.family == .efficientnetLite ? "_fc" : arch.family == .resnet ? "fc" : "classifier.6"
            let theirs = try XCTUnwrap(model.run(x, layers: [head]).values.first)
            XCTAssertEqual(ours.shape, [2, 10])
            let scale = theirs.data.map(abs).max() ?? 1
            let d = Self.maxDiff(ours, theirs)
            XCTAssertLessThan(d, 1e-4 * max(scale, 1), "\(arch): max |difference| \(d) (logits up to \(scale))")
        }
    }

    /// Loading is strict (a stray key is an error, the old head's keys excepted when the class count
    /// differs), a head of the right size is kept, and freeze points are checked.
    /// Per-stage learning rates group a top-level BatchNorm with the convolution it follows, as
    /// torchvision's module tree pairs them (ResNet `conv1`/`bn1`; EfficientNet-Lite stem and head).
    func testStemAndHeadBatchNormsShareTheirConvolutionsStage() throws {
        let resnet = try TrainableNetwork(random: .resnet18, classes: 3)
        let stages = Dictionary(uniqueKeysWithValues: resnet.parameters.map { ($0.name, $0.stage) })
        XCTAssertEqual(stages["conv1.weight"], "conv1")
        XCTAssertEqual(stages["bn1.weight"], "conv1")
        XCTAssertEqual(stages["bn1.bias"], "conv1")
        XCTAssertEqual(stages["layer1.0.bn1.weight"], "layer1")
        XCTAssertEqual(stages["fc.weight"], "fc")
        let effnet = try TrainableNetwork(random: .efficientnet_lite0, classes: 3)
        let e = Dictionary(uniqueKeysWithValues: effnet.parameters.map { ($0.name, $0.stage) })
        XCTAssertEqual(e["_bn0.weight"], "_conv_stem")
        XCTAssertEqual(e["_bn1.weight"], "_conv_head")
        XCTAssertEqual(e["_blocks.3._bn1.weight"], "_blocks.3")
    }

    func testLoadingAndFreezePoints() throws {
        let source = try TrainableNetwork(random: .resnet18, classes: 4, seed: 1)
        let weights = StateDict(source.namedState)
        let kept = try TrainableNetwork(.resnet18, weights: weights, classes: 4, freezeUntil: nil, seed: 9, keepHead: true)
        XCTAssertEqual(kept.stateDict()["fc.weight"], source.stateDict()["fc.weight"], "asked to, a head with the right class count is kept")
        let fresh = try TrainableNetwork(.resnet18, weights: weights, classes: 4, freezeUntil: nil, seed: 9)
        XCTAssertNotEqual(fresh.stateDict()["fc.weight"], source.stateDict()["fc.weight"],
                          "by default the head is new, even when the class count matches (re-tuning a tuned checkpoint)")
        let replaced = try TrainableNetwork(.resnet18, weights: weights, classes: 7, freezeUntil: nil, seed: 9)
        XCTAssertEqual(replaced.stateDict()["fc.weight"]?.shape, [7, 512])
        let bound = Float(1 / 512.0.squareRoot())
        XCTAssertTrue(replaced.stateDict()["fc.weight"]?.data.allSatisfy { abs($0) <= bound } ?? false, "torch's Linear init: |w| <= 1/sqrt(512)")
        XCTAssertThrowsError(try TrainableNetwork(.resnet18, weights: StateDict(source.namedState + [("extra.weight", Tensor(zeros: [1]))]),
                                                  classes: 4, freezeUntil: nil, seed: 0)) { error in
            XCTAssertTrue("\(error)".contains("extra.weight"), "\(error)")
        }
        XCTAssertThrowsError(try TrainableNetwork(.resnet18, weights: weights, classes: 4, freezeUntil: "layer9", seed: 0)) { error in
            XCTAssertTrue("\(error)".contains("layer2.1 (layer2)"), "the error lists the freeze points: \(error)")
        }
        XCTAssertThrowsError(try TrainableNetwork(.resnet18, weights: weights, classes: 4, freezeUntil: "fc", seed: 0))
        let frozen = try TrainableNetwork(.resnet18, weights: weights, classes: 4, freezeUntil: "pool1", seed: 0)
        XCTAssertEqual(frozen.frozenUntil, "maxpool", "Caffe's alias pool1")
        XCTAssertEqual(frozen.parameters.first?.name, "layer1.0.conv1.weight")
    }
}
