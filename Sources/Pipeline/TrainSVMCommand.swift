// `pipeline train-svm`: liblinear on CNN codes; the model file stays readable by liblinear-predict.
import ArgumentParser
import Classify
import Foundation

struct TrainSVMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-svm",
        abstract: "Train a liblinear classifier (linear SVM or logistic regression) on CNN codes.",
        discussion: """
            Writes liblinear's own model file at --out (liblinear-predict reads it, given codes normalised as \
            --normalize says) and --out.json beside it: class names, normalisation, and where the codes came \
            from (model, layer, weights and their sha256, preprocessing, pooling, ReLU, L2, TTA), which \
            `pipeline evaluate` and `pipeline predict` check.
            With --search-c, C is chosen by stratified --folds-fold cross-validation (scikit-learn's \
            StratifiedKFold) over --grid; ties go to the smaller C.
            Example: pipeline train-svm --codes train.h5 --search-c --normalize l2 --out digits.svm
            """)

    @OptionGroup var input: TrainingCodesOptions

    @Option(help: ArgumentHelp("Model file to write; the description goes to <path>.json.", valueName: "path"))
    var out: String

    @Option(help: "liblinear solver: \(Linear.Solver.allCases.map(\.rawValue).joined(separator: ", ")).")
    var solver: String = Linear.Solver.l2r_l2loss_svc_dual.rawValue

    @Option(name: .customShort("C"), help: "Cost of misclassification (liblinear's -c) when not searching. (default: 1)")
    var C: Double?

    @Flag(name: .customLong("search-c"), help: "Choose C by cross-validation over --grid.")
    var searchC = false

    @Option(help: ArgumentHelp("Values of C tried by --search-c: comma-separated, or 2^A..2^B for powers of two.", valueName: "list"))
    var grid: String = "2^-10..2^10"

    @Option(help: "liblinear's bias term: each code gets an extra feature of this value; negative for none.")
    var bias: Double = 1

    @Option(name: .customLong("class-weight"), help: "none, or balanced: C of each class scaled by n / (classes * its count), as scikit-learn's class_weight=\"balanced\".")
    var classWeight: String = "none"

    @Option(help: "Stopping tolerance (liblinear's -e). (default: liblinear-train's for the solver: 0.01 primal, 0.1 dual)")
    var eps: Double?

    func validate() throws {
        _ = try Linear.Solver(name: solver)
        if searchC && C != nil { throw ValidationError("give -C or --search-c, not both") }
        if let C, !(C > 0) { throw ValidationError("-C must be positive, got \(C)") }
        if let eps, !(eps > 0) { throw ValidationError("--eps must be positive, got \(eps)") }
        guard ["none", "balanced"].contains(classWeight) else {
            throw ValidationError("--class-weight takes none or balanced; got `\(classWeight)`")
        }
        _ = try parseGrid(grid)
    }

    func run() throws {
        let (features, provenance, layer) = try input.load()
        let normalization = try input.normalization()
        var parameter = Linear.Parameter(solver: try Linear.Solver(name: solver), C: C ?? 1, bias: bias, eps: eps,
                                         classWeight: classWeight == "balanced" ? .balanced : .none)
        print("codes: \(input.codes) layer \(layer), \(features.count) x \(features.dimension), \(features.classes.count) classes")

        // The problem liblinear trains on, built here only to report its size: it is what train builds.
        do {
            let norm = Normalization.fit(normalization, codes: features.codes, dimension: features.dimension)
            let problem = try Linear.Problem(norm.applied(to: features), bias: bias)
            let saved = 1 - Double(problem.sparseBytes) / Double(problem.denseBytes)
            print(String(format: "sparse problem: %.1f MiB instead of %.1f MiB dense (%.1f%% saved; %.2f%% of features nonzero)",
                         Double(problem.sparseBytes) / 1048576, Double(problem.denseBytes) / 1048576, 100 * saved,
                         100 * Double(problem.nonzeros) / Double(problem.count * problem.dimension)))
        }

        if searchC {
            let grid = try parseGrid(grid)
            let folds = stratifiedFolds(labels: features.labels, k: input.folds)
            var best = (C: 0.0, accuracy: -1.0)
            let (_, seconds) = try timed {
                for c in grid.sorted() {
                    parameter.C = c
                    let a = try LinearClassifier.crossValidate(features, parameter: parameter, normalization: normalization, folds: folds)
                    if a > best.accuracy { best = (c, a) }
                }
            }
            parameter.C = best.C
            print(String(format: "search: C = %g, %d-fold cross-validation accuracy %.2f%% (%d values of C, %.2f s)",
                         best.C, input.folds, 100 * best.accuracy, grid.count, seconds))
        }
        let (classifier, seconds) = try timed {
            try LinearClassifier.train(features, parameter: parameter, normalization: normalization, provenance: provenance)
        }
        try classifier.save(path: out)
        print(String(format: "trained %@ with C = %g in %.3f s; wrote %@ and %@", parameter.solver.rawValue, parameter.C, seconds,
                     out, ClassifierInfo.sidecarPath(for: out)))
    }
}
