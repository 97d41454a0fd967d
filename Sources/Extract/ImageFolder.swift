// The image lists extraction runs over: torchvision's ImageFolder layout (DIR/<class>/**/<image>),
// or an unlabelled list of paths, one per line.
import Foundation

public enum DatasetError: Error, CustomStringConvertible {
    case missingFolder(String)
    case noClasses(String)
    case emptyClass(String, folder: String)
    case missingList(String)
    case emptyList(String)

    public var description: String {
        switch self {
        case .missingFolder(let p): return "\(p): no such folder"
        case .noClasses(let p): return "\(p): no class folders; expected torchvision's ImageFolder layout DIR/<class>/<image>"
        case let .emptyClass(c, folder): return "\(folder)/\(c): class folder holds no image files (.jpg, .jpeg, .png, ...)"
        case .missingList(let p): return "\(p): cannot read the image list"
        case .emptyList(let p): return "\(p): the image list names no files"
        }
    }
}

/// Images with labels: `paths[i]` (relative to `root`) has class `classes[labels[i]]`, label -1 if unlabelled.
public struct ImageList: Sendable {
    public var root: String
    public var classes: [String]
    public var paths: [String]
    public var labels: [Int32]

    public var count: Int { paths.count }

    public func absolutePath(_ i: Int) -> String {
        paths[i].hasPrefix("/") ? paths[i] : root + "/" + paths[i]
    }

    /// torchvision.datasets.ImageFolder's order: classes sorted by code point (Python's sorted()),
    /// each class folder walked recursively (following links), folders and file names sorted,
    /// files kept when their extension is an image extension (case-insensitive).
    public static func imageFolder(_ root: String) throws -> ImageList {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else { throw DatasetError.missingFolder(root) }
        let root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        let classes = try sortedEntries(root).filter { isDirectory(root + "/" + $0) && !$0.hasPrefix(".") }
        guard !classes.isEmpty else { throw DatasetError.noClasses(root) }
        var list = ImageList(root: root, classes: classes, paths: [], labels: [])
        for (label, name) in classes.enumerated() {
            let files = try walk(root + "/" + name, relative: name)
            guard !files.isEmpty else { throw DatasetError.emptyClass(name, folder: root) }
            list.paths += files
            list.labels += Array(repeating: Int32(label), count: files.count)
        }
        return list
    }

    /// An unlabelled list: one path per line (absolute, or relative to the list's folder); blank lines and #comments skipped.
    public static func pathList(_ file: String) throws -> ImageList {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw DatasetError.missingList(file) }
        let base = (file as NSString).deletingLastPathComponent
        let paths = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !paths.isEmpty else { throw DatasetError.emptyList(file) }
        return ImageList(root: base.isEmpty ? "." : base, classes: [], paths: paths, labels: Array(repeating: -1, count: paths.count))
    }

    /// Single files given on the command line.
    public static func files(_ files: [String]) -> ImageList {
        ImageList(root: ".", classes: [], paths: files, labels: Array(repeating: -1, count: files.count))
    }

    /// `for root, _, fnames in sorted(os.walk(dir)): for fname in sorted(fnames)`: folders in the
    /// order of their path strings, each folder's image files sorted.
    private static func walk(_ dir: String, relative: String) throws -> [String] {
        var folders: [(path: String, files: [String])] = []
        func visit(_ abs: String, _ rel: String) throws {
            var files: [String] = []
            for entry in try sortedEntries(abs) {
                if isDirectory(abs + "/" + entry) { try visit(abs + "/" + entry, rel + "/" + entry) }
                else if ImageDecoder.isImageFile(entry) { files.append(rel + "/" + entry) }
            }
            folders.append((rel, files))
        }
        try visit(dir, relative)
        folders.sort { $0.path.unicodeScalars.lexicographicallyPrecedes($1.path.unicodeScalars) }
        return folders.flatMap(\.files)
    }

    private static func sortedEntries(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}
