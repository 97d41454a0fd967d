// A liblinear model with what it needs around it: class names, the normalisation fitted on the
// training codes, and the sidecar JSON (`model.svm` + `model.svm.json`).

public final class LinearClassifier {
    public let model: Linear.Model
    public private(set) var info: ClassifierInfo

    init(model: Linear.Model, info: ClassifierInfo) { self.model = model; self.info = info }

    /// Fits `normalization` on `features`, then liblinear's `train` on the normalised codes.
    public static func train(_ features: FeatureSet, parameter: Linear.Parameter = .init(),
                             normalization: Normalization.Kind = .none,
                             provenance: [String: String] = [:]) throws -> LinearClassifier {
        try features.validate(training: true)
        let norm = Normalization.fit(normalization, codes: features.codes, dimension: features.dimension)
        let problem = try Linear.Problem(norm.applied(to: features), bias: parameter.bias)
        let model = try Linear.Model.train(problem, parameter)
        let info = ClassifierInfo(kind: .svm, classes: features.classes, dimension: features.dimension,
                                  normalization: norm, solver: parameter.solver.rawValue, C: parameter.C,
                                  bias: parameter.bias, provenance: provenance)
        return LinearClassifier(model: model, info: info)
    }

    /// Accuracy over the given fold assignment (e.g. `stratifiedFolds`): normalisation is fitted on each
    /// training part alone, as scikit-learn's cross_val_score on a Pipeline does.
    public static func crossValidate(_ features: FeatureSet, parameter: Linear.Parameter = .init(),
                                     normalization: Normalization.Kind = .none, folds: [Int]) throws -> Double {
        try features.validate(training: true)
        var correct = 0
        for f in Set(folds).sorted() {
            let (tr, te) = split(folds: folds, f: f)
            let c = try train(features.subset(tr), parameter: parameter, normalization: normalization)
            let test = features.subset(te)
            correct += zip(try c.predict(test), test.labels).filter { $0 == $1 }.count
        }
        return Double(correct) / Double(features.count)
    }

    private func prepared(_ features: FeatureSet) throws -> FeatureSet {
        try features.check(dimension: info.dimension, what: "codes for this classifier")
        try features.validate(training: false)
        return info.normalization.applied(to: features)
    }

    /// Predicted class indices (into `info.classes`).
    public func predict(_ features: FeatureSet) throws -> [Int32] {
        let f = try prepared(features)
        return try model.predict(f.codes, dimension: f.dimension)
    }

    /// Decision values, `n x info.classes.count` in class order (scikit-learn's `classes_` order).
    /// With two classes liblinear computes one value, positive for its first label; it is given as
    /// +value for that class and -value for the other. Classes absent from training get -infinity.
    public func decisionValues(_ features: FeatureSet) throws -> [[Double]] {
        let f = try prepared(features)
        let raw = try model.decisionValues(f.codes, dimension: f.dimension)
        let labels = model.labels
        return raw.map { d in
            var row = [Double](repeating: -.infinity, count: info.classes.count)
            if d.count == 1 && labels.count == 2 {
                row[Int(labels[0])] = d[0]; row[Int(labels[1])] = -d[0]
            } else {
                for (c, l) in labels.enumerated() { row[Int(l)] = d[c] }
            }
            return row
        }
    }

    /// liblinear's probability estimates (logistic solvers), `n x info.classes.count` in class order.
    public func probabilities(_ features: FeatureSet) throws -> [[Double]] {
        guard model.givesProbabilities else { throw ClassifyError.solverLacksProbabilities(info.solver) }
        let f = try prepared(features)
        let raw = try model.probabilities(f.codes, dimension: f.dimension)
        let labels = model.labels
        return raw.map { p in
            var row = [Double](repeating: 0, count: info.classes.count)
            for (c, l) in labels.enumerated() { row[Int(l)] = p[c] }
            return row
        }
    }

    /// Writes liblinear's model file at `path` (readable by liblinear-predict) and the sidecar JSON.
    public func save(path: String) throws {
        try model.save(path: path)
        try info.write(path: ClassifierInfo.sidecarPath(for: path))
    }

    /// Reads a model file and its sidecar, checking they agree.
    public static func load(path: String) throws -> LinearClassifier {
        let info = try ClassifierInfo.read(path: ClassifierInfo.sidecarPath(for: path))
        let model = try Linear.Model.load(path: path)
        guard info.kind == .svm else {
            throw ClassifyError.file(path: path, reason: "sidecar describes a \(info.kind) classifier, not a liblinear one")
        }
        if model.featureCount != info.dimension {
            throw ClassifyError.dimensionMismatch(expected: info.dimension, got: model.featureCount, what: "\(path) against its sidecar")
        }
        try info.normalization.check(dimension: info.dimension)
        return LinearClassifier(model: model, info: info)
    }
}
