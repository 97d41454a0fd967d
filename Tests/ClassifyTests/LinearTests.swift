// The liblinear wrapper against scikit-learn (LinearSVC, liblinear-backed LogisticRegression) and against
// liblinear's own liblinear-train / liblinear-predict run on the same data.
import Foundation
import XCTest
@testable import Classify

final class LinearTests: XCTestCase {
    let ref = Golden.reference

    /// LinearSVC(C=0.1, squared hinge, l2, dual, intercept_scaling=1) on the fixed split: within 1 point.
    func testDefaultSolverMatchesLinearSVC() throws {
        let (train, test) = Golden.split
        let c = try LinearClassifier.train(train, parameter: .init(solver: .l2r_l2loss_svc_dual, C: ref.linear_svc.C))
        let acc = accuracy(truth: test.labels, predicted: try c.predict(test))
        print("l2r_l2loss_svc_dual C=\(ref.linear_svc.C): test accuracy \(acc), scikit-learn LinearSVC \(ref.linear_svc.test_accuracy)")
        XCTAssertEqual(acc, ref.linear_svc.test_accuracy, accuracy: 0.01)
    }

    /// 5-fold CV: on scikit-learn's own StratifiedKFold folds, and liblinear's random folds against
    /// scikit-learn's shuffled stratified folds (digits are ordered by writer, so unshuffled folds score lower).
    func testCrossValidationMatchesLinearSVC() throws {
        let p = Linear.Parameter(C: ref.linear_svc.C)
        let folds = stratifiedFolds(labels: Golden.digits.labels, k: 5)
        let ours = try LinearClassifier.crossValidate(Golden.digits, parameter: p, folds: folds)
        let liblinear = try Linear.crossValidation(try Linear.Problem(Golden.digits, bias: 1), p, folds: 5)
        print("5-fold CV: stratified \(ours) (scikit-learn \(ref.linear_svc.cv5_accuracy)); "
              + "liblinear cross_validation \(liblinear) (scikit-learn shuffled \(ref.linear_svc.cv5_shuffled_accuracy))")
        XCTAssertEqual(ours, ref.linear_svc.cv5_accuracy, accuracy: 0.01)
        XCTAssertEqual(liblinear, ref.linear_svc.cv5_shuffled_accuracy, accuracy: 0.01)
    }

    /// liblinear -s 0 is one-vs-rest logistic regression: OneVsRestClassifier(LogisticRegression(solver="liblinear")).
    func testLogisticSolverMatchesScikitLearn() throws {
        let (train, test) = Golden.split
        let c = try LinearClassifier.train(train, parameter: .init(solver: .l2r_lr, C: ref.liblinear_lr.C))
        let acc = accuracy(truth: test.labels, predicted: try c.predict(test))
        print("l2r_lr C=\(ref.liblinear_lr.C): test accuracy \(acc), scikit-learn \(ref.liblinear_lr.test_accuracy)")
        XCTAssertEqual(acc, ref.liblinear_lr.test_accuracy, accuracy: 0.01)
        let p = try c.probabilities(test)
        XCTAssertEqual(p.count, test.count)
        XCTAssertLessThan(p.map { abs($0.reduce(0, +) - 1) }.max() ?? 1, 1e-9)
        XCTAssertThrowsError(try LinearClassifier.train(train, parameter: .init(C: 1)).probabilities(test))
    }

