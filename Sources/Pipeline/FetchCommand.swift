// `pipeline fetch`: pretrained weights and data sets into the cache, resumable and hash-checked.
import ArgumentParser
import Foundation

struct FetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download pretrained weights or a data set into the cache (\(Cache.root.path) by default).",
        subcommands: [FetchWeightsCommand.self, FetchDataCommand.self])
}

struct FetchOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Directory to download into (default: the cache's weights/ or data/ folder; the cache is $PIPELINE_CACHE, else $XDG_CACHE_HOME/pipeline, else ~/.cache/pipeline).", valueName: "dir"))
    var dir: String?

    @Flag(help: "No progress or notes on stderr.")
    var quiet = false

    @Option(help: "Seconds without data before a download gives up.")
    var timeout: Double = 60

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive; got \(timeout)") }
    }

    func directory(default fallback: URL) -> URL {
        dir.map { URL(fileURLWithPath: $0) } ?? fallback
    }

    var style: DownloadProgress.Style { quiet ? .quiet : .auto }

    func note(_ text: String) {
        DownloadProgress(label: "", style: style).note(text)
    }
}

/// `--url` values: absolute http or https URLs.
func parseURL(_ text: String, option: String) throws -> URL {
    guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme) else {
        throw ValidationError("\(option) takes an http:// or https:// URL; got `\(text)`")
    }
    return url
}

/// External tools (pip, unzip), run through /usr/bin/env so PATH decides which.
enum Tool {
    static func exists(_ name: String) -> Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    }

    /// Runs the tool to completion; returns its exit status and its stdout and stderr together.
    @discardableResult
    static func run(_ arguments: [String], check: Bool = true) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            throw FetchError.tool(command: arguments.joined(separator: " "), status: -1, output: error.localizedDescription)
        }
        // Read before waiting: a full pipe would otherwise block the child forever.
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if check, process.terminationStatus != 0 {
            throw FetchError.tool(command: arguments.joined(separator: " "), status: process.terminationStatus, output: output)
        }
        return (process.terminationStatus, output)
    }

    /// Extracts a zip archive (or only `member` of it) into `directory`: Info-ZIP's unzip when
    /// installed, else Python's zipfile module.
    static func unzip(_ archive: URL, member: String? = nil, into directory: URL) throws {
        if exists("unzip") {
            try run(["unzip", "-q", "-o", archive.path] + (member.map { [$0] } ?? []) + ["-d", directory.path])
        } else if let member {
            let script = "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])"
            try run(["python3", "-c", script, archive.path, member, directory.path])
        } else {
            try run(["python3", "-m", "zipfile", "-e", archive.path, directory.path])
        }
    }
}
