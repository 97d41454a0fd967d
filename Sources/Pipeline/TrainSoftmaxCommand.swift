// `pipeline train-softmax`: multinomial logistic regression (scikit-learn's LogisticRegression objective)
// on CNN codes, trained by L-BFGS in Swift.
import ArgumentParser
import Classify
import Foundation

struct TrainSoftmaxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-softmax",
        abstract: "Train a softmax (multinomial logistic regression) classifier on CNN codes.",
        discussion: """
            Minimises the cross-entropy plus ||W||^2 / (2C), as scikit-learn's LogisticRegression(C=C) does, \
            with an unpenalised bias. Writes the weights as JSON at --out and the description (classes, \
            normalisation, provenance of the codes) at --out.json.
            With --search-l2, C is chosen by stratified --folds-fold cross-validation over --grid.
            Example: pipeline train-softmax --codes train.h5 --search-l2 --normalize l2 --out digits.softmax
            """)

    @OptionGroup var input: TrainingCodesOptions

    @Option(help: ArgumentHelp("Classifier file to write; the description goes to <path>.json.", valueName: "path"))
    var out: String

    @Option(help: "Inverse L2 penalty C when not searching (scikit-learn's C). (default: 1)")
    var l2: Double?

    @Flag(name: .customLong("search-l2"), help: "Choose C by cross-validation over --grid.")
    var searchL2 = false

    @Option(help: ArgumentHelp("Values of C tried by --search-l2: comma-separated, or 2^A..2^B.", valueName: "list"))
    var grid: String = "0.01,0.1,1,10,100"

    @Option(name: .customLong("max-iterations"), help: "L-BFGS iterations at most.")
    var maxIterations: Int = 1000

    @Option(help: "L-BFGS stops when the largest gradient component of the mean loss is below this.")
    var tolerance: Double = 1e-6

    func validate() throws {
        if searchL2 && l2 != nil { throw ValidationError("give --l2 or --search-l2, not both") }
        if let l2, !(l2 > 0) { throw ValidationError("--l2 must be positive, got \(l2)") }
        guard maxIterations > 0, tolerance > 0 else { throw ValidationError("--max-iterations and --tolerance must be positive") }
        _ = try parseGrid(grid)
    }

    func run() throws {
        let (features, provenance, layer) = try input.load()
        let normalization = try input.normalization()
        print("codes: \(input.codes) layer \(layer), \(features.count) x \(features.dimension), \(features.classes.count) classes")
        var C = l2 ?? 1
        if searchL2 {
            let grid = try parseGrid(grid)
            let (r, seconds) = try timed {
                try Softmax.searchL2(features, grid: grid, folds: input.folds, normalization: normalization, tolerance: tolerance)
            }
            C = r.C
            let table = zip(grid, r.accuracies).map { String(format: "%g: %.2f%%", $0, 100 * $1) }.joined(separator: ", ")
            print(String(format: "search: C = %g, %d-fold cross-validation accuracy %.2f%% (%@; %.2f s)", C, input.folds,
                         100 * (r.accuracies.max() ?? 0), table, seconds))
        }
        let (model, seconds) = try timed {
            try Softmax.train(features, C: C, normalization: normalization, provenance: provenance,
                              maxIterations: maxIterations, tolerance: tolerance)
        }
        if !model.converged { warn("L-BFGS stopped after \(model.iterations) iterations without meeting --tolerance \(tolerance)") }
        try model.save(path: out)
        try writeSidecar(model.info, for: out)
        print(String(format: "trained softmax with C = %g in %.3f s (%d L-BFGS iterations); wrote %@ and %@", C, seconds,
                     model.iterations, out, ClassifierInfo.sidecarPath(for: out)))
    }
}
