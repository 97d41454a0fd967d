// `pipeline --help` and every subcommand's help, against reviewed snapshots in Snapshots/.
// Regenerate after a deliberate change with UPDATE_SNAPSHOTS=1 scripts/test --filter HelpSnapshotTests,
// then read the diff: the snapshot is what users see.
import ArgumentParser
import Foundation
import XCTest
@testable import Pipeline

final class HelpSnapshotTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots")

    /// Every command with its path of names, root first.
    func commands(_ command: ParsableCommand.Type, path: [String] = []) -> [(path: [String], type: ParsableCommand.Type)] {
        let name = command.configuration.commandName ?? "pipeline"
        let here = path + [name]
        return [(here, command)] + command.configuration.subcommands.flatMap { commands($0, path: here) }
    }

    func testHelpMatchesSnapshots() throws {
        let update = ProcessInfo.processInfo.environment["UPDATE_SNAPSHOTS"] == "1"
        if update { try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true) }
        for (path, type) in commands(Pipeline.self) {
            let help = Pipeline.helpMessage(for: type, columns: 100)
            let file = Self.folder.appendingPathComponent(path.joined(separator: "-") + ".txt")
            if update {
                try help.write(to: file, atomically: true, encoding: .utf8)
                continue
            }
            guard let snapshot = try? String(contentsOf: file, encoding: .utf8) else {
                XCTFail("no snapshot \(file.lastPathComponent); run UPDATE_SNAPSHOTS=1 scripts/test --filter HelpSnapshotTests")
                continue
            }
            XCTAssertEqual(help, snapshot, "help of `\(path.joined(separator: " "))` differs from \(file.lastPathComponent)")
        }
    }
}
