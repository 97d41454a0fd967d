// Shared by the Checkpoint*Tests: where the golden files live and how to read expected.json.

import Foundation
import XCTest
@testable import Extract

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
