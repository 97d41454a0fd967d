// Reads a codes file (schema in CodesMetadata.swift): metadata, labels and paths at once, codes per layer.

public struct CodesFile {
    public let path: String
    public let metadata: CodesMetadata
    /// False while `pipeline extract` is running, or if it was killed: then only `count` rows are valid.
    public let complete: Bool
    public let count: Int
    public let classes: [String]
    public let labels: [Int32]
    public let paths: [String]
    public let skipped: [String]
    private let file: H5File

    public init(path: String) throws {
        let file = try H5File.open(path)
        try checkFormatVersion(file)
        let attributes = file.attributes
        self.path = path
        self.file = file
        metadata = try CodesMetadata.read(from: attributes)
        complete = try attributes.int("complete") == 1
        let labels = try file.dataset("labels", of: Int32.self)
        let paths = try file.dataset("paths", of: String.self)
        var rows = [labels.rows, paths.rows]
        for layer in metadata.layers { rows.append(try file.dataset("codes/\(layer)", of: Float.self).rows) }
        count = validRows(numImages: try attributes.int("num_images"), datasetRows: rows)
        self.labels = try labels.read(rows: 0..<count)
        self.paths = try paths.read(rows: 0..<count)
        classes = try file.dataset("classes", of: String.self).read()
        skipped = try file.dataset("skipped", of: String.self).read()
    }

    /// The layers in the file, in the order the `layers` attribute lists them.
    public var layerNames: [String] { metadata.layers }

    public func dimension(of layer: String) throws -> Int {
        try dataset(layer).columns
    }

    /// Codes of `layer`, [count, D] row-major.
    public func codes(layer: String) throws -> [Float] {
        try dataset(layer).read(rows: 0..<count)
    }

    public func codes(layer: String, rows: Range<Int>) throws -> [Float] {
        guard rows.upperBound <= count else {
            throw H5Error.shape(file: path, object: "codes/\(layer)", expected: "rows \(rows)", found: "\(count) valid rows")
        }
        return try dataset(layer).read(rows: rows)
    }

    private func dataset(_ layer: String) throws -> Dataset<Float> {
        guard layerNames.contains(layer) else {
            throw H5Error.unknownLayer(file: path, layer: layer, available: layerNames)
        }
        let dataset = try file.dataset("codes/\(layer)", of: Float.self)
        guard dataset.shape.count == 2 else {
            throw H5Error.shape(file: path, object: "codes/\(layer)", expected: "[N, D]", found: "\(dataset.shape)")
        }
        return dataset
    }
}
