// Multinomial logistic regression with an L2 penalty: scikit-learn's LogisticRegression(C=C) objective
//     sum_i cross-entropy(softmax(W x_i + b), y_i) + ||W||^2 / (2C),   b unpenalised,
// minimised by L-BFGS (LBFGS.swift). Logits and the weight gradient go through cblas_sgemm in Float;
// log-sum-exp, the loss and the bias gradient accumulate in Double.
import CBLAS
import Foundation

public struct Softmax: Codable {
    public var info: ClassifierInfo
    /// `classes x dimension`, row-major.
    public var weights: [Float]
    public var bias: [Float]
    /// L-BFGS iterations used in training, and whether it met its tolerance.
    public var iterations: Int
    public var converged: Bool

    var classCount: Int { info.classes.count }

    /// Fits `normalization`, then the weights. The objective is divided by n for conditioning, which
    /// leaves the minimiser unchanged; `tolerance` bounds the largest gradient component of that mean.
    public static func train(_ features: FeatureSet, C: Double = 1, normalization: Normalization.Kind = .none,
                             provenance: [String: String] = [:], maxIterations: Int = 1000,
                             tolerance: Double = 1e-6) throws -> Softmax {
        try features.validate(training: true)
        guard C > 0 else { throw ClassifyError.invalidParameter("C must be positive, got \(C)") }
        var present = Set<Int32>()
        for l in features.labels { present.insert(l) }
        if let missing = features.classes.indices.first(where: { !present.contains(Int32($0)) }) {
            // Its unpenalised bias would run to -infinity.
            throw ClassifyError.empty(what: "class `\(features.classes[missing])` in the training set")
        }
        let norm = Normalization.fit(normalization, codes: features.codes, dimension: features.dimension)
        let f = norm.applied(to: features)
        let k = features.classes.count, d = features.dimension
        var lbfgs = LBFGS()
        lbfgs.maxIterations = maxIterations
        lbfgs.gradientTolerance = tolerance
        let r = lbfgs.minimize([Double](repeating: 0, count: k * d + k)) { theta in
            lossAndGradient(theta: theta, codes: f.codes, labels: f.labels, dimension: d, classes: k, C: C)
        }
        let info = ClassifierInfo(kind: .softmax, classes: features.classes, dimension: d, normalization: norm,
                                  solver: "lbfgs", C: C, bias: 1, provenance: provenance)
        return Softmax(info: info, weights: r.x[0..<(k * d)].map { Float($0) }, bias: r.x[(k * d)...].map { Float($0) },
                       iterations: r.iterations, converged: r.converged)
    }

