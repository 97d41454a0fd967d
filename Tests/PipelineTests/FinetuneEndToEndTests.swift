// `pipeline finetune` end to end on a few real digits: its safetensors output read by the
// `safetensors` package with torchvision's key names (Scripts/check_finetuned.py: frozen layers and
// their BatchNorm statistics bit-identical to the base checkpoint, trained ones changed), a
// re-run that finds nothing to do, refusal of other settings, resume after SIGKILL to the same
// weights as an uninterrupted run, and extract/predict accepting the tuned checkpoint.
import Extract
import Foundation
import H5
import XCTest
@testable import Pipeline

final class FinetuneEndToEndTests: XCTestCase {
    /// ResNet-18 with seeded random weights and torchvision's keys (Golden/make_models.py in ExtractTests).
    var base: String { get throws { try Repo.path(".fixtures/models/resnet18.safetensors") } }

    /// The first `n` images of `classes` of data/digits/<split>, as an ImageFolder of links.
    func subset(_ split: String, _ n: Int, classes: [String], into dir: URL) throws -> String {
        let source = try Repo.path("data/digits/\(split)")
        let folder = dir.appendingPathComponent(split)
        let fm = FileManager.default
        for c in classes {
            let files = try fm.contentsOfDirectory(atPath: source + "/" + c).filter { $0.hasSuffix(".png") }.sorted().prefix(n)
            try fm.createDirectory(at: folder.appendingPathComponent(c), withIntermediateDirectories: true)
            for f in files {
                try fm.createSymbolicLink(atPath: folder.appendingPathComponent("\(c)/\(f)").path, withDestinationPath: "\(source)/\(c)/\(f)")
            }
        }
        return folder.path
    }

    func arguments(_ dir: URL, out: String, epochs: Int = 2, extra: [String] = []) throws -> [String] {
        ["finetune", "--model", "resnet18", "--weights", try base,
         "--data", dir.appendingPathComponent("train").path, "--val", dir.appendingPathComponent("val").path,
         "--size", "32", "--batch-size", "4", "--epochs", "\(epochs)", "--freeze-until", "layer3",
         "--lr", "0.01", "--seed", "5", "--out", out, "--quiet"] + extra
    }

