// The codes file, format version 1: what `pipeline extract` writes and Classify reads.
//
//   /                 attributes format_version (int 1), model, weights_file, weights_sha256,
//                     layers ("fc6,fc7"), pooling, preprocessing, tool_version, complete (int 0/1),
//                     num_images (int, rows valid so far), and any extra string attributes
//   /codes/<layer>    float32 [N, D], one dataset per layer, in the order of `layers`
//   /labels           int32 [N], an index into classes, -1 when unlabelled
//   /paths            str [N], relative to the data root
//   /classes          str [C]
//   /skipped          str [K], "path: reason" for each file that could not be decoded
//
// In h5py: `f["codes/fc7"][:]`, `f["paths"].asstr()[:]`, `f.attrs["model"]` (a str).

public enum CodesSchema {
    public static let formatVersion = 1
    /// Root attributes the schema owns; every other string attribute is `CodesMetadata.extra`.
    public static let reservedAttributes: Set<String> = [
        "format_version", "model", "weights_file", "weights_sha256", "layers", "pooling", "preprocessing",
        "tool_version", "complete", "num_images",
    ]
}

/// What produced a codes file. Two runs with equal metadata produce interchangeable rows.
public struct CodesMetadata: Equatable, Sendable {
    public var model: String
    public var weightsFile: String
    public var weightsSHA256: String
    public var layers: [String]
    public var pooling: String
    public var preprocessing: String
    public var toolVersion: String
    public var extra: [String: String]

    public init(model: String, weightsFile: String, weightsSHA256: String, layers: [String], pooling: String,
                preprocessing: String, toolVersion: String, extra: [String: String] = [:]) {
        self.model = model
        self.weightsFile = weightsFile
        self.weightsSHA256 = weightsSHA256
        self.layers = layers
        self.pooling = pooling
        self.preprocessing = preprocessing
        self.toolVersion = toolVersion
        self.extra = extra
    }

    /// (attribute name, value) for every string attribute, schema fields first, extras sorted by name.
    var attributes: [(String, String)] {
        [("model", model), ("weights_file", weightsFile), ("weights_sha256", weightsSHA256),
         ("layers", layers.joined(separator: ",")), ("pooling", pooling), ("preprocessing", preprocessing),
         ("tool_version", toolVersion)] + extra.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Layer names become dataset names and are listed comma-separated, so neither character may appear.
    func validate(file: String) throws {
        if layers.isEmpty { throw H5Error.invalid(file: file, reason: "no layers to write") }
        for layer in layers where layer.isEmpty || layer.contains(",") || layer.contains("/") {
            throw H5Error.invalid(file: file, reason: "layer name `\(layer)` is empty or holds ',' or '/'")
        }
        if Set(layers).count != layers.count {
            throw H5Error.invalid(file: file, reason: "layers \(layers) name a layer twice")
        }
        for key in extra.keys where CodesSchema.reservedAttributes.contains(key) {
            throw H5Error.invalid(file: file, reason: "extra attribute `\(key)` would replace the schema's own")
        }
    }

    func write(to attributes: Attributes) throws {
        for (name, value) in self.attributes { try attributes.set(name, value) }
    }

    static func read(from attributes: Attributes) throws -> CodesMetadata {
        let layers = try attributes.string("layers")
        var extra: [String: String] = [:]
        for name in try attributes.names where !CodesSchema.reservedAttributes.contains(name) {
            // Extra attributes are strings by the schema; a number someone added with h5py is not metadata.
            if let value = try? attributes.string(name) { extra[name] = value }
        }
        return CodesMetadata(
            model: try attributes.string("model"), weightsFile: try attributes.string("weights_file"),
            weightsSHA256: try attributes.string("weights_sha256"),
            layers: layers.isEmpty ? [] : layers.split(separator: ",", omittingEmptySubsequences: false).map(String.init),
            pooling: try attributes.string("pooling"), preprocessing: try attributes.string("preprocessing"),
            toolVersion: try attributes.string("tool_version"), extra: extra)
    }

    /// The first field, in `attributes` order, whose value differs, as (name, existing, requested).
    func firstDifference(from requested: CodesMetadata) -> (String, String, String)? {
        let mine = Dictionary(attributes, uniquingKeysWith: { a, _ in a })
        let theirs = Dictionary(requested.attributes, uniquingKeysWith: { a, _ in a })
        for (name, _) in attributes + requested.attributes where mine[name] != theirs[name] {
            return (name, mine[name] ?? "(absent)", theirs[name] ?? "(absent)")
        }
        return nil
    }
}

/// Checks `format_version` before anything else is read, so an old or foreign file gets a clear message.
func checkFormatVersion(_ file: H5File) throws {
    let attributes = file.attributes
    guard try attributes.contains("format_version") else {
        throw H5Error.invalid(file: file.path,
                              reason: "not a codes file: no `format_version` attribute (codes files come from `pipeline extract`)")
    }
    let version = try attributes.int("format_version")
    guard version == CodesSchema.formatVersion else {
        throw H5Error.unsupportedVersion(file: file.path, found: version, supported: CodesSchema.formatVersion)
    }
}

/// Rows valid in an incomplete file: `num_images`, or fewer if a dataset is shorter (a kill during a flush
/// may have written the attribute but not every dataset's extent).
func validRows(numImages: Int, datasetRows: [Int]) -> Int {
    max(0, ([numImages] + datasetRows).min() ?? 0)
}
