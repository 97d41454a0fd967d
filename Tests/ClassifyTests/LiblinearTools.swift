// liblinear's own command-line tools (Debian liblinear-tools) as the independent reference for the wrapper.
import Foundation
import XCTest
@testable import Classify

enum LiblinearTools {
    static let train = "/usr/bin/liblinear-train"
    static let predict = "/usr/bin/liblinear-predict"

    static func require() throws {
        for tool in [train, predict] where !FileManager.default.isExecutableFile(atPath: tool) {
            XCTFail("\(tool) is missing: run scripts/install-deps (Debian package liblinear-tools)")
            throw ClassifyError.file(path: tool, reason: "missing")
        }
    }

    /// Runs `tool` and returns its standard output; fails on a nonzero exit.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        if p.terminationStatus != 0 {
            throw ClassifyError.file(path: tool, reason: "exit \(p.terminationStatus): \(text)")
        }
        return text
    }

    /// The LIBSVM text format liblinear-train reads: `label index:value ...`, 1-based, zeros skipped.
    /// %.9g prints a Float exactly, so both sides train on identical values.
    static func write(_ f: FeatureSet, to url: URL) throws {
        var lines: [String] = []
        for i in 0..<f.count {
            var line = "\(f.labels[i])"
            for (j, v) in f.row(i).enumerated() where v != 0 { line += " \(j + 1):" + String(format: "%.9g", Double(v)) }
            lines.append(line)
        }
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
    }
}
