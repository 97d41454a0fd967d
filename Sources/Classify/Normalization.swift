// Per-code normalisation fitted on the training codes and stored with the classifier, so prediction
// applies exactly what training saw.

public enum Normalization: Codable, Equatable, Sendable {
    case none
    /// Each row divided by its Euclidean norm (scikit-learn's `normalize`, rows of zeros left as is).
    case l2
    /// Each column minus its training mean, divided by its population standard deviation
    /// (scikit-learn's `StandardScaler`: a constant column is scaled by 1).
    case standard(mean: [Float], scale: [Float])

    public enum Kind: String, CaseIterable, Sendable { case none, l2, standard }

    public var kind: Kind {
        switch self {
        case .none: return .none
        case .l2: return .l2
        case .standard: return .standard
        }
    }

    /// Fits `kind` on `codes` (`n x dimension`, row-major); statistics accumulate in Double.
    public static func fit(_ kind: Kind, codes: [Float], dimension: Int) -> Normalization {
        switch kind {
        case .none: return .none
        case .l2: return .l2
        case .standard:
            let n = codes.count / dimension
            var sum = [Double](repeating: 0, count: dimension)
            for i in 0..<n { for j in 0..<dimension { sum[j] += Double(codes[i * dimension + j]) } }
            let mean = sum.map { $0 / Double(max(n, 1)) }
            var sq = [Double](repeating: 0, count: dimension)
            for i in 0..<n {
                for j in 0..<dimension { let d = Double(codes[i * dimension + j]) - mean[j]; sq[j] += d * d }
            }
            // StandardScaler's _handle_zeros_in_scale: a zero (or round-off) variance gives scale 1.
            let scale = sq.map { s -> Float in
                let sd = (s / Double(max(n, 1))).squareRoot()
                return sd < 10 * Double(Float.ulpOfOne) ? 1 : Float(sd)
            }
            return .standard(mean: mean.map { Float($0) }, scale: scale)
        }
    }

    /// Applies this normalisation to `codes` in place.
    public func apply(_ codes: inout [Float], dimension: Int) {
        let n = codes.count / dimension
        switch self {
        case .none:
            return
        case .l2:
            for i in 0..<n {
                var s = 0.0
                for j in 0..<dimension { let v = Double(codes[i * dimension + j]); s += v * v }
                guard s > 0 else { continue }
                let inv = Float(1 / s.squareRoot())
                for j in 0..<dimension { codes[i * dimension + j] *= inv }
            }
        case .standard(let mean, let scale):
            precondition(mean.count == dimension, "normalisation fitted on another dimension")
            for i in 0..<n { for j in 0..<dimension { codes[i * dimension + j] = (codes[i * dimension + j] - mean[j]) / scale[j] } }
        }
    }

    /// A copy of `features` with this normalisation applied.
    public func applied(to features: FeatureSet) -> FeatureSet {
        var f = features
        apply(&f.codes, dimension: f.dimension)
        return f
    }

    /// Throws if this normalisation was fitted on codes of another dimension.
    public func check(dimension: Int) throws {
        if case .standard(let mean, _) = self, mean.count != dimension {
            throw ClassifyError.dimensionMismatch(expected: mean.count, got: dimension, what: "standard normalisation")
        }
    }
}
