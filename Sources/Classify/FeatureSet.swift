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

    /// Row `i` as a slice of `codes`.
    public func row(_ i: Int) -> ArraySlice<Float> { codes[i * dimension ..< (i + 1) * dimension] }

    /// The rows at `indices`, in that order, with the same classes.
    public func subset(_ indices: [Int]) -> FeatureSet {
        var c = [Float](); c.reserveCapacity(indices.count * dimension)
        for i in indices { c.append(contentsOf: row(i)) }
        return FeatureSet(codes: c, labels: indices.map { labels[$0] }, classes: classes, dimension: dimension)
    }

    /// Throws on what no classifier can use: no rows, labels outside `classes`, NaN or infinite values,
    /// and (when `training`) fewer than two distinct classes.
    public func validate(training: Bool) throws {
        if count == 0 { throw ClassifyError.empty(what: "the feature set") }
        for (i, label) in labels.enumerated() where label < 0 || Int(label) >= classes.count {
            throw ClassifyError.labelOutOfRange(row: i, label: label, classes: classes.count)
        }
        for (k, v) in codes.enumerated() where !v.isFinite {
            throw ClassifyError.nonFinite(row: k / dimension, column: k % dimension, value: v)
        }
        if training, let first = labels.first, labels.allSatisfy({ $0 == first }) {
            throw ClassifyError.singleClass(label: classes[Int(first)])
        }
    }

    /// Throws unless these codes have the dimension a trained classifier expects.
    public func check(dimension expected: Int, what: String) throws {
        if dimension != expected { throw ClassifyError.dimensionMismatch(expected: expected, got: dimension, what: what) }
    }
}
