import Foundation
import XCTest

/// Files the tests read that are fetched or generated at set-up time (scripts/test), not committed.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Path of a fetched or generated file, or a test failure that says how to make it.
    static func path(_ relative: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let p = root.appendingPathComponent(relative).path
        guard FileManager.default.fileExists(atPath: p) else {
            XCTFail("missing \(relative): run scripts/test (it fetches assets and generates golden files)", file: file, line: line)
            throw XCTSkip("missing \(relative)")
        }
        return p
    }
}
