// Writes a codes file batch by batch and resumes one left incomplete by a killed run.
//
// Crash safety: after every batch the writer sets `num_images` and flushes, so the file on disk is
// consistent and says how many rows are valid. A kill between flushes leaves that state (H5File.create never
// reuses freed space, so unflushed writes cannot overwrite flushed data); rows written after the last flush are
// cut off again on resume. A kill during a flush can leave a file HDF5 cannot open: it is started again.
import Foundation

public final class CodesWriter {
    public let path: String
    /// Rows already in the file: 0 for a new file, the valid rows of a resumed or complete one.
    public private(set) var rowsDone: Int = 0
    /// The file exists, is marked complete and has the requested metadata: nothing to do.
    public private(set) var alreadyComplete = false
    /// Set when an unreadable file at `path` was replaced; callers show it to the user.
    public private(set) var warning: String?
    /// `paths` and `skipped` entries already in a resumed file, so the caller can skip those inputs.
    public private(set) var pathsDone: [String] = []
    public private(set) var skippedDone: [String] = []

    private var file: H5File?
    private var codes: [(layer: String, dataset: Dataset<Float>)] = []
    private var labels: Dataset<Int32>?
    private var paths: Dataset<String>?
    private var skipped: Dataset<String>?

    /// Creates `path`, resumes it when it is incomplete with equal metadata, or throws `.mismatch` naming the
    /// first differing field unless `overwrite`. `layerDimensions` lists `metadata.layers` in order with each
    /// code length. `gzip` compresses the codes (deflate level, with shuffle).
    public init(path: String, metadata: CodesMetadata, layerDimensions: [(String, Int)], classes: [String],
                overwrite: Bool, gzip: Int? = nil) throws {
        self.path = path
        try metadata.validate(file: path)
        guard layerDimensions.map({ $0.0 }) == metadata.layers else {
            throw H5Error.invalid(file: path, reason: "layer dimensions are given for \(layerDimensions.map { $0.0 }), "
                                  + "but the metadata lists layers \(metadata.layers)")
        }
        if overwrite || !FileManager.default.fileExists(atPath: path) {
            try create(metadata, layerDimensions, classes, gzip)
            return
        }
        let existing: H5File
        do {
            existing = try H5File.open(path, mode: .readWrite)
        } catch {
            // A complete file was closed cleanly and opens; one that does not was killed mid-write, unless it
            // is not HDF5 at all, which is somebody else's file.
            guard H5File.hasSignature(path) else {
                throw H5Error.invalid(file: path, reason: "exists and is not an HDF5 file; "
                                      + "choose another output path or pass --overwrite to replace it")
            }
            warning = "\(path) could not be opened (\(error)); it was never marked complete, so it is started again"
            try create(metadata, layerDimensions, classes, gzip)
            return
        }
        try resume(existing, metadata, layerDimensions, classes)
    }

    private func create(_ metadata: CodesMetadata, _ layerDimensions: [(String, Int)], _ classes: [String],
                        _ gzip: Int?) throws {
        let file = try H5File.create(path)
        let attributes = file.attributes
        try attributes.set("format_version", CodesSchema.formatVersion)
        try metadata.write(to: attributes)
        try attributes.set("complete", 0)
        try attributes.set("num_images", 0)
        try file.createGroup("codes")
        codes = try layerDimensions.map { layer, dimension in
            (layer, try file.createDataset("codes/\(layer)", of: Float.self, columns: dimension, gzip: gzip))
        }
        labels = try file.createDataset("labels", of: Int32.self)
        paths = try file.createDataset("paths", of: String.self)
        try file.createDataset("classes", of: String.self).append(rows: classes)
        skipped = try file.createDataset("skipped", of: String.self)
        try file.flush()
        self.file = file
    }

