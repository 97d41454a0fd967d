// liblinear's `model`: train, predict, predict_values, predict_probability, save_model, load_model.
// The model owns its weights (train copies them out of the problem), so it outlives the problem.
import CLinear

extension Linear {
    public final class Model {
        let raw: UnsafeMutablePointer<model>

        private init(_ raw: UnsafeMutablePointer<model>) {
            // train copies the parameter struct shallowly; its weight arrays were the caller's and
            // are gone now (load_model leaves these nil too).
            raw.pointee.param.weight_label = nil
            raw.pointee.param.weight = nil
            raw.pointee.param.init_sol = nil
            self.raw = raw
        }

        deinit {
            var p: UnsafeMutablePointer<model>? = raw
            free_and_destroy_model(&p)
        }

        /// liblinear's `train`.
        public static func train(_ problem: Problem, _ parameter: Parameter) throws -> Model {
            let m = try parameter.withC(for: problem) { p in problem.withC { CLinear.train($0, p) } }
            guard let m else { throw ClassifyError.liblinear("train returned no model") }
            return Model(m)
        }

        /// liblinear's `load_model`: a model file written by save_model or by liblinear-train.
        public static func load(path: String) throws -> Model {
            _ = Linear.quiet
            guard let m = load_model(path) else {
                throw ClassifyError.file(path: path, reason: "not a liblinear model file (load_model failed)")
            }
            return Model(m)
        }

        /// liblinear's `save_model`: the text format liblinear-predict reads.
        public func save(path: String) throws {
            if save_model(path, raw) != 0 { throw ClassifyError.file(path: path, reason: "save_model failed") }
        }

        /// The labels in the order of the weight columns (order of first appearance in training).
        public var labels: [Int32] {
            var l = [Int32](repeating: 0, count: Int(raw.pointee.nr_class))
            get_labels(raw, &l)
            return l
        }
        public var featureCount: Int { Int(get_nr_feature(raw)) }
        public var bias: Double { raw.pointee.bias }
        public var solverType: Int32 { raw.pointee.param.solver_type }
        public var givesProbabilities: Bool { check_probability_model(raw) != 0 }
        /// Number of decision values per code: 1 for two classes (except mcsvm_cs), else one per class.
        public var decisionCount: Int {
            let k = Int(raw.pointee.nr_class)
            return k == 2 && solverType != Int32(MCSVM_CS) ? 1 : k
        }

        /// The weight of feature `j` (0-based; `featureCount` is the bias) for label column `c`:
        /// liblinear's get_decfun_coef / get_decfun_bias.
        public func coefficient(feature j: Int, labelIndex c: Int) -> Double {
            j == featureCount ? get_decfun_bias(raw, Int32(c)) : get_decfun_coef(raw, Int32(j + 1), Int32(c))
        }

        /// Runs `body` on each row of `codes` laid out as liblinear's predict.c does (bias node included).
        private func eachRow(_ codes: [Float], dimension: Int, _ body: (Int, UnsafePointer<feature_node>) -> Void) {
            let nodes = UnsafeMutablePointer<feature_node>.allocate(capacity: dimension + 2)
            defer { nodes.deallocate() }
            codes.withUnsafeBufferPointer { c in
                for i in 0..<(codes.count / dimension) {
                    _ = Problem.fill(nodes, c[(i * dimension)..<(i * dimension + dimension)], bias: bias)
                    body(i, nodes)
                }
            }
        }

        private func checkDimension(_ dimension: Int) throws {
            if dimension != featureCount {
                throw ClassifyError.dimensionMismatch(expected: featureCount, got: dimension, what: "liblinear model")
            }
        }

        /// liblinear's `predict` for each row of `codes` (`n x dimension`).
        public func predict(_ codes: [Float], dimension: Int) throws -> [Int32] {
            try checkDimension(dimension)
            var out = [Int32](repeating: 0, count: codes.count / dimension)
            eachRow(codes, dimension: dimension) { i, x in out[i] = Int32(CLinear.predict(raw, x)) }
            return out
        }

        /// liblinear's `predict_values`: `n x decisionCount`, columns in `labels` order.
        public func decisionValues(_ codes: [Float], dimension: Int) throws -> [[Double]] {
            try checkDimension(dimension)
            var out = [[Double]](repeating: [], count: codes.count / dimension)
            var dec = [Double](repeating: 0, count: Int(raw.pointee.nr_class))
            eachRow(codes, dimension: dimension) { i, x in
                _ = predict_values(raw, x, &dec)
                out[i] = Array(dec[0..<decisionCount])
            }
            return out
        }

        /// liblinear's `predict_probability` (logistic solvers only): `n x classes`, columns in `labels` order.
        public func probabilities(_ codes: [Float], dimension: Int) throws -> [[Double]] {
            try checkDimension(dimension)
            guard givesProbabilities else { throw ClassifyError.solverLacksProbabilities("solver \(solverType)") }
            var out = [[Double]](repeating: [], count: codes.count / dimension)
            var prob = [Double](repeating: 0, count: Int(raw.pointee.nr_class))
            eachRow(codes, dimension: dimension) { i, x in
                _ = predict_probability(raw, x, &prob)
                out[i] = prob
            }
            return out
        }
    }
}
