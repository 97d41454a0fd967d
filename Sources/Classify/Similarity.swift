// Nearest neighbours by cosine similarity: codes are L2-normalised once, then a query's similarities to
// all of them are one cblas_sgemv (one cblas_sgemm for a batch of queries).
import CBLAS

public struct Similarity {
    public struct Neighbour: Equatable, Sendable { public var index: Int; public var score: Float }

    public let dimension: Int
    /// The codes, each row scaled to unit length (rows of zeros stay zero).
    public private(set) var codes: [Float]
    public var count: Int { codes.count / dimension }

    public init(codes: [Float], dimension: Int) throws {
        guard dimension > 0, codes.count % dimension == 0 else {
            throw ClassifyError.dimensionMismatch(expected: dimension, got: codes.count, what: "code count not a multiple of the dimension")
        }
        if codes.isEmpty { throw ClassifyError.empty(what: "the codes to search") }
        for (k, v) in codes.enumerated() where !v.isFinite {
            throw ClassifyError.nonFinite(row: k / dimension, column: k % dimension, value: v)
        }
        self.dimension = dimension
        var c = codes
        Normalization.l2.apply(&c, dimension: dimension)
        self.codes = c
    }

    /// The `k` codes most similar to each query (`m x dimension`), best first; ties by lower index.
    public func nearest(queries: [Float], k: Int) throws -> [[Neighbour]] {
        guard queries.count % dimension == 0 else {
            throw ClassifyError.dimensionMismatch(expected: dimension, got: queries.count % dimension, what: "query codes")
        }
        for (i, v) in queries.enumerated() where !v.isFinite {
            throw ClassifyError.nonFinite(row: i / dimension, column: i % dimension, value: v)
        }
        var q = queries
        Normalization.l2.apply(&q, dimension: dimension)
        let m = q.count / dimension, n = count
        var s = [Float](repeating: 0, count: m * n)
        if m == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(dimension), 1, codes, Int32(dimension),
                        q, 1, 0, &s, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(dimension),
                        1, q, Int32(dimension), codes, Int32(dimension), 0, &s, Int32(n))
        }
        return (0..<m).map { Similarity.top(Array(s[(i: $0, n: n)]), k: k) }
    }

    /// Plain-loop oracle for `nearest`: normalise, dot, sort.
    static func nearestReference(codes: [Float], queries: [Float], dimension d: Int, k: Int) -> [[Neighbour]] {
        func unit(_ v: ArraySlice<Float>) -> [Double] {
            let norm = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            return v.map { norm > 0 ? Double($0) / norm : 0 }
        }
        let rows = (0..<(codes.count / d)).map { unit(codes[($0 * d)..<($0 * d + d)]) }
        return (0..<(queries.count / d)).map { qi in
            let q = unit(queries[(qi * d)..<(qi * d + d)])
            let scores = rows.map { r in Float(zip(r, q).reduce(0.0) { $0 + $1.0 * $1.1 }) }
            return top(scores, k: k)
        }
    }

    static func top(_ scores: [Float], k: Int) -> [Neighbour] {
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        return order.prefix(max(0, k)).map { Neighbour(index: $0, score: scores[$0]) }
    }
}

private extension Array where Element == Float {
    /// Row `i` of an `? x n` matrix.
    subscript(row: (i: Int, n: Int)) -> ArraySlice<Float> { self[(row.i * row.n)..<(row.i * row.n + row.n)] }
}