    private func resume(_ file: H5File, _ metadata: CodesMetadata, _ layerDimensions: [(String, Int)],
                        _ classes: [String]) throws {
        try checkFormatVersion(file)
        let attributes = file.attributes
        let existing = try CodesMetadata.read(from: attributes)
        if let (field, old, new) = existing.firstDifference(from: metadata) {
            throw H5Error.mismatch(file: path, field: field, existing: old, requested: new)
        }
        let existingClasses = try file.dataset("classes", of: String.self).read()
        if existingClasses != classes {
            throw H5Error.mismatch(file: path, field: "classes", existing: existingClasses.joined(separator: ","),
                                   requested: classes.joined(separator: ","))
        }
        codes = try layerDimensions.map { layer, dimension in
            let dataset = try file.dataset("codes/\(layer)", of: Float.self)
            if dataset.shape.count != 2 || dataset.columns != dimension {
                throw H5Error.mismatch(file: path, field: "codes/\(layer) dimension",
                                       existing: "\(dataset.shape.dropFirst())", requested: "\(dimension)")
            }
            return (layer, dataset)
        }
        let labels = try file.dataset("labels", of: Int32.self)
        let paths = try file.dataset("paths", of: String.self)
        let skipped = try file.dataset("skipped", of: String.self)
        let rows = validRows(numImages: try attributes.int("num_images"),
                             datasetRows: codes.map { $0.dataset.rows } + [labels.rows, paths.rows])
        rowsDone = rows
        alreadyComplete = try attributes.int("complete") == 1
        pathsDone = try paths.read(rows: 0..<rows)
        skippedDone = try skipped.read()
        if alreadyComplete { return }

        for (_, dataset) in codes where dataset.rows != rows { try dataset.resize(rows: rows) }
        if labels.rows != rows { try labels.resize(rows: rows) }
        if paths.rows != rows { try paths.resize(rows: rows) }
        try attributes.set("num_images", rows)
        try file.flush()
        (self.file, self.labels, self.paths, self.skipped) = (file, labels, paths, skipped)
    }

    /// Appends a batch: `codes[layer]` holds `labels.count` rows for every layer, row-major. Then records the
    /// new row count and flushes, so a kill loses at most the batch in flight.
    public func append(codes batch: [String: [Float]], labels batchLabels: [Int32], paths batchPaths: [String]) throws {
        guard let file, let labels, let paths else { throw closedError() }
        let n = batchLabels.count
        guard batchPaths.count == n else {
            throw H5Error.invalid(file: path, reason: "a batch of \(n) labels comes with \(batchPaths.count) paths")
        }
        if let unknown = batch.keys.first(where: { key in !codes.contains { $0.layer == key } }) {
            throw H5Error.unknownLayer(file: path, layer: unknown, available: codes.map { $0.layer })
        }
        for (layer, dataset) in codes {
            guard let values = batch[layer] else { throw H5Error.missing(file: path, object: "codes/\(layer) in the batch") }
            guard values.count == n * dataset.columns else {
                throw H5Error.shape(file: path, object: "codes/\(layer)", expected: "\(n) x \(dataset.columns) values",
                                    found: "\(values.count) values")
            }
        }
        for (layer, dataset) in codes { try dataset.append(rows: batch[layer] ?? []) }
        try labels.append(rows: batchLabels)
        try paths.append(rows: batchPaths)
        rowsDone += n
        try file.attributes.set("num_images", rowsDone)
        try file.flush()
    }

    /// Records inputs that could not be decoded, as "path: reason".
    public func addSkipped(_ entries: [String]) throws {
        guard let file, let skipped else { throw closedError() }
        try skipped.append(rows: entries)
        try file.flush()
    }

    /// Marks the file complete and closes it. Does nothing for a file that was already complete.
    public func finish() throws {
        guard let file else {
            if alreadyComplete { return }
            throw closedError()
        }
        try file.attributes.set("num_images", rowsDone)
        try file.attributes.set("complete", 1)
        try file.flush()
        // Datasets hold the file open (HDF5's weak close), so they go first.
        (codes, labels, paths, skipped, self.file) = ([], nil, nil, nil, nil)
        try file.close()
    }

    private func closedError() -> H5Error {
        .invalid(file: path, reason: alreadyComplete ? "the file is already complete" : "the writer is finished")
    }
}
