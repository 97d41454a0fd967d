// `pipeline extract --onnx` end to end: EfficientNet-Lite0's real weights exported to ONNX by the
// committed graph builder (Tests/ExtractTests/Golden/make_onnx.py) give the codes the built-in
// `--model efficientnet_lite0` gives on real images (max |difference| <= 1e-4 * max |codes|); the
// codes file records the ONNX file and its hash, so train-svm and predict work on it; a file with
// an unsupported operator fails naming it before any image is read.
import Foundation
import H5
import XCTest
@testable import Pipeline

final class ONNXEndToEndTests: XCTestCase {
    /// Three images per class of data/digits/val, as an ImageFolder of links.
    func digits() throws -> URL {
        let source = try Repo.path("data/digits/val")
        let folder = try Repo.temporaryDirectory().appendingPathComponent("digits")
        let fm = FileManager.default
        for c in try fm.contentsOfDirectory(atPath: source).sorted() {
            let files = try fm.contentsOfDirectory(atPath: source + "/" + c).sorted().prefix(3)
            try fm.createDirectory(at: folder.appendingPathComponent(c), withIntermediateDirectories: true)
            for f in files {
                try fm.createSymbolicLink(atPath: folder.appendingPathComponent("\(c)/\(f)").path, withDestinationPath: "\(source)/\(c)/\(f)")
            }
        }
        return folder
    }

