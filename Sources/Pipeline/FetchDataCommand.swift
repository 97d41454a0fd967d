// `pipeline fetch data NAME`: a small image data set in torchvision's ImageFolder layout.
import ArgumentParser
import Foundation

struct FetchDataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Download and unpack a data set into the data cache; print its folders.",
        discussion: """
            hymenoptera: the ants-vs-bees set of PyTorch's transfer-learning tutorial, about 120 \
            training and 75 validation images per class, unpacked as hymenoptera_data/{train,val}/{ants,bees}. \
            No checksum is published for it, so the archive's sha256 is recorded beside it in a .sha256 file \
            (sha256sum's format).
            """)

    enum DataSet: String, CaseIterable, ExpressibleByArgument {
        case hymenoptera

        var url: String {
            switch self {
            case .hymenoptera: return "https://download.pytorch.org/tutorial/hymenoptera_data.zip"
            }
        }
        /// The archive's top folder, and the ImageFolder class folders under it.
        var folder: String { "hymenoptera_data" }
        var folders: [String] { ["train/ants", "train/bees", "val/ants", "val/bees"] }
    }

    @Argument(help: "Data set to fetch.")
    var name: DataSet

    @Option(help: ArgumentHelp("URL of the archive (default: the data set's, e.g. \(DataSet.hymenoptera.url)).", valueName: "url"))
    var url: String?

    @OptionGroup var options: FetchOptions

    func validate() throws {
        if let url { _ = try parseURL(url, option: "--url") }
    }

    func run() throws {
        let dir = options.directory(default: Cache.data)
        let root = dir.appendingPathComponent(name.folder)
        if missingFolder(in: root) == nil {
            options.note("\(root.path) is already unpacked")
        } else {
            let archive = try fetchArchive(into: dir)
            try unpack(archive, into: dir)
        }
        for folder in name.folders {
            let path = root.appendingPathComponent(folder)
            let count = (try? FileManager.default.contentsOfDirectory(atPath: path.path))?.count ?? 0
            print("\(path.path)\t\(count) files")
        }
    }

    private func missingFolder(in root: URL) -> String? {
        name.folders.first { folder in
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: root.appendingPathComponent(folder).path, isDirectory: &isDirectory)
            return !(exists && isDirectory.boolValue)
        }
    }

    /// The archive, downloaded (or resumed) unless already present, with its sha256 recorded.
    private func fetchArchive(into dir: URL) throws -> URL {
        let source = try parseURL(url ?? name.url, option: "--url")
        let archive = dir.appendingPathComponent(source.lastPathComponent.isEmpty ? "\(name.rawValue).zip" : source.lastPathComponent)
        let sidecar = URL(fileURLWithPath: archive.path + ".sha256")
        let digest: String
        if FileManager.default.fileExists(atPath: archive.path) {
            if FileManager.default.fileExists(atPath: sidecar.path) { return archive }
            digest = try sha256Hex(of: archive)
        } else {
            options.note("downloading \(source.absoluteString)")
            digest = try Download(url: source, destination: archive, hashPrefix: nil,
                                  progress: options.style, timeout: options.timeout).run()
        }
        do {
            try Data("\(digest)  \(archive.lastPathComponent)\n".utf8).write(to: sidecar)
        } catch {
            throw FetchError.io(path: sidecar.path, reason: "cannot write: \(error.localizedDescription)")
        }
        options.note("no checksum is published for \(archive.lastPathComponent); its sha256 \(digest) is recorded in \(sidecar.path)")
        return archive
    }

    /// Unpacks into a staging folder and moves the data set into place only when it is whole.
    private func unpack(_ archive: URL, into dir: URL) throws {
        let fm = FileManager.default
        let staging = dir.appendingPathComponent(".\(name.folder).unpacking")
        try? fm.removeItem(at: staging)
        defer { try? fm.removeItem(at: staging) }
        do {
            try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        } catch {
            throw FetchError.io(path: staging.path, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        options.note("unpacking \(archive.path)")
        try Tool.unzip(archive, into: staging)
        let unpacked = staging.appendingPathComponent(name.folder)
        if let missing = missingFolder(in: unpacked) {
            throw FetchError.unpack(archive: archive, missing: "\(name.folder)/\(missing)")
        }
        let root = dir.appendingPathComponent(name.folder)
        do {
            try? fm.removeItem(at: root)
            try fm.moveItem(at: unpacked, to: root)
        } catch {
            throw FetchError.io(path: root.path, reason: "cannot move the unpacked data set into place: \(error.localizedDescription)")
        }
    }
}
