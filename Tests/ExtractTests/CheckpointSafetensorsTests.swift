// safetensors both ways, against the format's reference implementation (the `safetensors` package):
// it wrote Golden/checkpoints/numpy.safetensors, and it reads back what Swift writes.

import Foundation
import XCTest
@testable import Extract

final class CheckpointSafetensorsTests: XCTestCase {
    func testReadsWhatThePackageWrote() throws {
        let expected = try CheckpointGolden.json("expected.json")
        let dict = try StateDict.load(path: CheckpointGolden.path("numpy.safetensors"))
        CheckpointGolden.assertMatches(dict, try XCTUnwrap(expected["numpy.safetensors"] as? [String: Any]))
    }

    func testThePackageReadsWhatWeWrite() throws {
        let python = try CheckpointGolden.python()
        let tensors: [(String, Tensor)] = [
            ("layer1.0.conv1.weight", Tensor(shape: [2, 1, 2, 2], data: [1, -2, 3.5, 1e-8, -0.0, 7, 8, .pi])),
            ("fc.bias", Tensor(shape: [3], data: [0.1, 0.2, 0.3])),
            ("bn1.num_batches_tracked", Tensor(shape: [], data: [42])),
            ("empty", Tensor(shape: [0, 4], data: [])),
            ("Ünïcode \"key\"", Tensor(shape: [1], data: [-1])),
        ]
        let metadata = ["format": "pt", "model": "resnet18", "note": "quotes \" and \\ and\nnewline"]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.safetensors").path
        try StateDict(tensors).save(safetensors: path, metadata: metadata)

        let process = Process()
        process.executableURL = python
        process.arguments = [CheckpointGolden.path("check_safetensors.py"), path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, String(decoding: stderr, as: UTF8.self))
        let read = try XCTUnwrap(JSONSerialization.jsonObject(with: stdout) as? [String: Any])

        XCTAssertEqual(read["metadata"] as? [String: String], metadata)
        // The format's convention: metadata first, then tensors sorted by name; data 8-byte aligned.
        XCTAssertEqual(read["header_keys"] as? [String], ["__metadata__"] + tensors.map(\.0).sorted())
        XCTAssertEqual(((read["header_length"] as? NSNumber)?.intValue ?? 1) % 8, 0)
        let got = try XCTUnwrap(read["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(Set(got.keys), Set(tensors.map(\.0)))
        for (key, t) in tensors {
            XCTAssertEqual(got[key]?["dtype"] as? String, "float32", key)
            XCTAssertEqual(CheckpointGolden.ints(got[key]?["shape"]), t.shape, key)
            XCTAssertEqual(CheckpointGolden.doubles(got[key]?["values"]).map { Float($0).bitPattern },
                           t.data.map(\.bitPattern), key)
        }
    }
}
