// `pipeline bench --rounds`: our passes and onnxruntime's alternated, then a summary of the best of each.
import Foundation
import XCTest
@testable import Pipeline

final class BenchTests: XCTestCase {
    /// Two rounds against onnxruntime (a small network at 64x64, so that it takes seconds): each round
    /// prints both rates and their ratio, and the summary's rates are the rounds' best and its ratio theirs.
    func testRoundsAlternateAndSummariseTheBestOfEach() throws {
        let python = try Repo.path(".cache/venv/bin/python")
        let printed = try capturingStandardOutput {
            try pipeline(["bench", "--model", "squeezenet1_1", "--batch", "2", "--size", "64", "--iterations", "2",
                          "--rounds", "2", "--python", python])
        }
        let lines = printed.split(separator: "\n").map(String.init)
        func rate(_ line: String) -> Double? {
            let words = line.split(separator: " ")
            guard let i = words.firstIndex(where: { $0.hasPrefix("images/s") }), i > 0 else { return nil }
            return Double(words[i - 1])
        }
        let ours = lines.filter { $0.hasPrefix("pipeline ") }.compactMap(rate)
        let theirs = lines.filter { $0.hasPrefix("onnxruntime squeezenet1_1") }.compactMap(rate)
        XCTAssertEqual(ours.count, 2, "our rates, one a round, in:\n\(printed)")
        XCTAssertEqual(theirs.count, 2, "onnxruntime's rates, one a round, in:\n\(printed)")
        XCTAssertTrue(lines.contains { $0.hasSuffix("(round 2 of 2)") }, printed)
        let summary = try XCTUnwrap(lines.first { $0.hasPrefix("best of 2 rounds: ") }, "no summary in:\n\(printed)")
        let numbers = summary.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "(" || $0 == ")" }).compactMap { Double($0) }
        // best of 2 rounds: pipeline A images/s, onnxruntime B images/s, ratio R (rounds: r1, r2)
        XCTAssertEqual(numbers.count, 6, summary)
        guard numbers.count == 6, let bestOurs = ours.max(), let bestTheirs = theirs.max() else { return }
        XCTAssertEqual(numbers[1], bestOurs, accuracy: 0.051, summary)
        XCTAssertEqual(numbers[2], bestTheirs, accuracy: 0.051, summary)
        XCTAssertEqual(numbers[3], bestOurs / bestTheirs, accuracy: 0.01, summary)
        XCTAssertEqual(numbers[4], ours[0] / theirs[0], accuracy: 0.01, summary)
        XCTAssertEqual(numbers[5], ours[1] / theirs[1], accuracy: 0.01, summary)
    }

    /// `--images`: decoding and preprocessing timed over a folder (a real photo twice and a corrupt
    /// file, counted as unreadable), and the limit recomputed here from the printed D and forward
    /// rate: T / (T / R + D) images/s on T threads, and its ratio to R.
    func testImagesPrintsTheLimitDecodingPutsOnExtraction() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("BenchImages-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let photo = try Repo.path(".cache/photos/rocket.jpg")
        for name in ["a.jpg", "b.jpg"] {
            try FileManager.default.copyItem(atPath: photo, toPath: folder.appendingPathComponent(name).path)
        }
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).write(to: folder.appendingPathComponent("broken.jpg"))
        let printed = try capturingStandardOutput {
            try pipeline(["bench", "--model", "squeezenet1_1", "--batch", "2", "--size", "64", "--iterations", "2",
                          "--python", "none", "--images", root.path])
        }
        let line = try XCTUnwrap(printed.split(separator: "\n").first { $0.hasPrefix("decode + preprocess: ") }.map(String.init),
                                 "no decode line in:\n\(printed)")
        XCTAssertTrue(line.contains("(3 images, 1 unreadable, one thread)"), line)
        // decode + preprocess: D ms of CPU an image (...): beside this pass's R images/s (...) on T threads,
        // extraction runs at most L images/s, a ratio to the pass alone of at most Q
        func number(after words: String) throws -> Double {
            let rest = try XCTUnwrap(line.range(of: words).map { line[$0.upperBound...] }, "\(words) in \(line)")
            return try XCTUnwrap(Double(rest.prefix { $0.isNumber || $0 == "." }), line)
        }
        let d = try number(after: "preprocess: ") / 1000, r = try number(after: "this pass's ")
        let t = try number(after: ") on "), limit = try number(after: "at most "), ratio = try number(after: "alone of at most ")
        XCTAssertGreaterThan(d, 0, line)
        XCTAssertEqual(t, 2, line)
        XCTAssertEqual(limit, t / (t / r + d), accuracy: 0.06 + limit * 0.002, line)
        XCTAssertEqual(ratio, 1 / (1 + d * r / t), accuracy: 0.002, line)
    }
}
