// The real EfficientNet-Lite0 ImageNet weights (fetched by scripts/test) through the trainable
// network: evaluation mode equals the inference model, a frozen prefix stays bit-for-bit as loaded
// (weights and BatchNorm statistics), and SGD on two real photos lowers their loss.
import XCTest
import Extract
@testable import Train

final class RealWeightsTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func fixture(_ relative: String) throws -> String {
        let p = root.appendingPathComponent(relative).path
        guard FileManager.default.fileExists(atPath: p) else {
            XCTFail("missing \(relative): run scripts/test (it fetches assets)")
            throw XCTSkip("missing \(relative)")
        }
        return p
    }

    static func weights() throws -> StateDict {
        try StateDict.load(path: fixture(".cache/weights/efficientnet-lite0-57934424.pth"))
    }

    /// chelsea.png and coffee.png preprocessed as EfficientNet-Lite0's evaluation transform: [2, 3, 224, 224].
    static func photos() throws -> Tensor {
        let arch = Architecture.efficientnet_lite0
        let pre = Preprocessing(resize: arch.resizeSize, crop: arch.inputSize, mean: arch.mean, std: arch.std)
        var data: [Float] = []
        for photo in ["chelsea.png", "coffee.png"] {
            data += pre.apply(try ImageDecoder.decode(path: fixture(".cache/photos/\(photo)")))
        }
        return Tensor(shape: [2, 3, 224, 224], data: data)
    }

    func testEvalModeMatchesTheInferenceModel() throws {
        let weights = try Self.weights()
        let x = try Self.photos()
        let net = try TrainableNetwork(.efficientnet_lite0, weights: weights, classes: 1000, freezeUntil: nil, seed: 0, keepHead: true)
        XCTAssertTrue(net.parameters.contains { $0.name == "_fc.weight" && $0.isHead }, "a 1000-class head is kept, as the head")
        let ours = try net.forward(x, training: false)
        let theirs = try XCTUnwrap(Model(.efficientnet_lite0, weights: weights).run(x, layers: ["_fc"])["_fc"])
        let d = zip(ours.data, theirs.data).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(d, 1e-3, "logits (up to \(theirs.data.map(abs).max() ?? 0)): max |difference| \(d)")
    }

    func testFrozenPrefixStaysAsLoadedAndTheRestTrains() throws {
        let weights = try Self.weights()
        let x = try Self.photos()
        let net = try TrainableNetwork(.efficientnet_lite0, weights: weights, classes: 5, freezeUntil: "stage5", seed: 7)
        XCTAssertEqual(net.frozenUntil, "_blocks.10")
        let frozen = { (key: String) -> Bool in
            key.hasPrefix("_conv_stem.") || key.hasPrefix("_bn0.")
                || (0...10).contains { key.hasPrefix("_blocks.\($0).") }
        }
        XCTAssertFalse(net.parameters.contains { frozen($0.name) }, "no frozen parameter is trained")
        XCTAssertEqual(net.parameters.filter(\.isHead).map(\.name), ["_fc.weight", "_fc.bias"])
        let sgd = SGD(momentum: 0.9, weightDecay: 1e-4)
        var losses: [Double] = []
        for _ in 0..<4 {
            net.zeroGrad()
            let (loss, grad, _) = crossEntropy(try net.forward(x, training: true), labels: [1, 3])
            losses.append(loss)
            try net.backward(grad)
            sgd.step(net.parameters) { $0.isHead ? 0.1 : 0.01 }
        }
        XCTAssertLessThan(losses[3], losses[0], "loss on the two photos: \(losses)")

        let state = net.stateDict()
        XCTAssertEqual(state["_fc.weight"]?.shape, [5, 1280], "the new head")
        for key in weights.keys where !key.hasPrefix("_fc.") {
            let before = try XCTUnwrap(weights[key]), after = try XCTUnwrap(state[key], "state dict lacks \(key)")
            if frozen(key) {
                XCTAssertEqual(after, before, "\(key) is frozen and must be untouched")
            } else if key.hasSuffix("num_batches_tracked") {
                XCTAssertEqual(after.data, before.data.map { $0 + 4 }, "\(key) counts the four training batches")
            } else if key.hasSuffix("running_mean") || key.hasSuffix("running_var") || key.hasSuffix(".weight") {
                XCTAssertNotEqual(after, before, "\(key) trains")
            }
        }
    }
}
