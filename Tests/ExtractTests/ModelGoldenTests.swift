// Every architecture against onnxruntime on the same random weights and inputs
// (Tests/ExtractTests/Golden/make_models.py), at the native size (224, Inception v3's 299) and one
// other size, several taps each, always including the architecture's default code layer.
// Tolerance: max |ours - reference| <= 1e-4 * max |reference|, per tap.
import XCTest
@testable import Extract

final class ModelGoldenTests: XCTestCase {
    func check(_ arch: Architecture, sizes: Int = 2, file: StaticString = #filePath, line: UInt = #line) throws {
        let weights = try StateDict.load(path: Fixtures.path(".fixtures/models/\(arch.rawValue).safetensors"))
        let golden = try StateDict.load(path: Fixtures.path(".fixtures/models/\(arch.rawValue).golden.safetensors"))
        let taps = Set(golden.keys.filter { !$0.hasPrefix("input@") }.map { String($0.split(separator: "@")[0]) })
        let model = try Model(arch, weights: weights, layers: Array(taps))
        // The layer `extract` writes by default is among those checked.
        XCTAssertTrue(taps.contains(try model.resolve(arch.defaultLayer)), "\(arch): default layer \(arch.defaultLayer) has no golden",
                      file: file, line: line)
        let inputs = golden.keys.filter { $0.hasPrefix("input@") }
        XCTAssertNotNil(golden["input@\(arch.inputSize)"], "the native input size", file: file, line: line)
        XCTAssertEqual(inputs.count, sizes, "input sizes", file: file, line: line)
        for inputKey in inputs {
            let size = inputKey.dropFirst("input@".count)
            guard let x = golden[inputKey] else { continue }
            let taps = golden.keys.filter { $0.hasSuffix("@\(size)") && $0 != inputKey }.map { String($0.split(separator: "@")[0]) }
            XCTAssertGreaterThanOrEqual(taps.count, 4, file: file, line: line)
            let outputs = try model.run(x, layers: taps)
            for tap in taps {
                guard let expected = golden["\(tap)@\(size)"], let got = outputs[tap] else {
                    XCTFail("\(arch) \(tap)@\(size): no output", file: file, line: line); continue
                }
                XCTAssertEqual(got.count, expected.count, "\(arch) \(tap)@\(size) size", file: file, line: line)
                guard got.count == expected.count else { continue }
                let scale = expected.data.map(abs).max() ?? 0
                let diff = zip(got.data, expected.data).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(diff, 1e-4 * max(scale, 1e-12),
                                         "\(arch) \(tap)@\(size): max abs diff \(diff), reference max \(scale)", file: file, line: line)
            }
        }
    }

    func testAlexNet() throws { try check(.alexnet) }
    func testVGG11() throws { try check(.vgg11) }
    func testVGG11BN() throws { try check(.vgg11_bn) }
    func testVGG13() throws { try check(.vgg13) }
    func testVGG13BN() throws { try check(.vgg13_bn) }
    func testVGG16() throws { try check(.vgg16) }
    func testVGG16BN() throws { try check(.vgg16_bn) }
    func testVGG19() throws { try check(.vgg19) }
    func testVGG19BN() throws { try check(.vgg19_bn) }
    func testResNet18() throws { try check(.resnet18) }
    func testResNet34() throws { try check(.resnet34) }
    func testResNet50() throws { try check(.resnet50) }
    func testResNet101() throws { try check(.resnet101) }
    func testResNet152() throws { try check(.resnet152) }
    func testEfficientNetLite0() throws { try check(.efficientnet_lite0) }
    func testSqueezeNet10() throws { try check(.squeezenet1_0) }
    func testSqueezeNet11() throws { try check(.squeezenet1_1) }
    func testDenseNet121LegacyKeys() throws { try check(.densenet121) }
    func testDenseNet169LegacyKeys() throws { try check(.densenet169) }
    func testDenseNet161() throws { try check(.densenet161) }
    func testDenseNet201() throws { try check(.densenet201) }
    func testShuffleNetV2x05() throws { try check(.shufflenet_v2_x0_5) }
    func testShuffleNetV2x10() throws { try check(.shufflenet_v2_x1_0) }
    func testGoogLeNet() throws { try check(.googlenet) }
    func testInceptionV3() throws { try check(.inception_v3) }
    func testMobileNetV2() throws { try check(.mobilenet_v2) }
    func testMobileNetV3Small() throws { try check(.mobilenet_v3_small) }
    func testMobileNetV3Large() throws { try check(.mobilenet_v3_large) }

