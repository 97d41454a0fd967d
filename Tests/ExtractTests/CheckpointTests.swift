// torch.save files read without torch, against numpy readings made by Golden/make_checkpoints.py:
// the real EfficientNet-Lite0 checkpoint (legacy format, written by PyTorch) and zip archives
// laid out as torch.save writes them.

import Foundation
import XCTest
@testable import Extract

final class CheckpointTests: XCTestCase {
    func testRealLegacyCheckpointMatchesIndependentNumpyReader() throws {
        let golden = try CheckpointGolden.json("efficientnet_lite0.json")
        let path = CheckpointGolden.packageRoot.appendingPathComponent(try XCTUnwrap(golden["file"] as? String)).path
        guard FileManager.default.fileExists(atPath: path) else {
            return XCTFail("\(path) is missing: run `scripts/fetch-assets` to fetch the real weights")
        }
        let start = Date()
        let dict = try StateDict.load(path: path)
        print("loaded \(dict.keys.count) tensors from \(path) in \(String(format: "%.3f", Date().timeIntervalSince(start))) s")

        let rows = try XCTUnwrap(golden["tensors"] as? [[String: Any]])
        XCTAssertEqual(dict.keys, rows.compactMap { $0["key"] as? String }, "keys, in file order")
        var worstSum = 0.0
        for row in rows {
            let key = row["key"] as? String ?? ""
            guard let t = dict[key] else { XCTFail("`\(key)` missing"); continue }
            XCTAssertEqual(t.shape, CheckpointGolden.ints(row["shape"]), key)
            // The sum of the float32 bit patterns (mod 2^64) pins down every value exactly.
            let bitsum = t.data.reduce(UInt64(0)) { $0 &+ UInt64($1.bitPattern) }
            XCTAssertEqual(bitsum, (row["bitsum"] as? NSNumber)?.uint64Value, "bit-pattern sum of \(key)")
            // Foundation's JSON parser may miss a double's last digit; a float32 survives the rounding.
            XCTAssertEqual(Array(t.data.prefix(4)), CheckpointGolden.doubles(row["first"]).map { Float($0) }, "first values of \(key)")
            XCTAssertEqual(t.data.last, (row["last"] as? NSNumber).map { Float($0.doubleValue) }, "last value of \(key)")
            // numpy sums pairwise, we sum in order: equal to within rounding of the float64 sum.
            let sum = t.data.reduce(0.0) { $0 + Double($1) }
            let want = (row["sum"] as? NSNumber)?.doubleValue ?? .nan
            worstSum = max(worstSum, abs(sum - want))
            XCTAssertEqual(sum, want, accuracy: 1e-9 * max(1, Double(t.count)), "sum of \(key)")
        }
        print("largest difference of a tensor sum from numpy's: \(worstSum)")
    }

    func testZipArchiveWithEveryDtypeViewsAndSharedStorages() throws {
        let expected = try CheckpointGolden.json("expected.json")
        let dict = try StateDict.load(path: CheckpointGolden.path("dtypes.pt"))
        CheckpointGolden.assertMatches(dict, try XCTUnwrap(expected["dtypes.pt"] as? [String: Any]))
        XCTAssertEqual(dict["bn.num_batches_tracked"]?.shape, [], "a 0-dim buffer stays 0-dim")
    }

    func testTrainingScriptWrapperAndDataParallelPrefix() throws {
        // {"state_dict": {"module.…": …}, "epoch": 3, "optimizer": …, "args": Namespace(…)}
        let expected = try CheckpointGolden.json("expected.json")
        let dict = try StateDict.load(path: CheckpointGolden.path("wrapped.pt"))
        CheckpointGolden.assertMatches(dict, try XCTUnwrap(expected["wrapped.pt"] as? [String: Any]))
    }

    func testZip64Fields() throws {
        let expected = try CheckpointGolden.json("expected.json")
        let dict = try StateDict.load(path: CheckpointGolden.path("zip64.pt"))
        CheckpointGolden.assertMatches(dict, try XCTUnwrap(expected["zip64.pt"] as? [String: Any]))
    }

    func testDeflatedEntryIsRefusedClearly() {
        let path = CheckpointGolden.path("deflated.pt")
        XCTAssertThrowsError(try StateDict.load(path: path)) { error in
            guard case let CheckpointError.unsupported(errorPath, what) = error else {
                return XCTFail("expected .unsupported, got \(error)")
            }
            XCTAssertEqual(errorPath, path)
            XCTAssertTrue(what.contains("DEFLATE") && what.contains("data.pkl"), what)
        }
    }