    /// Logits `n x k` = X W^T + b, by cblas_sgemm.
    static func logits(codes: [Float], n: Int, dimension d: Int, weights: [Float], bias: [Float]) -> [Float] {
        let k = bias.count
        var z = [Float](repeating: 0, count: n * k)
        for i in 0..<n { for c in 0..<k { z[i * k + c] = bias[c] } }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(k), Int32(d),
                    1, codes, Int32(d), weights, Int32(d), 1, &z, Int32(k))
        return z
    }

    /// Mean objective (loss / n) and its gradient at `theta` = [W (k x d, row-major), b (k)].
    static func lossAndGradient(theta: [Double], codes: [Float], labels: [Int32], dimension d: Int,
                                classes k: Int, C: Double) -> (Double, [Double]) {
        let n = labels.count
        let w = theta[0..<(k * d)].map { Float($0) }, b = theta[(k * d)...].map { Float($0) }
        var z = logits(codes: codes, n: n, dimension: d, weights: w, bias: b)
        var loss = 0.0
        var gradB = [Double](repeating: 0, count: k)
        // z becomes G = (P - Y) / n in place.
        for i in 0..<n {
            var m = -Double.infinity
            for c in 0..<k { m = max(m, Double(z[i * k + c])) }
            var s = 0.0
            for c in 0..<k { s += exp(Double(z[i * k + c]) - m) }
            let lse = m + log(s)
            let y = Int(labels[i])
            loss += lse - Double(z[i * k + y])
            for c in 0..<k {
                let g = (exp(Double(z[i * k + c]) - lse) - (c == y ? 1 : 0)) / Double(n)
                gradB[c] += g
                z[i * k + c] = Float(g)
            }
        }
        var gradW = [Float](repeating: 0, count: k * d)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(k), Int32(d), Int32(n),
                    1, z, Int32(k), codes, Int32(d), 0, &gradW, Int32(d))
        var penalty = 0.0
        var grad = [Double](repeating: 0, count: k * d + k)
        let lambda = 1 / (C * Double(n))
        for j in 0..<(k * d) {
            penalty += theta[j] * theta[j]
            grad[j] = Double(gradW[j]) + lambda * theta[j]
        }
        for c in 0..<k { grad[k * d + c] = gradB[c] }
        return (loss / Double(n) + lambda * penalty / 2, grad)
    }

    /// Plain-loop Double version of `lossAndGradient`: the oracle for the BLAS one in tests.
    static func lossAndGradientReference(theta: [Double], codes: [Double], labels: [Int32], dimension d: Int,
                                         classes k: Int, C: Double) -> (Double, [Double]) {
        let n = labels.count
        var loss = 0.0, grad = [Double](repeating: 0, count: k * d + k)
        for i in 0..<n {
            var z = [Double](repeating: 0, count: k)
            for c in 0..<k {
                z[c] = theta[k * d + c]
                for j in 0..<d { z[c] += theta[c * d + j] * codes[i * d + j] }
            }
            let m = z.max() ?? 0
            let lse = m + log(z.reduce(0) { $0 + exp($1 - m) })
            let y = Int(labels[i])
            loss += lse - z[y]
            for c in 0..<k {
                let g = exp(z[c] - lse) - (c == y ? 1 : 0)
                for j in 0..<d { grad[c * d + j] += g * codes[i * d + j] / Double(n) }
                grad[k * d + c] += g / Double(n)
            }
        }
        var penalty = 0.0
        for j in 0..<(k * d) { penalty += theta[j] * theta[j]; grad[j] += theta[j] / (C * Double(n)) }
        return (loss / Double(n) + penalty / (2 * C * Double(n)), grad)
    }

    private func prepared(_ features: FeatureSet) throws -> FeatureSet {
        try features.check(dimension: info.dimension, what: "codes for this classifier")
        try features.validate(training: false)
        return info.normalization.applied(to: features)
    }

    /// Class probabilities, `n x classes` in class order (scikit-learn's predict_proba).
    public func probabilities(_ features: FeatureSet) throws -> [[Double]] {
        let f = try prepared(features)
        let k = classCount
        let z = Softmax.logits(codes: f.codes, n: f.count, dimension: f.dimension, weights: weights, bias: bias)
        return (0..<f.count).map { i in
            let row = z[(i * k)..<(i * k + k)].map { Double($0) }
            let m = row.max() ?? 0
            let e = row.map { exp($0 - m) }
            let s = e.reduce(0, +)
            return e.map { $0 / s }
        }
    }

    /// The most probable class index of each code.
    public func predict(_ features: FeatureSet) throws -> [Int32] {
        try probabilities(features).map { p in Int32(p.indices.max(by: { p[$0] < p[$1] }) ?? 0) }
    }

    /// Accuracy over the given fold assignment, normalisation fitted on each training part alone.
    public static func crossValidate(_ features: FeatureSet, C: Double, normalization: Normalization.Kind = .none,
                                     folds: [Int], tolerance: Double = 1e-6) throws -> Double {
        try features.validate(training: true)
        var correct = 0
        for f in Set(folds).sorted() {
            let (tr, te) = split(folds: folds, f: f)
            let m = try train(features.subset(tr), C: C, normalization: normalization, tolerance: tolerance)
            let test = features.subset(te)
            correct += zip(try m.predict(test), test.labels).filter { $0 == $1 }.count
        }
        return Double(correct) / Double(features.count)
    }

    /// The C of `grid` with the best stratified `folds`-fold accuracy (scikit-learn's StratifiedKFold
    /// folds; ties go to the smaller C), and the accuracy at every C in grid order.
    public static func searchL2(_ features: FeatureSet, grid: [Double] = [0.01, 0.1, 1, 10, 100], folds: Int = 5,
                                normalization: Normalization.Kind = .none,
                                tolerance: Double = 1e-5) throws -> (C: Double, accuracies: [Double]) {
        guard !grid.isEmpty else { throw ClassifyError.invalidParameter("empty grid of C") }
        let assignment = stratifiedFolds(labels: features.labels, k: folds)
        let acc = try grid.map {
            try crossValidate(features, C: $0, normalization: normalization, folds: assignment, tolerance: tolerance)
        }
        var best = 0
        for i in grid.indices where acc[i] > acc[best] || (acc[i] == acc[best] && grid[i] < grid[best]) { best = i }
        return (grid[best], acc)
    }

    /// Writes this classifier as JSON (weights, bias, classes, normalisation, provenance).
    public func save(path: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        do { try e.encode(self).write(to: URL(fileURLWithPath: path)) } catch {
            throw ClassifyError.file(path: path, reason: "cannot write: \(error)")
        }
    }

    public static func load(path: String) throws -> Softmax {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ClassifyError.file(path: path, reason: "missing")
        }
        let s: Softmax
        do { s = try JSONDecoder().decode(Softmax.self, from: data) } catch {
            throw ClassifyError.file(path: path, reason: "not a softmax classifier: \(error)")
        }
        let k = s.info.classes.count, d = s.info.dimension
        guard s.info.kind == .softmax, s.weights.count == k * d, s.bias.count == k else {
            throw ClassifyError.file(path: path, reason: "weights are not \(k) x \(d) with \(k) biases")
        }
        try s.info.normalization.check(dimension: d)
        return s
    }
}