    /// Our saved model, read by liblinear-predict, gives our predictions; so does our own load.
    func testSavedModelReadByLiblinearPredict() throws {
        try LiblinearTools.require()
        let dir = try temporaryDirectory(self)
        let (train, test) = Golden.split
        let c = try LinearClassifier.train(train, parameter: .init(C: ref.linear_svc.C), provenance: ["layer": "pixels"])
        let model = dir.appendingPathComponent("model.svm").path
        try c.save(path: model)
        let data = dir.appendingPathComponent("test.txt"), out = dir.appendingPathComponent("out.txt")
        try LiblinearTools.write(test, to: data)
        try LiblinearTools.run(LiblinearTools.predict, ["-q", data.path, model, out.path])
        let theirs = try String(contentsOf: out, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        let ours = try c.predict(test)
        XCTAssertEqual(theirs.count, test.count)
        let differing = zip(theirs, ours).filter { $0 != $1 }.count
        XCTAssertEqual(differing, 0, "\(differing) of \(test.count) predictions differ from liblinear-predict")

        let loaded = try LinearClassifier.load(path: model)
        XCTAssertEqual(try loaded.predict(test), theirs)
        XCTAssertEqual(loaded.info.provenance, ["layer": "pixels"])
        XCTAssertEqual(loaded.info.classes, train.classes)
    }

    /// Our problem (sparse rows, bias node, balanced weights) trains the same model as liblinear-train -s 2
    /// on the LIBSVM file of the same codes with scikit-learn's compute_class_weight("balanced") weights.
    /// -s 2 (primal trust-region Newton) draws no random numbers, so the weights agree up to rounding:
    /// measured 2.8e-8 relative (the BLAS level-1 calls inside TRON round differently across the two
    /// processes), hence a tolerance of 1e-6 relative to the largest weight.
    func testTrainMatchesLiblinearTrain() throws {
        try LiblinearTools.require()
        let dir = try temporaryDirectory(self)
        let train = Golden.split.train
        let data = dir.appendingPathComponent("train.txt"), theirsPath = dir.appendingPathComponent("theirs.model")
        try LiblinearTools.write(train, to: data)
        let weightArgs = ref.balanced_weights_train.enumerated().flatMap { ["-w\($0.offset)", "\($0.element)"] }
        try LiblinearTools.run(LiblinearTools.train, ["-q", "-s", "2", "-c", "0.1", "-B", "1"] + weightArgs + [data.path, theirsPath.path])
        let theirs = try Linear.Model.load(path: theirsPath.path)
        let ours = try Linear.Model.train(try Linear.Problem(train, bias: 1),
                                          .init(solver: .l2r_l2loss_svc, C: 0.1, bias: 1, classWeight: .balanced))
        XCTAssertEqual(ours.labels, theirs.labels)
        XCTAssertEqual(ours.featureCount, theirs.featureCount)
        var a: [Double] = [], b: [Double] = []
        for c in 0..<ours.decisionCount {
            for j in 0...ours.featureCount {
                a.append(ours.coefficient(feature: j, labelIndex: c)); b.append(theirs.coefficient(feature: j, labelIndex: c))
            }
        }
        let scale = b.map(abs).max() ?? 1
        let diff = maxAbsDifference(a, b)
        print("weights vs liblinear-train: max |diff| \(diff), max |w| \(scale)")
        XCTAssertLessThan(diff, 1e-6 * scale)
    }

    /// find_parameters against liblinear-train -C on the same file: both search C by doubling from the
    /// same start; folds are random (rand()), so the best accuracy is compared within 1 point.
    func testFindParametersMatchesLiblinearTrain() throws {
        try LiblinearTools.require()
        let dir = try temporaryDirectory(self)
        let train = Golden.split.train
        let data = dir.appendingPathComponent("train.txt")
        try LiblinearTools.write(train, to: data)
        let text = try LiblinearTools.run(LiblinearTools.train, ["-C", "-s", "2", "-B", "1", "-v", "5", data.path])
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("Best C") }),
              let theirAcc = line.split(separator: "=").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces).dropLast()) })
        else { return XCTFail("unexpected liblinear-train -C output:\n\(text)") }
        let best = try Linear.findParameters(try Linear.Problem(train, bias: 1), .init(solver: .l2r_l2loss_svc), folds: 5)
        print("find_parameters: C \(best.C), accuracy \(best.accuracy); liblinear-train: \(line)")
        XCTAssertEqual(best.accuracy * 100, theirAcc, accuracy: 1)

        // Solvers without warm start: a grid through cross_validation.
        let grid = try Linear.findParameters(try Linear.Problem(train, bias: 1), .init(solver: .mcsvm_cs), folds: 3, grid: [0.01, 0.1, 1])
        XCTAssertTrue([0.01, 0.1, 1].contains(grid.C))
        XCTAssertGreaterThan(grid.accuracy, 0.9)
    }

    /// Every solver trains and predicts on digits; each scores well above chance (sanity, not a reference).
    func testEverySolverTrains() throws {
        let (train, test) = Golden.split
        for s in Linear.Solver.allCases {
            let c = try LinearClassifier.train(train, parameter: .init(solver: s, C: 0.1), normalization: .standard)
            let acc = accuracy(truth: test.labels, predicted: try c.predict(test))
            XCTAssertGreaterThan(acc, 0.9, "\(s)")
            XCTAssertEqual(try c.decisionValues(test).first?.count, 10)
        }
    }

    /// Sparse storage counts the nonzeros numpy counts; digits' pixels are about half zeros.
    func testSparseProblemSize() throws {
        let p = try Linear.Problem(Golden.digits, bias: 1)
        XCTAssertEqual(p.nonzeros, ref.nonzeros)
        XCTAssertEqual(p.sparseBytes, (ref.nonzeros + 2 * 1797) * 16 + 1797 * 8)
        XCTAssertEqual(p.denseBytes, 1797 * 66 * 16 + 1797 * 8)
        print("digits problem: sparse \(p.sparseBytes) bytes, dense \(p.denseBytes) bytes, ratio \(Double(p.sparseBytes) / Double(p.denseBytes))")
    }

    func testProvenanceCheckNamesEachDifference() throws {
        let info = ClassifierInfo(kind: .svm, classes: ["a", "b"], dimension: 2, normalization: .none, solver: "x",
                                  C: 1, bias: 1, provenance: ["model": "alexnet", "layer": "fc7", "weights_sha256": "ab"])
        XCTAssertNoThrow(try info.check(provenance: ["model": "alexnet", "layer": "fc7", "weights_sha256": "ab"]))
        XCTAssertThrowsError(try info.check(provenance: ["model": "alexnet", "layer": "fc6"])) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("layer: classifier trained on `fc7`, codes have `fc6`"), text)
            XCTAssertTrue(text.contains("weights_sha256: classifier trained on `ab`, codes have `(absent)`"), text)
            XCTAssertFalse(text.contains("model:"), text)
        }
    }

    func testSolverNames() throws {
        XCTAssertEqual(try Linear.Solver(name: "mcsvm_cs"), .mcsvm_cs)
        XCTAssertEqual(Linear.Solver.l2r_l2loss_svc_dual.solverType, 1)  // liblinear-train -s 1
        XCTAssertEqual(Linear.Solver.l2r_lr_dual.solverType, 7)
        XCTAssertThrowsError(try Linear.Solver(name: "rbf")) { XCTAssertTrue("\($0)".contains("rbf")) }
    }
}
