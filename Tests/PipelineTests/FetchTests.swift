// `pipeline fetch` against a loopback HTTP server (Scripts/fetch_server.py). The expected hashes
// come from the server's manifest, computed by Python's hashlib, not by the code under test.
import Foundation
import XCTest
@testable import Pipeline

final class FetchTests: XCTestCase {
    func testFullDownloadVerifiesAndLands() throws {
        let server = try startServer()
        let out = try temporaryDirectory()
        let good = server.manifest.good
        let path = try FetchWeightsCommand.fetch(file: good.name, from: server.base, into: out, options: options(out))
        XCTAssertEqual(path, out.appendingPathComponent(good.name))
        XCTAssertEqual(try Data(contentsOf: path), try Data(contentsOf: server.served(good)))
        XCTAssertFalse(exists(path.path + ".partial"))
    }

    func testInterruptedDownloadResumesWithRange() throws {
        let server = try startServer(["--cut-after", "100000"])
        let out = try temporaryDirectory()
        let good = server.manifest.good
        let final = out.appendingPathComponent(good.name)
        let partial = final.path + ".partial"
        XCTAssertThrowsError(try FetchWeightsCommand.fetch(file: good.name, from: server.base, into: out, options: options(out))) { error in
            guard case FetchError.interrupted = error else { return XCTFail("expected an interruption, got \(error)") }
            XCTAssertTrue("\(error)".contains(partial), "\(error)")
        }
        XCTAssertFalse(exists(final.path))
        let kept = try XCTUnwrap(fileSize(URL(fileURLWithPath: partial)))
        XCTAssert(kept > 0 && kept < Int64(good.size), "partial file has \(kept) bytes")

        _ = try FetchWeightsCommand.fetch(file: good.name, from: server.base, into: out, options: options(out))
        XCTAssertEqual(try Data(contentsOf: final), try Data(contentsOf: server.served(good)))
        XCTAssertFalse(exists(partial))
        let requests = try server.requests()
        XCTAssertEqual(requests.map(\.range), [nil, "bytes=\(kept)-"])
    }

    func testServerIgnoringRangeStartsOver() throws {
        let server = try startServer(["--ignore-range"])
        let out = try temporaryDirectory()
        let good = server.manifest.good
        let final = out.appendingPathComponent(good.name)
        try Data(repeating: 7, count: 1000).write(to: URL(fileURLWithPath: final.path + ".partial"))
        _ = try FetchWeightsCommand.fetch(file: good.name, from: server.base, into: out, options: options(out))
        XCTAssertEqual(try Data(contentsOf: final), try Data(contentsOf: server.served(good)))
        XCTAssertEqual(try server.requests().map(\.range), ["bytes=1000-"])
    }

    func testCompletePartialFileAnswered416IsChecked() throws {
        let server = try startServer()
        let out = try temporaryDirectory()
        let good = server.manifest.good
        let final = out.appendingPathComponent(good.name)
        try FileManager.default.copyItem(at: server.served(good), to: URL(fileURLWithPath: final.path + ".partial"))
        _ = try FetchWeightsCommand.fetch(file: good.name, from: server.base, into: out, options: options(out))
        XCTAssertEqual(try Data(contentsOf: final), try Data(contentsOf: server.served(good)))
        XCTAssertEqual(try server.requests().map(\.range), ["bytes=\(good.size)-"])
    }

    func testWrongHashIsDeletedWithBothHashes() throws {
        let server = try startServer()
        let out = try temporaryDirectory()
        let wrong = server.manifest.wrong
        XCTAssertThrowsError(try FetchWeightsCommand.fetch(file: wrong.name, from: server.base, into: out, options: options(out))) { error in
            guard case FetchError.hashMismatch = error else { return XCTFail("expected a hash mismatch, got \(error)") }
            let message = "\(error)"
            XCTAssertTrue(message.contains(wrong.name) && message.contains("0123abcd") && message.contains(wrong.sha256), message)
        }
        XCTAssertFalse(exists(out.appendingPathComponent(wrong.name).path))
        XCTAssertFalse(exists(out.appendingPathComponent(wrong.name).path + ".partial"))
    }

