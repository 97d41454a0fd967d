// ONNX files run by Model(onnx:) against onnxruntime on the same files and inputs
// (Tests/ExtractTests/Golden/make_onnx.py, at test set-up into .fixtures/onnx), every listed tensor.
// Tolerance: max |ours - reference| <= 1e-4 * max |reference|, per tap.
import XCTest
@testable import Extract

final class ONNXGoldenTests: XCTestCase {
    /// Runs `name`.onnx on the golden input (a batch of 2) for `taps` (all the golden ones when nil).
    func check(_ name: String, taps only: [String]? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try Fixtures.path(".fixtures/onnx/\(name).onnx")
        let golden = try StateDict.load(path: Fixtures.path(".fixtures/onnx/\(name).golden.safetensors"))
        let x = try XCTUnwrap(golden["input"])
        let taps = only ?? golden.keys.filter { $0 != "input" }.sorted()
        XCTAssertGreaterThanOrEqual(taps.count, 1, file: file, line: line)
        let model = try Model(onnx: path, layers: taps)
        let outputs = try model.run(x, layers: taps)
        for tap in taps {
            guard let expected = golden[tap], let got = outputs[tap] else {
                XCTFail("\(name) \(tap): no output", file: file, line: line); continue
            }
            XCTAssertEqual(got.shape, expected.shape, "\(name) \(tap) shape", file: file, line: line)
            guard got.count == expected.count else { continue }
            let scale = expected.data.map(abs).max() ?? 0
            let diff = zip(got.data, expected.data).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(diff, 1e-4 * max(scale, 1e-12),
                                     "\(name) \(tap): max abs diff \(diff), reference max \(scale)", file: file, line: line)
        }
    }

    func testAlexNetStyleLRNAndCeilModePooling() throws { try check("alexnet_style") }
    func testMobileNetStyle() throws { try check("mobilenet_style") }
    func testLegacyOpset9() throws { try check("legacy_style") }
    func testExtrasExternalDataAndSymbolicInputSize() throws {
        try check("extras_style")
        let model = try Model(onnx: try Fixtures.path(".fixtures/onnx/extras_style.onnx"))
        XCTAssertNil(model.declaredInputSize)
        XCTAssertEqual(model.defaultInputSize, 224)
        let net = try XCTUnwrap(model.network as? ONNXNetwork)
        XCTAssertFalse(net.batchable, "the Transpose to [6, N] mixes the images: they run one at a time")
    }

    /// Asked only for late taps, every BatchNormalization after a Conv is folded into it.
    func testFoldedBatchNormsGiveTheSameOutputs() throws {
        try check("mobilenet_style", taps: ["b1", "prob"])
        let model = try Model(onnx: try Fixtures.path(".fixtures/onnx/mobilenet_style.onnx"), layers: ["prob"])
        let net = try XCTUnwrap(model.network as? ONNXNetwork)
        XCTAssertFalse(net.steps.contains { $0.opType == "BatchNormalization" }, "every BatchNormalization follows a Conv and is folded")
        XCTAssertFalse(net.steps.contains { $0.opType == "Relu" && $0.outputs == ["b1.dw.relu"] }, "a Relu after a Conv is fused into it")
        // The folded Conv's own output is still listed, but asking for it on this model is an error.
        XCTAssertTrue(try model.layers().contains { $0.name == "stem.conv" })
        XCTAssertThrowsError(try model.run(Tensor(zeros: [1, 3, 40, 40]), layers: ["stem.conv"]))
    }

    /// Asked only for the output, AlexNet's Relus are fused into their Conv and Gemm.
    func testFusedActivationsGiveTheSameOutputs() throws {
        try check("alexnet_style", taps: ["prob"])
        try check("alexnet_style", taps: ["norm1", "fc7"])
        let model = try Model(onnx: try Fixtures.path(".fixtures/onnx/alexnet_style.onnx"), layers: ["prob"])
        let net = try XCTUnwrap(model.network as? ONNXNetwork)
        XCTAssertFalse(net.steps.contains { $0.opType == "Relu" })
    }

    func testLayersListEveryTensorWithItsShape() throws {
        let model = try Model(onnx: try Fixtures.path(".fixtures/onnx/alexnet_style.onnx"))
        XCTAssertEqual(model.defaultInputSize, 67)
        let layers = try model.layers()
        XCTAssertEqual(layers.first?.name, "data")
        XCTAssertEqual(layers.first { $0.name == "pool1" }?.shape, [16, 8, 8], "Caffe's ceil mode: (16 - 3) / 2 rounded up, + 1")
        XCTAssertEqual(layers.first { $0.name == "pool5" }?.shape, [32, 3, 3])
        XCTAssertEqual(layers.last?.name, "prob")
        XCTAssertEqual(layers.last?.shape, [10])
    }

    func testUnsupportedOperatorsAreNamedWithTheirNodeAtLoad() throws {
        let lstm = try Fixtures.path(".fixtures/onnx/unsupported_lstm.onnx")
        XCTAssertThrowsError(try Model(onnx: lstm)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("unsupported operator LSTM") && text.contains("`rnn_1`") && text.contains("unsupported_lstm.onnx"), text)
        }
        let custom = try Fixtures.path(".fixtures/onnx/unsupported_custom.onnx")
        XCTAssertThrowsError(try Model(onnx: custom)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("com.example.FancyConv") && text.contains("`fancy`"), text)
        }
    }

    func testSlashedNamesHaveSlashFreeAliases() {
        XCTAssertEqual(onnxAlias("/features/features.0/Conv_output_0"), "features.features.0.Conv_output_0")
        let aliases = onnxAliases(["/a/b", "a.b2", "/x/y", "x.y"])
        XCTAssertEqual(aliases["a.b"], "/a/b")
        XCTAssertNil(aliases["x.y"], "an alias that is itself a tensor name stays that tensor")
    }
}