    func testDamagedFilesThrowInsteadOfCrashing() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: CheckpointGolden.path("dtypes.pt")))
        let legacy = Data([0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E, 0x80])
        let cases: [(String, Data)] = [
            ("truncated zip", original.prefix(original.count / 2)),
            ("zip without its end", original.prefix(original.count - 30)),
            ("legacy magic then nothing", legacy),
            ("text", Data("hello, not weights\n".utf8)),
        ]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-tests-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, bytes) in cases {
            let url = dir.appendingPathComponent(name.replacingOccurrences(of: " ", with: "_") + ".pt")
            try bytes.write(to: url)
            XCTAssertThrowsError(try StateDict.load(path: url.path), name) { error in
                XCTAssertTrue("\(error)".contains(url.path), "the message names the file: \(error)")
            }
        }
        XCTAssertThrowsError(try StateDict.load(path: dir.appendingPathComponent("absent.pth").path))
    }

    #if !(os(macOS) && arch(x86_64))
    /// Every binary16 pattern, against the standard library's Float16 conversion.
    func testHalfConversionOfEveryBitPattern() {
        var wrong = 0
        for bits in 0 ... UInt16.max {
            let want = Float(Float16(bitPattern: bits)), got = halfToFloat(bits)
            if want.bitPattern != got.bitPattern && !(want.isNaN && got.isNaN) { wrong += 1 }
        }
        XCTAssertEqual(wrong, 0, "half patterns converted differently from Float16")
    }
    #endif

    /// Set PTH_BENCH_CHECKPOINT to a big checkpoint (VGG-16 is 528 MB) to time a load.
    func testLoadTimeOfABigCheckpoint() throws {
        guard let path = ProcessInfo.processInfo.environment["PTH_BENCH_CHECKPOINT"] else {
            throw XCTSkip("set PTH_BENCH_CHECKPOINT to a checkpoint file to time its load")
        }
        let start = Date()
        let dict = try StateDict.load(path: path)
        let seconds = Date().timeIntervalSince(start)
        let values = dict.keys.reduce(0) { $0 + (dict[$1]?.count ?? 0) }
        print("loaded \(dict.keys.count) tensors, \(values) values (\((values * 4) >> 20) MiB as Float) in \(String(format: "%.3f", seconds)) s")
    }
}

// MARK: - shared by the Checkpoint*Tests: where the golden files live and how to read expected.json

enum CheckpointGolden {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let directory = testsDirectory.appendingPathComponent("Golden/checkpoints")
    static let packageRoot = testsDirectory.deletingLastPathComponent().deletingLastPathComponent()

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func doubles(_ value: Any?) -> [Double] {
        (value as? [NSNumber])?.map(\.doubleValue) ?? []
    }

    static func ints(_ value: Any?) -> [Int] {
        (value as? [NSNumber])?.map(\.intValue) ?? []
    }

    /// Asserts that `dict` holds exactly the expected keys, in order, with numpy's values bit for bit
    /// (every stored type converts to float32 exactly, so no tolerance is needed).
    static func assertMatches(_ dict: StateDict, _ expected: [String: Any], file: StaticString = #filePath, line: UInt = #line) {
        let keys = expected["keys"] as? [String] ?? []
        XCTAssertEqual(dict.keys, keys, "keys, in file order", file: file, line: line)
        let tensors = expected["tensors"] as? [String: Any] ?? [:]
        for key in keys {
            guard let want = tensors[key] as? [String: Any], let got = dict[key] else {
                XCTFail("`\(key)` missing", file: file, line: line)
                continue
            }
            XCTAssertEqual(got.shape, ints(want["shape"]), "shape of \(key)", file: file, line: line)
            // Foundation's JSON parser may miss a double's last digit; a float32 survives the rounding.
            let values = doubles(want["values"]).map { Float($0) }
            let differing = zip(got.data, values).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            let maxDiff = zip(got.data, values).map { abs($0.0 - $0.1) }.max() ?? 0
            XCTAssertTrue(got.data.count == values.count && differing == 0,
                          "\(key): \(differing) of \(values.count) values differ from numpy's, max difference \(maxDiff)",
                          file: file, line: line)
        }
    }

    /// The reference tools' Python, installed by `scripts/install-deps --test`.
    static func python() throws -> URL {
        let url = packageRoot.appendingPathComponent(".cache/venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            XCTFail("\(url.path) is missing: run `scripts/install-deps --test` to install the reference tools")
            throw XCTSkip("no reference Python")
        }
        return url
    }
}
