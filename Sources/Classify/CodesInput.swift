// One layer of a codes file (H5/CodesFile.swift) as Classify consumes it: the codes, their labels, and
// the provenance a classifier records at training and checks at prediction.
import H5

public struct CodesInput {
    public let path: String
    public let layer: String
    public let file: CodesFile
    public let dimension: Int
    /// [count, dimension], row-major.
    public let codes: [Float]

    /// Reads `layer` of the codes file at `path`; with no layer, the file's only one. Refuses a file
    /// that `pipeline extract` has not finished, and one with no valid rows.
    public init(path: String, layer: String?) throws {
        let file = try CodesFile(path: path)
        let chosen: String
        if let layer {
            chosen = layer
        } else if file.layerNames.count == 1 {
            chosen = file.layerNames[0]
        } else {
            throw ClassifyError.file(path: path, reason: "holds layers \(file.layerNames.joined(separator: ", ")); choose one with --layer")
        }
        guard file.complete else {
            throw ClassifyError.file(path: path, reason: "is incomplete (\(file.count) rows valid): its extraction was interrupted; re-run the same `pipeline extract` command to finish it")
        }
        guard file.count > 0 else {
            throw ClassifyError.empty(what: "\(path) (layer `\(chosen)`: no codes)")
        }
        self.path = path
        self.file = file
        self.layer = chosen
        dimension = try file.dimension(of: chosen)
        codes = try file.codes(layer: chosen)
    }

    public var count: Int { file.count }

    /// The labelled feature set; every row must carry a class (codes extracted from an ImageFolder).
    public func features() throws -> FeatureSet {
        if let row = file.labels.firstIndex(where: { $0 < 0 }) {
            throw ClassifyError.file(path: path, reason: "row \(row) (`\(file.paths[row])`) has no class; training and evaluation need codes extracted with `pipeline extract --data DIR/<class>/<image>`")
        }
        let f = FeatureSet(codes: codes, labels: file.labels, classes: file.classes, dimension: dimension)
        do { try f.validate(training: false) } catch let e as ClassifyError {
            throw ClassifyError.file(path: path, reason: "layer `\(layer)`: \(e)")
        }
        return f
    }

    /// How these codes were made, as a classifier records it: everything that changes the codes
    /// (network, weights, layer, preprocessing, pooling, ReLU, normalisation, augmentation, background),
    /// nothing that does not (the tool version, the image folder).
    public var provenance: [String: String] { CodesInput.provenance(file.metadata, layer: layer) }

    public static let provenanceExcluded: Set<String> = ["source"]

    public static func provenance(_ m: CodesMetadata, layer: String) -> [String: String] {
        var p = m.extra.filter { !provenanceExcluded.contains($0.key) }
        p["model"] = m.model
        p["layer"] = layer
        p["weights_file"] = m.weightsFile
        p["weights_sha256"] = m.weightsSHA256
        p["preprocessing"] = m.preprocessing
        p["pooling"] = m.pooling
        return p
    }
}

extension FeatureSet {
    /// The codes of `layer` in `file` for `paths`, in that order and with those labels: how a batch run
    /// takes one image list's rows from a cached codes file that may hold more images. Paths the file
    /// lacks (images skipped as unreadable) are left out.
    public init(file: CodesFile, layer: String, paths: [String], labels: [Int32], classes: [String]) throws {
        let d = try file.dimension(of: layer)
        let all = try file.codes(layer: layer)
        var row: [String: Int] = [:]
        for (i, p) in file.paths.enumerated() { row[p] = i }
        var codes: [Float] = [], kept: [Int32] = []
        codes.reserveCapacity(paths.count * d)
        for (p, l) in zip(paths, labels) {
            guard let r = row[p] else { continue }
            codes.append(contentsOf: all[r * d ..< (r + 1) * d])
            kept.append(l)
        }
        self.init(codes: codes, labels: kept, classes: classes, dimension: d)
    }
}