    func testAliasesNameReLUOutputs() throws {
        let weights = try StateDict.load(path: Fixtures.path(".fixtures/models/alexnet.safetensors"))
        let model = try Model(.alexnet, weights: weights)
        XCTAssertEqual(try model.resolve("fc7"), "classifier.5")
        XCTAssertEqual(try model.resolve("features.0"), "features.0")
        XCTAssertEqual(try model.resolve("pool5"), "features.12")
        XCTAssertThrowsError(try model.resolve("fc9")) { error in
            XCTAssertTrue("\(error)".contains("pipeline layers --model alexnet"), "\(error)")
        }
        // A convolution's own output before a folded BatchNorm exists only when asked for at build time.
        let resnet = try Model(.resnet18, weights: StateDict.load(path: Fixtures.path(".fixtures/models/resnet18.safetensors")))
        XCTAssertEqual(try resnet.resolve("conv1"), "conv1")
        XCTAssertThrowsError(try resnet.run(Tensor(zeros: [1, 3, 64, 64]), layers: ["conv1"])) { error in
            XCTAssertTrue("\(error)".contains("folded"), "\(error)")
        }
        let listed = try model.layers()
        XCTAssertEqual(listed.first { $0.name == "classifier.5" }?.shape, [4096])
        XCTAssertEqual(listed.first { $0.name == "features.12" }?.shape, [256, 6, 6])
    }

    /// torchvision's GoogLeNet checkpoint carries aux1/aux2, which the model drops (as torchvision does);
    /// any other stray key is still an error, and a missing main key too.
    func testAuxiliaryClassifiersAreIgnoredButNothingElse() throws {
        let weights = try StateDict.load(path: Fixtures.path(".fixtures/models/googlenet.safetensors"))
        XCTAssertTrue(weights.keys.contains("aux1.fc2.weight") && weights.keys.contains("aux2.conv.bn.running_var"))
        let all = weights.keys.compactMap { k in weights[k].map { (k, $0) } }
        XCTAssertNoThrow(try Model(.googlenet, weights: StateDict(all.filter { !$0.0.hasPrefix("aux") })))
        XCTAssertThrowsError(try Model(.googlenet, weights: StateDict(all + [("aux3.fc.weight", Tensor(zeros: [2]))]))) { error in
            XCTAssertTrue("\(error)".contains("aux3.fc.weight"), "\(error)")
        }
        XCTAssertThrowsError(try Model(.googlenet, weights: StateDict(all.filter { $0.0 != "inception4a.branch3.1.bn.bias" }))) { error in
            XCTAssertTrue("\(error)".contains("inception4a.branch3.1.bn.bias"), "\(error)")
        }
        // A different model's checkpoint with an aux1 module is not mistaken for GoogLeNet's.
        XCTAssertThrowsError(try Model(.inception_v3, weights: weights))
    }

    /// SqueezeNet's, DenseNet's, Inception v3's and MobileNet v3's names users know from Caffe and TensorFlow.
    func testNewFamiliesAliases() throws {
        let squeeze = try Model(random: .squeezenet1_1)
        XCTAssertEqual(try squeeze.resolve("fire9"), "features.12")
        XCTAssertEqual(try squeeze.resolve("pool5"), "features.8")
        XCTAssertEqual(try Model(random: .squeezenet1_0).resolve("pool8"), "features.11")
        XCTAssertEqual(try Model(random: .mobilenet_v3_small).resolve("hidden"), "classifier.1")
        let densenet = try Model(.densenet121, weights: StateDict.load(path: Fixtures.path(".fixtures/models/densenet121.safetensors")))
        XCTAssertEqual(try densenet.resolve("avgpool"), "adaptive_avg_pool2d")
        let inception = try Model(.inception_v3, weights: StateDict.load(path: Fixtures.path(".fixtures/models/inception_v3.safetensors")))
        XCTAssertEqual(try inception.resolve("pool_3"), "avgpool")
        // Shapes as torchvision's comments give them (inception.py: N x 768 x 17 x 17, N x 2048 x 8 x 8 at 299).
        let listed = try inception.layers()
        XCTAssertEqual(listed.first { $0.name == "Mixed_6e" }?.shape, [768, 17, 17])
        XCTAssertEqual(listed.first { $0.name == "Mixed_7c" }?.shape, [2048, 8, 8])
    }
}
