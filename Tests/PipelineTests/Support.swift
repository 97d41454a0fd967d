import Foundation
import XCTest
@testable import Pipeline

enum Repo {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A fetched or generated file (scripts/test makes them), or a failure that says how to get it.
    static func path(_ relative: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let p = root.appendingPathComponent(relative).path
        guard FileManager.default.fileExists(atPath: p) else {
            XCTFail("missing \(relative): run scripts/test (it fetches assets and generates golden files)", file: file, line: line)
            throw XCTSkip("missing \(relative)")
        }
        return p
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// Runs `pipeline ARGS...` in this process, as the command line would.
func pipeline(_ args: [String]) throws {
    var command = try Pipeline.parseAsRoot(args)
    try command.run()
}

func maxDifference(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> (diff: Float, scale: Float) {
    let diff = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
    return (diff, b.map(abs).max() ?? 0)
}

/// What `body` prints on standard output (file descriptor 1, redirected to a file meanwhile).
func capturingStandardOutput(_ body: () throws -> Void) throws -> String {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("stdout-\(UUID().uuidString)").path
    fflush(stdout)
    let saved = dup(STDOUT_FILENO), fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    dup2(fd, STDOUT_FILENO)
    close(fd)
    defer { fflush(stdout); dup2(saved, STDOUT_FILENO); close(saved) }
    try body()
    fflush(stdout)
    return try String(contentsOfFile: file, encoding: .utf8)
}