    func testONNXEfficientNetLite0GivesTheBuiltInModelsCodes() throws {
        let onnx = try Repo.path(".fixtures/onnx/efficientnet_lite0.onnx")
        let weights = try Repo.path(".cache/weights/efficientnet-lite0-57934424.pth")
        let folder = try digits(), dir = folder.deletingLastPathComponent()
        let fromONNX = dir.appendingPathComponent("onnx.h5").path, builtIn = dir.appendingPathComponent("builtin.h5").path
        // EfficientNet-Lite0's normalisation, (x - 127) / 128 in 0..255 units; an ONNX file's default is ImageNet's.
        let norm = ["--mean", "\(Float(127) / 255),\(Float(127) / 255),\(Float(127) / 255)",
                    "--std", "\(Float(128) / 255),\(Float(128) / 255),\(Float(128) / 255)"]
        try pipeline(["extract", "--onnx", onnx, "--layer", "avgpool,_blocks.10", "--data", folder.path, "--out", fromONNX, "--quiet"] + norm)
        try pipeline(["extract", "--model", "efficientnet_lite0", "--weights", weights, "--layer", "avgpool,_blocks.10",
                      "--data", folder.path, "--out", builtIn, "--quiet"])
        let a = try CodesFile(path: fromONNX), b = try CodesFile(path: builtIn)
        XCTAssertEqual(a.paths, b.paths)
        XCTAssertEqual(a.count, 30)
        for layer in ["avgpool", "_blocks.10"] {
            let (x, y) = (try a.codes(layer: layer), try b.codes(layer: layer))
            XCTAssertEqual(x.count, y.count, layer)
            let (diff, scale) = maxDifference(x[...], y[...])
            XCTAssertLessThanOrEqual(diff, 1e-4 * scale, "\(layer): max abs diff \(diff), codes max \(scale)")
            print("extract --onnx vs --model efficientnet_lite0, \(layer): max abs diff \(diff), codes max \(scale)")
        }
        XCTAssertEqual(a.metadata.model, "efficientnet_lite0.onnx")
        XCTAssertEqual(a.metadata.weightsFile, "efficientnet_lite0.onnx")
        XCTAssertEqual(a.metadata.weightsSHA256, try sha256Hex(of: URL(fileURLWithPath: onnx)))
        XCTAssertEqual(a.metadata.extra["model_format"], "onnx")
        XCTAssertEqual(a.metadata.preprocessing, b.metadata.preprocessing, "crop 224 from the graph, resize 256")

        // Both stages on the ONNX codes: the classifier records the ONNX file, predict re-extracts with it.
        let svm = dir.appendingPathComponent("digits.svm").path, csv = dir.appendingPathComponent("pred.csv").path
        try pipeline(["train-svm", "--codes", fromONNX, "--layer", "avgpool", "--out", svm])
        let image = folder.appendingPathComponent("3").path + "/" + (try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("3").path).sorted()[0])
        try pipeline(["predict", "--classifier", svm, "--onnx", onnx, "--format", "csv", "--out", csv, "--top-k", "1", image])
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows.last.map { String($0.split(separator: ",")[2]) }, "3", "a training image of a 3 is predicted as a 3")
        // Another ONNX file is refused by its hash.
        let other = try Repo.path(".fixtures/onnx/mobilenet_style.onnx")
        XCTAssertThrowsError(try pipeline(["predict", "--classifier", svm, "--onnx", other, image])) { error in
            XCTAssertTrue("\(error)".contains("weights_sha256"), "\(error)")
        }
    }

    func testUnsupportedOperatorFailsBeforeAnyImageIsRead() throws {
        let lstm = try Repo.path(".fixtures/onnx/unsupported_lstm.onnx")
        let dir = try Repo.temporaryDirectory()
        // The data folder does not exist: an error about it would mean images were looked at first.
        XCTAssertThrowsError(try pipeline(["extract", "--onnx", lstm, "--data", dir.appendingPathComponent("missing").path,
                                           "--out", dir.appendingPathComponent("x.h5").path, "--quiet"])) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("unsupported operator LSTM") && text.contains("rnn_1") && text.contains("unsupported_lstm.onnx"), text)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.h5").path))
    }

    func testONNXExcludesModelAndWeights() throws {
        let onnx = try Repo.path(".fixtures/onnx/alexnet_style.onnx")
        XCTAssertThrowsError(try Pipeline.parseAsRoot(["extract", "--onnx", onnx, "--model", "alexnet", "--data", "d", "--out", "o.h5"]))
        XCTAssertThrowsError(try Pipeline.parseAsRoot(["layers", "--onnx", onnx, "--model", "alexnet"]))
    }

    /// Exporters' tensor names hold '/', which an HDF5 dataset name cannot: the codes go under the slash-free alias.
    func testSlashedTensorNamesAreStoredUnderTheirAlias() throws {
        let onnx = try Repo.path(".fixtures/onnx/slashed.onnx")
        let folder = try digits(), dir = folder.deletingLastPathComponent()
        try pipeline(["extract", "--onnx", onnx, "--layer", "/stem/relu/Relu_output_0", "--layer", "pool.GlobalAveragePool_output_0",
                      "--data", folder.path, "--out", dir.appendingPathComponent("s.h5").path, "--quiet"])
        let file = try CodesFile(path: dir.appendingPathComponent("s.h5").path)
        XCTAssertEqual(file.layerNames, ["stem.relu.Relu_output_0", "pool.GlobalAveragePool_output_0"])
        XCTAssertEqual(try file.dimension(of: "stem.relu.Relu_output_0"), 8)
        // Average-pooled ReLU output and the graph's own GlobalAveragePool of it are the same codes.
        let (a, b) = (try file.codes(layer: "stem.relu.Relu_output_0"), try file.codes(layer: "pool.GlobalAveragePool_output_0"))
        let (diff, scale) = maxDifference(a[...], b[...])
        XCTAssertLessThanOrEqual(diff, 1e-5 * scale, "max abs diff \(diff)")
    }

    func testExtractWritesTheGraphsDefaultOutputAndKeepsItsInputSize() throws {
        let onnx = try Repo.path(".fixtures/onnx/alexnet_style.onnx")
        let folder = try digits(), out = folder.deletingLastPathComponent().appendingPathComponent("alex.h5").path
        try pipeline(["extract", "--onnx", onnx, "--data", folder.path, "--out", out, "--quiet"])
        let file = try CodesFile(path: out)
        XCTAssertEqual(file.layerNames, ["prob"], "the graph's output")
        XCTAssertEqual(try file.dimension(of: "prob"), 10)
        XCTAssertEqual(file.metadata.preprocessing.split(separator: " ").prefix(2).joined(separator: " "), "resize=77 crop=67",
                       "the graph's 67x67 input, resized at torchvision's 256/224")
        XCTAssertThrowsError(try pipeline(["extract", "--onnx", onnx, "--crop", "224", "--data", folder.path, "--out", out + "2", "--quiet"]))
    }
}
