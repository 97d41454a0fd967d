// Runs the committed h5py scripts in Scripts/ with the test venv's Python, and reads their JSON.
import Foundation
import XCTest

struct ReferenceError: Error, CustomStringConvertible {
    let description: String
}

enum Reference {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts")
    static let python = packageRoot.appendingPathComponent(".cache/venv/bin/python")

    /// Runs `Scripts/<script>` and returns its standard output; a non-zero exit throws with both outputs.
    static func run(_ script: String, _ arguments: [String]) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw ReferenceError(description: "no h5py reference Python at \(python.path): run `scripts/install-deps --test`")
        }
        let process = Process()
        process.executableURL = python
        process.arguments = [scripts.appendingPathComponent(script).path] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: output, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw ReferenceError(description: "\(script) \(arguments.joined(separator: " ")) exited "
                                 + "\(process.terminationStatus):\n\(text)\n\(String(decoding: errors, as: UTF8.self))")
        }
        return text
    }

    /// `dump_h5.py FILE`: the file as h5py sees it.
    static func dump(_ file: String) throws -> JSON {
        try JSON(parsing: Data(run("dump_h5.py", [file]).utf8))
    }

    /// Runs `make_golden.py`, which writes FILE.h5 and FILE.json (the values written) into `directory`.
    static func golden(_ directory: String) throws {
        _ = try run("make_golden.py", [directory])
    }
}

/// A thin reader over JSONSerialization output, so assertions read like the Python that wrote it.
struct JSON {
    let value: Any?

    init(_ value: Any?) { self.value = value }
    init(parsing data: Data) throws { value = try JSONSerialization.jsonObject(with: data) }
    init(file: String) throws { try self.init(parsing: Data(contentsOf: URL(fileURLWithPath: file))) }

    subscript(key: String) -> JSON { JSON((value as? [String: Any])?[key]) }
    subscript(index: Int) -> JSON {
        guard let array = value as? [Any], array.indices.contains(index) else { return JSON(nil) }
        return JSON(array[index])
    }
    var string: String? { value as? String }
    var int: Int? { (value as? NSNumber)?.intValue }
    var double: Double? { (value as? NSNumber)?.doubleValue }
    var isNull: Bool { value == nil || value is NSNull }
    var array: [JSON] { (value as? [Any])?.map { JSON($0) } ?? [] }
    var keys: [String] { ((value as? [String: Any])?.keys).map { $0.sorted() } ?? [] }
    var strings: [String] { array.compactMap { $0.string } }
    var ints: [Int] { array.compactMap { $0.int } }
    /// A nested list of numbers, flattened row-major.
    var floats: [Float] {
        if let number = value as? NSNumber { return [Float(number.doubleValue)] }
        return array.flatMap { $0.floats }
    }
}

/// Asserts equal length and elementwise equality within `tolerance`, printing the max difference on failure.
func assertClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 0, _ message: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(message): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    let maxDifference = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
    XCTAssertLessThanOrEqual(maxDifference, tolerance, "\(message): max difference \(maxDifference)",
                             file: file, line: line)
}

/// A fresh directory per test, removed afterwards.
class TemporaryDirectoryTestCase: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("H5Tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func path(_ name: String) -> String { directory + "/" + name }
}
