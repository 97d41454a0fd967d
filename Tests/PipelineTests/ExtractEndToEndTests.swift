// `pipeline extract` end to end on real data (the digits, EfficientNet-Lite0's real weights) against
// the Pillow + onnxruntime reference of Golden/make_digit_codes.py, for every pooling mode; resume
// after a kill, skipping and --strict, and refusal to mix settings in one file.
import Foundation
import H5
import XCTest
@testable import Pipeline

final class ExtractEndToEndTests: XCTestCase {
    struct Reference: Decodable { let paths: [String]; let layers: [[Elem]] }
    enum Elem: Decodable {
        case s(String), i(Int)
        init(from d: Decoder) throws {
            let c = try d.singleValueContainer()
            if let i = try? c.decode(Int.self) { self = .i(i) } else { self = .s(try c.decode(String.self)) }
        }
    }

    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    /// The reference images as an ImageFolder of links to data/digits/val, and the reference codes by layer name.
    func setUpData() throws -> (folder: URL, paths: [String], codes: [String: (dim: Int, values: [Float])]) {
        let ref = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Self.golden.appendingPathComponent("digit_codes.json")))
        let raw = try Data(contentsOf: Self.golden.appendingPathComponent("digit_codes.f32"))
        let floats = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        var codes: [String: (Int, [Float])] = [:], offset = 0
        for entry in ref.layers {
            guard case .s(let name) = entry[0], case .i(let dim) = entry[1] else { continue }
            codes[name] = (dim, Array(floats[offset..<offset + ref.paths.count * dim]))
            offset += ref.paths.count * dim
        }
        let source = try Repo.path("data/digits/val")
        let folder = try Repo.temporaryDirectory().appendingPathComponent("digits")
        for p in ref.paths {
            let target = folder.appendingPathComponent(p)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: target.path, withDestinationPath: source + "/" + p)
        }
        return (folder, ref.paths, codes)
    }

    var weights: String { get throws { try Repo.path(".cache/weights/efficientnet-lite0-57934424.pth") } }

    func assertCodes(_ file: String, layer: String, equal reference: (dim: Int, values: [Float]), paths: [String],
                     line: UInt = #line) throws {
        let codes = try CodesFile(path: file)
        XCTAssertTrue(codes.complete, line: line)
        XCTAssertEqual(codes.paths, paths, line: line)
        XCTAssertEqual(try codes.dimension(of: layer), reference.dim, line: line)
        let ours = try codes.codes(layer: layer)
        let (diff, scale) = maxDifference(ours[...], reference.values[...])
        XCTAssertLessThanOrEqual(diff, 1e-4 * scale, "\(layer): max abs diff \(diff), reference max \(scale)", line: line)
    }

    func testCodesMatchPillowAndOnnxruntimeForEveryPooling() throws {
        let (folder, paths, ref) = try setUpData()
        let dir = folder.deletingLastPathComponent()
        let out = dir.appendingPathComponent("avg.h5").path
        try pipeline(["extract", "--model", "efficientnet_lite0", "--weights", weights, "--data", folder.path,
                      "--layer", "avgpool", "--layer", "stage5", "--out", out, "--quiet"])
        try assertCodes(out, layer: "avgpool", equal: ref["avgpool"]!, paths: paths)
        try assertCodes(out, layer: "stage5", equal: ref["stage5:avg"]!, paths: paths)
        let labels = try CodesFile(path: out).labels
        XCTAssertEqual(labels, paths.map { Int32(String($0.prefix(1)))! })
        for pool in ["max", "grid:2"] {
            let o = dir.appendingPathComponent("\(pool).h5").path
            try pipeline(["extract", "--model", "efficientnet_lite0", "--weights", weights, "--data", folder.path,
                          "--layer", "stage5", "--pool", pool, "--out", o, "--quiet"])
            try assertCodes(o, layer: "stage5", equal: ref["stage5:\(pool)"]!, paths: paths)
        }
    }

    func testTestTimeAugmentationAveragesViewsAsTorchvision() throws {
        let (folder, paths, _) = try setUpData()
        let raw = try Data(contentsOf: Self.golden.appendingPathComponent("digit_codes_tta.f32"))
        let floats = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let n = floats.count / (2 * 1280)
        // Keep only the first n images, the ones the reference augmented.
        let small = folder.deletingLastPathComponent().appendingPathComponent("tta")
        for p in paths.prefix(n) {
            let target = small.appendingPathComponent(p)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: folder.appendingPathComponent(p), to: target)
        }
        for (i, mode) in ["flip", "ten-crop"].enumerated() {
            let out = small.path + "-\(mode).h5"
            try pipeline(["extract", "--model", "efficientnet_lite0", "--weights", weights, "--data", small.path,
                          "--layer", "avgpool", "--tta", mode, "--out", out, "--quiet"])
            let reference = Array(floats[(i * n * 1280)..<((i + 1) * n * 1280)])
            try assertCodes(out, layer: "avgpool", equal: (1280, reference), paths: Array(paths.prefix(n)))
        }
    }

    func testKilledRunResumesToTheSameCodes() throws {
        let (folder, paths, ref) = try setUpData()
        let out = folder.deletingLastPathComponent().appendingPathComponent("killed.h5").path
        let binary = Repo.root.appendingPathComponent(".build/debug/pipeline").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("no debug binary at \(binary)") }
        let args = ["extract", "--model", "efficientnet_lite0", "--weights", try weights, "--data", folder.path,
                    "--layer", "stage5", "--out", out, "--batch", "1", "--quiet"]
        // Kill the run with SIGKILL once some batches are in the file.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: binary)
        child.arguments = args
        try child.run()
        let deadline = Date().addingTimeInterval(120)
        var sawRows = false
        while Date() < deadline && child.isRunning {
            if let size = try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int, size > 40_000 { sawRows = true; break }
            usleep(20_000)
        }
        usleep(50_000)
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        XCTAssertTrue(sawRows, "the child wrote nothing before the deadline")
        if let partial = try? CodesFile(path: out) {
            XCTAssertFalse(partial.complete, "a killed run must not be marked complete")
            XCTAssertLessThan(partial.count, paths.count)
        }
        try pipeline(args)
        try assertCodes(out, layer: "stage5", equal: ref["stage5:avg"]!, paths: paths)
    }

    func testUnreadableImagesAreSkippedOrFatalWithStrict() throws {
        let (folder, paths, _) = try setUpData()
        let broken = folder.appendingPathComponent("3/broken.png")
        try Data("not a png".utf8).write(to: broken)
        try Data("notes".utf8).write(to: folder.appendingPathComponent("3/README.txt"))   // not an image: ignored
        let out = folder.deletingLastPathComponent().appendingPathComponent("skip.h5").path
        let args = ["extract", "--model", "efficientnet_lite0", "--weights", try weights, "--data", folder.path,
                    "--layer", "stage1", "--out", out, "--quiet"]
        try pipeline(args)
        let codes = try CodesFile(path: out)
        XCTAssertEqual(codes.count, paths.count)
        XCTAssertEqual(codes.skipped.count, 1)
        XCTAssertTrue(codes.skipped.first?.hasPrefix("3/broken.png: ") == true, "\(codes.skipped)")
        XCTAssertThrowsError(try pipeline(args + ["--strict", "--out", out + ".strict.h5"])) { error in
            XCTAssertTrue("\(error)".contains("broken.png"), "\(error)")
        }
    }

    func testAnOutputMadeWithOtherSettingsIsRefused() throws {
        let (folder, _, _) = try setUpData()
        let out = folder.deletingLastPathComponent().appendingPathComponent("mix.h5").path
        let base = ["extract", "--model", "efficientnet_lite0", "--weights", try weights, "--data", folder.path, "--out", out, "--quiet"]
        try pipeline(base + ["--layer", "stage1"])
        XCTAssertThrowsError(try pipeline(base + ["--layer", "stage1", "--pool", "max"])) { error in
            XCTAssertTrue("\(error)".contains("pooling"), "\(error)")
        }
        XCTAssertThrowsError(try pipeline(base + ["--layer", "stage2"])) { error in
            XCTAssertTrue("\(error)".contains("layers"), "\(error)")
        }
        try pipeline(base + ["--layer", "stage1", "--pool", "max", "--overwrite"])
        XCTAssertEqual(try CodesFile(path: out).metadata.pooling, "max")
    }

    func testMissingFolderAndUnknownLayerAreClearErrors() throws {
        XCTAssertThrowsError(try pipeline(["extract", "--model", "efficientnet_lite0", "--weights", try weights,
                                           "--data", "/nonexistent/folder", "--out", "/tmp/x.h5"])) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/folder"), "\(error)")
        }
        let (folder, _, _) = try setUpData()
        XCTAssertThrowsError(try pipeline(["extract", "--model", "efficientnet_lite0", "--weights", try weights,
                                           "--data", folder.path, "--layer", "fc9", "--out", folder.path + "/../u.h5"])) { error in
            XCTAssertTrue("\(error)".contains("fc9") && "\(error)".contains("pipeline layers"), "\(error)")
        }
    }
}
