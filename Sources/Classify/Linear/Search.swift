// liblinear's cross_validation and find_parameters, and a grid over C for the solvers whose
// warm-start search liblinear 2.3 lacks.
import CLinear

extension Linear {
    /// liblinear's `cross_validation`: accuracy (0...1) over `folds` folds that liblinear draws at random
    /// (its own rand(), not stratified).
    public static func crossValidation(_ problem: Problem, _ parameter: Parameter, folds: Int) throws -> Double {
        guard folds >= 2, folds <= problem.count else {
            throw ClassifyError.invalidParameter("folds must be in 2...\(problem.count), got \(folds)")
        }
        var target = [Double](repeating: 0, count: problem.count)
        try parameter.withC(for: problem) { p in problem.withC { cross_validation($0, p, Int32(folds), &target) } }
        let correct = zip(target, problem.labels).reduce(0) { $0 + (Int32($1.0) == $1.1 ? 1 : 0) }
        return Double(correct) / Double(problem.count)
    }

    /// The C with the best cross-validation accuracy. For l2r_lr and l2r_l2loss_svc this is liblinear's
    /// `find_parameters` (warm-started, C doubling from its calc_start_C up to 1024; `grid` unused);
    /// for other solvers, `crossValidation` at each C of `grid` (ties go to the smaller C).
    public static func findParameters(_ problem: Problem, _ parameter: Parameter, folds: Int,
                                      grid: [Double] = Linear.defaultGrid) throws -> (C: Double, accuracy: Double) {
        if parameter.solver.supportsFindParameters {
            var bestC = 0.0, bestP = 0.0, bestScore = 0.0
            try parameter.withC(for: problem) { p in
                problem.withC { find_parameters($0, p, Int32(folds), -1, -1, &bestC, &bestP, &bestScore) }
            }
            return (bestC, bestScore)
        }
        guard !grid.isEmpty else { throw ClassifyError.invalidParameter("empty grid of C") }
        var best = (C: 0.0, accuracy: -1.0)
        for c in grid.sorted() {
            var p = parameter; p.C = c
            let a = try crossValidation(problem, p, folds: folds)
            if a > best.accuracy { best = (c, a) }
        }
        return best
    }

    /// C = 2^-10 ... 2^10, the range liblinear's find_parameters covers (its max_C is 1024).
    public static let defaultGrid: [Double] = (-10...10).map { (e: Int) -> Double in
        e >= 0 ? Double(1 << e) : 1 / Double(1 << -e)
    }
}
