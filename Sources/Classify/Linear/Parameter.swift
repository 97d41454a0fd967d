// liblinear's `parameter`: a solver by its train.c name, C, the bias term, eps and class weights.
// Source: liblinear 2.3 (Debian liblinear-dev), linear.h and train.c.
import CLinear

/// Namespace for the thin liblinear wrapper: `Linear.Problem`, `Linear.Parameter`, `Linear.Model`.
public enum Linear {
    /// liblinear prints progress to stdout by default; the library stays quiet, callers report.
    static let quiet: Void = set_print_string_function { _ in }

    /// The linked library's version, e.g. 230 for 2.3.0.
    public static var version: Int { Int(liblinear_version) }
}

extension Linear {
    /// The classification solvers of liblinear, named as in linear.h's `solver_type` enum (lower case).
    public enum Solver: String, CaseIterable, Codable, Sendable {
        case l2r_lr, l2r_l2loss_svc_dual, l2r_l2loss_svc, l2r_l1loss_svc_dual, mcsvm_cs
        case l1r_l2loss_svc, l1r_lr, l2r_lr_dual

        public init(name: String) throws {
            guard let s = Solver(rawValue: name.lowercased()) else { throw ClassifyError.unknownSolver(name) }
            self = s
        }

        /// linear.h's solver_type constant (also liblinear-train's `-s` value).
        public var solverType: Int32 {
            switch self {
            case .l2r_lr: return Int32(L2R_LR)
            case .l2r_l2loss_svc_dual: return Int32(L2R_L2LOSS_SVC_DUAL)
            case .l2r_l2loss_svc: return Int32(L2R_L2LOSS_SVC)
            case .l2r_l1loss_svc_dual: return Int32(L2R_L1LOSS_SVC_DUAL)
            case .mcsvm_cs: return Int32(MCSVM_CS)
            case .l1r_l2loss_svc: return Int32(L1R_L2LOSS_SVC)
            case .l1r_lr: return Int32(L1R_LR)
            case .l2r_lr_dual: return Int32(L2R_LR_DUAL)
            }
        }

        /// train.c's default stopping tolerance for this solver (when `-e` is not given).
        public var defaultEps: Double {
            switch self {
            case .l2r_lr, .l2r_l2loss_svc, .l1r_l2loss_svc, .l1r_lr: return 0.01
            case .l2r_l2loss_svc_dual, .l2r_l1loss_svc_dual, .mcsvm_cs, .l2r_lr_dual: return 0.1
            }
        }

        /// Logistic solvers: liblinear's check_probability_model accepts them.
        public var givesProbabilities: Bool { self == .l2r_lr || self == .l1r_lr || self == .l2r_lr_dual }

        /// find_parameters' warm-start search over C exists in liblinear 2.3 only for -s 0 and -s 2.
        public var supportsFindParameters: Bool { self == .l2r_lr || self == .l2r_l2loss_svc }
    }

    /// Per-class multipliers of C (liblinear's `-wi`).
    public enum ClassWeight: Codable, Equatable, Sendable {
        case none
        /// scikit-learn's `class_weight="balanced"`: n_samples / (n_classes * count of the class).
        case balanced
        case custom([Int32: Double])

        /// The (label, weight) pairs for a training set with these labels.
        func weights(labels: [Int32]) -> [(Int32, Double)] {
            switch self {
            case .none: return []
            case .custom(let w): return w.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            case .balanced:
                var counts: [Int32: Int] = [:]
                for l in labels { counts[l, default: 0] += 1 }
                let n = Double(labels.count), k = Double(counts.count)
                return counts.sorted { $0.key < $1.key }.map { ($0.key, n / (k * Double($0.value))) }
            }
        }
    }

    /// What `train` is told; the C struct is built only for the duration of a call.
    public struct Parameter: Codable, Equatable, Sendable {
        public var solver: Solver
        public var C: Double
        /// liblinear's bias: each code gets an extra feature of this value (< 0: none). 1 matches
        /// LinearSVC's `intercept_scaling=1`; like LinearSVC, liblinear 2.3 penalises this weight.
        public var bias: Double
        /// Stopping tolerance; nil means train.c's default for the solver.
        public var eps: Double?
        public var classWeight: ClassWeight

        public init(solver: Solver = .l2r_l2loss_svc_dual, C: Double = 1, bias: Double = 1,
                    eps: Double? = nil, classWeight: ClassWeight = .none) {
            self.solver = solver; self.C = C; self.bias = bias; self.eps = eps; self.classWeight = classWeight
        }

        /// Calls `body` with liblinear's `parameter` for `problem`, after check_parameter accepts it.
        func withC<R>(for problem: Problem, _ body: (UnsafePointer<parameter>) throws -> R) throws -> R {
            _ = Linear.quiet
            guard C > 0 else { throw ClassifyError.invalidParameter("C must be positive, got \(C)") }
            let w = classWeight.weights(labels: problem.labels)
            var labels = w.map { $0.0 }, weights = w.map { $0.1 }
            return try labels.withUnsafeMutableBufferPointer { lp in
                try weights.withUnsafeMutableBufferPointer { wp in
                    var p = parameter(
                        solver_type: solver.solverType, eps: eps ?? solver.defaultEps, C: C,
                        nr_weight: Int32(w.count), weight_label: w.isEmpty ? nil : lp.baseAddress,
                        weight: w.isEmpty ? nil : wp.baseAddress, p: 0.1, init_sol: nil)
                    return try withUnsafePointer(to: &p) { pp in
                        try problem.withC { prob in
                            if let message = check_parameter(prob, pp) { throw ClassifyError.liblinear(String(cString: message)) }
                            return try body(pp)
                        }
                    }
                }
            }
        }
    }
}
