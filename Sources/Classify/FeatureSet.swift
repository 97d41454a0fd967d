// Codes and labels in memory: what every classifier in this module trains and predicts on.

/// `n` codes of length `dimension`, row-major, with integer labels indexing `classes`.
public struct FeatureSet: Sendable {
    public var codes: [Float]
    public var labels: [Int32]
    public var classes: [String]
    public var dimension: Int

    public var count: Int { labels.count }

    public init(codes: [Float], labels: [Int32], classes: [String], dimension: Int) {
        precondition(dimension > 0 && codes.count == labels.count * dimension, "codes do not match labels x dimension")
        self.codes = codes
        self.labels = labels
        self.classes = classes
        self.dimension = dimension
    }
}