    func runPython(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try Repo.path(".cache/venv/bin/python"))
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testOutputIsTorchvisionSafetensorsAndRerunsAreChecked() throws {
        let dir = try Repo.temporaryDirectory()
        _ = try subset("train", 5, classes: ["1", "4", "7"], into: dir)
        let val = try subset("val", 2, classes: ["1", "4", "7"], into: dir)
        let out = dir.appendingPathComponent("tuned.safetensors").path
        try pipeline(try arguments(dir, out: out))

        for file in ["tuned.safetensors", "tuned.json", "tuned.checkpoint.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), file)
        }
        let sidecar = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("tuned.json"))) as? [String: Any])
        XCTAssertEqual(sidecar["classes"] as? [String], ["1", "4", "7"])
        XCTAssertEqual((sidecar["history"] as? [Any])?.count, 2)

        let script = Repo.root.appendingPathComponent("Tests/PipelineTests/Scripts/check_finetuned.py").path
        let check = try runPython([script, try base, out, "1,4,7", "conv1,bn1,layer1,layer2,layer3", "layer4,fc"])
        XCTAssertEqual(check.status, 0, check.output)

        // The same command again: nothing to do, the output untouched.
        let before = try Data(contentsOf: URL(fileURLWithPath: out))
        try pipeline(try arguments(dir, out: out))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), before)

        // Other settings are refused, naming what differs; --overwrite starts afresh.
        XCTAssertThrowsError(try pipeline(try arguments(dir, out: out, extra: ["--head-lr-mult", "3"]))) { error in
            XCTAssertTrue("\(error)".contains("other settings") && "\(error)".contains("learning_rates"), "\(error)")
        }
        // A stage rate for a frozen stage is an error naming the trained ones.
        XCTAssertThrowsError(try pipeline(try arguments(dir, out: dir.appendingPathComponent("other.safetensors").path,
                                                        extra: ["--stage-lr", "layer2=2"]))) { error in
            XCTAssertTrue("\(error)".contains("layer2") && "\(error)".contains("layer4"), "\(error)")
        }
        try pipeline(try arguments(dir, out: out, epochs: 1, extra: ["--overwrite", "--stage-lr", "layer4=2"]))
        let rerun = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("tuned.json"))) as? [String: Any])
        XCTAssertEqual((rerun["history"] as? [Any])?.count, 1)

        // extract takes the tuned checkpoint: its head has 3 outputs, and fc's codes are those logits.
        let codes = dir.appendingPathComponent("codes.h5").path
        try pipeline(["extract", "--model", "resnet18", "--weights", out, "--data", val, "--crop", "32", "--resize", "36",
                      "--layer", "avgpool", "--layer", "fc", "--no-relu", "--out", codes, "--quiet"])
        let file = try CodesFile(path: codes)
        XCTAssertEqual(try file.dimension(of: "fc"), 3)
        XCTAssertEqual(try file.dimension(of: "avgpool"), 512)
        XCTAssertEqual(file.count, 6)

        // Codes from the tuned network train an SVM; predict rebuilds them from the tuned checkpoint,
        // whose name and SHA-256 the codes file recorded.
        let svm = dir.appendingPathComponent("tuned.svm").path
        try pipeline(["train-svm", "--codes", codes, "--layer", "avgpool", "--out", svm])
        let image = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: val + "/4").sorted().first)
        let predictions = dir.appendingPathComponent("predictions.csv").path
        try pipeline(["predict", "--classifier", svm, "--weights", out, "--format", "csv", "--out", predictions, val + "/4/" + image])
        let rows = try String(contentsOfFile: predictions, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.count, 1 + 3, "a header and the 3 classes: \(rows)")
        XCTAssertThrowsError(try pipeline(["predict", "--classifier", svm, "--weights", try base, val + "/4/" + image]),
                             "the base checkpoint is not the one the codes were made with")
    }

    func testKilledRunResumesToTheUninterruptedWeights() throws {
        let dir = try Repo.temporaryDirectory()
        _ = try subset("train", 12, classes: ["0", "3", "8"], into: dir)
        _ = try subset("val", 3, classes: ["0", "3", "8"], into: dir)
        let epochs = 4
        let straight = dir.appendingPathComponent("straight.safetensors").path
        try pipeline(try arguments(dir, out: straight, epochs: epochs))

        let test = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let binary = [test.appendingPathComponent("pipeline"), Repo.root.appendingPathComponent(".build/debug/pipeline")]
            .map(\.path).first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let binary else { throw XCTSkip("no pipeline binary beside the tests or in .build/debug") }
        let out = dir.appendingPathComponent("killed.safetensors").path
        let checkpoint = dir.appendingPathComponent("killed.checkpoint.safetensors").path
        let args = try arguments(dir, out: out, epochs: epochs)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: binary)
        child.arguments = args
        try child.run()
        // Kill it once the first epoch's checkpoint is there, during the second epoch.
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline && child.isRunning && !FileManager.default.fileExists(atPath: checkpoint) { usleep(10_000) }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        let done = try StateDict.safetensorsMetadata(path: checkpoint)["epochs_done"].flatMap(Int.init) ?? 0
        XCTAssertGreaterThanOrEqual(done, 1)
        XCTAssertLessThan(done, epochs, "the child finished before it was killed")

        try pipeline(args)
        let a = try StateDict.load(path: dir.appendingPathComponent("straight.checkpoint.safetensors").path)
        let b = try StateDict.load(path: checkpoint)
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
        var worst: Float = 0, worstKey = ""
        for k in a.keys {
            guard let x = a[k], let y = b[k] else { continue }
            let (d, _) = maxDifference(x.data[...], y.data[...])
            if d > worst { worst = d; worstKey = k }
        }
        // Same shuffles, crops, head initialisation and momentum buffers after the resume: the same
        // arithmetic, up to the order threads sum in.
        XCTAssertLessThanOrEqual(worst, 1e-5, "weights and momentum after a resume differ by up to \(worst) (\(worstKey))")
        let history = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("killed.json"))) as? [String: Any])
        XCTAssertEqual((history["history"] as? [[String: Any]])?.map { $0["epoch"] as? Int }, (1...epochs).map { $0 })
    }
}