    func testNotFoundNamesTheURL() throws {
        let server = try startServer()
        let out = try temporaryDirectory()
        let command = try FetchWeightsCommand.parse(["resnet18", "--url", server.base.absoluteString] + flags(out))
        XCTAssertThrowsError(try command.run()) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("404") && message.contains("\(server.base.absoluteString)/resnet18-f37072fd.pth"), message)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), [])
    }

    func testConnectionRefusedSaysHowToPlaceTheFileByHand() throws {
        // A port that was just ours and is now closed.
        let server = try startServer()
        let base = server.base
        server.stop()
        let out = try temporaryDirectory()
        let command = try FetchWeightsCommand.parse(["resnet18", "--url", base.absoluteString] + flags(out))
        XCTAssertThrowsError(try command.run()) { error in
            guard case FetchError.unreachable = error else { return XCTFail("expected unreachable, got \(error)") }
            let message = "\(error)"
            XCTAssertTrue(message.contains("place the file by hand"), message)
            XCTAssertTrue(message.contains(out.appendingPathComponent("resnet18-f37072fd.pth").path), message)
            XCTAssertTrue(message.contains("\(base.absoluteString)/resnet18-f37072fd.pth"), message)
        }
    }

    func testHymenopteraUnpacksAndRecordsItsHash() throws {
        let server = try startServer()
        let out = try temporaryDirectory()
        let zip = server.manifest.zip
        let url = server.base.appendingPathComponent(zip.name).absoluteString
        try FetchDataCommand.parse(["hymenoptera", "--url", url] + flags(out)).run()
        for folder in ["train/ants", "train/bees", "val/ants", "val/bees"] {
            let files = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("hymenoptera_data/\(folder)").path)
            XCTAssertEqual(files.sorted(), ["0.jpg", "1.jpg", "2.jpg"], folder)
        }
        let sidecar = try String(contentsOf: out.appendingPathComponent(zip.name + ".sha256"), encoding: .utf8)
        XCTAssertEqual(sidecar, "\(zip.sha256)  \(zip.name)\n")
        XCTAssertFalse(exists(out.appendingPathComponent(".hymenoptera_data.unpacking").path))
    }

    func testHashPrefixIsTorchHubs() {
        // HASH_REGEX.search in torch/hub.py: the first "-hex." in the name.
        XCTAssertEqual(torchHubHashPrefix("alexnet-owt-7be5be79.pth"), "7be5be79")
        XCTAssertEqual(torchHubHashPrefix("vgg11_bn-6002323d.pth"), "6002323d")
        XCTAssertNil(torchHubHashPrefix("weights.pth"))
    }

    // MARK: - Helpers

    private func flags(_ dir: URL) -> [String] { ["--dir", dir.path, "--quiet", "--timeout", "10"] }

    private func options(_ dir: URL) throws -> FetchOptions { try FetchOptions.parse(flags(dir)) }

    private func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    private func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fetch-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    private func startServer(_ arguments: [String] = []) throws -> TestServer {
        let server = try TestServer(directory: try temporaryDirectory(), arguments: arguments)
        addTeardownBlock { server.stop() }
        return server
    }
}

/// Scripts/fetch_server.py, run by python3 on 127.0.0.1 and an ephemeral port.
final class TestServer {
    struct Manifest: Decodable {
        struct File: Decodable { var name: String; var sha256: String; var size: Int }
        var port: Int
        var good: File
        var wrong: File
        var zip: File
    }
    struct Request: Decodable { var path: String; var range: String? }

    let directory: URL
    let process = Process()
    let manifest: Manifest
    let base: URL

    init(directory: URL, arguments: [String], readyWithin seconds: TimeInterval = 15) throws {
        self.directory = directory
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts/fetch_server.py")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, directory.path] + arguments
        try process.run()
        let manifestFile = directory.appendingPathComponent("manifest.json")
        let deadline = Date().addingTimeInterval(seconds)
        while !FileManager.default.fileExists(atPath: manifestFile.path) {
            guard process.isRunning, Date() < deadline else {
                process.terminate()
                throw ServerError("fetch_server.py did not start within \(seconds) s")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: manifestFile))
        guard let base = URL(string: "http://127.0.0.1:\(manifest.port)") else { throw ServerError("bad port \(manifest.port)") }
        self.base = base
    }

    func served(_ file: Manifest.File) -> URL {
        directory.appendingPathComponent("files").appendingPathComponent(file.name)
    }

    func requests() throws -> [Request] {
        let text = try String(contentsOf: directory.appendingPathComponent("requests.log"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    struct ServerError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
