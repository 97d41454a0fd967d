// A writer killed with SIGKILL while it appends: the test binary runs itself as the child (the package has no
// room for a helper executable), the child appends batches until a timer kills it, and the parent resumes.
import Foundation
import H5
import XCTest

final class KillTests: TemporaryDirectoryTestCase {
    static let childPathVariable = "H5TESTS_KILLED_WRITER_PATH"
    let metadata = CodesMetadata(model: "resnet18", weightsFile: "w.pth", weightsSHA256: "00", layers: ["layer4"],
                                 pooling: "avg", preprocessing: "none", toolVersion: "test")
    let dimension = 64
    let batchRows = 16

    /// Row `r` of the codes: every value tells its row and column.
    func row(_ r: Int) -> [Float] { (0..<dimension).map { Float(r) + Float($0) / 128 } }

    func batch(_ b: Int) -> (codes: [String: [Float]], labels: [Int32], paths: [String]) {
        let rows = (b * batchRows)..<((b + 1) * batchRows)
        return (["layer4": rows.flatMap(row)], rows.map { Int32($0 % 2) }, rows.map { "img\($0).png" })
    }

    /// Only does something when run as the child of `testResumeAfterSIGKILL`.
    func testChildWritesUntilKilled() throws {
        guard let path = ProcessInfo.processInfo.environment[Self.childPathVariable] else { return }
        // The child writes into its parent's directory and is killed before tearDown: its own goes now.
        try? FileManager.default.removeItem(atPath: directory)
        let writer = try CodesWriter(path: path, metadata: metadata, layerDimensions: [("layer4", dimension)],
                                     classes: ["a", "b"], overwrite: false)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.4) { kill(getpid(), SIGKILL) }
        var b = 0
        while true {
            let (codes, labels, paths) = batch(b)
            try writer.append(codes: codes, labels: labels, paths: paths)
            b += 1
            if b % 4 == 0 { usleep(2000) }  // bounds the file, so h5py's dump stays small
        }
    }

    func testResumeAfterSIGKILL() throws {
        let file = path("killed.h5")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["H5Tests.KillTests/testChildWritesUntilKilled"]
        child.environment = ProcessInfo.processInfo.environment.merging([Self.childPathVariable: file]) { $1 }
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        child.waitUntilExit()
        XCTAssertEqual(child.terminationReason, .uncaughtSignal, "the child was killed, not finished")

        let writer = try CodesWriter(path: file, metadata: metadata, layerDimensions: [("layer4", dimension)],
                                     classes: ["a", "b"], overwrite: false)
        XCTAssertNil(writer.warning, "the killed file opened")
        let done = writer.rowsDone
        XCTAssertGreaterThan(done, 0)
        XCTAssertEqual(done % batchRows, 0, "whole batches only")
        let next = batch(done / batchRows)
        try writer.append(codes: next.codes, labels: next.labels, paths: next.paths)
        try writer.finish()

        XCTAssertEqual(try Reference.run("check_codes.py", [file]), "ok\n")
        let dump = try Reference.dump(file)
        let rows = done + batchRows
        XCTAssertEqual(dump["datasets"]["codes/layer4"]["shape"].ints, [rows, dimension])
        assertClose(dump["datasets"]["codes/layer4"]["values"].floats, (0..<rows).flatMap(row), "codes after resume")
        XCTAssertEqual(dump["datasets"]["paths"]["values"].strings, (0..<rows).map { "img\($0).png" })
        print("killed writer left \(done) rows; resumed and finished with \(rows)")
    }
}
