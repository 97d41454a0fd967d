// Softmax against scikit-learn's LogisticRegression (lbfgs, multinomial) and its gradient against
// central finite differences.
import Foundation
import XCTest
@testable import Classify

final class SoftmaxTests: XCTestCase {
    let ref = Golden.reference

    /// A small deterministic problem (xorshift), Double throughout.
    func smallProblem(n: Int = 23, d: Int = 5, k: Int = 3) -> (x: [Double], y: [Int32], theta: [Double]) {
        var s: UInt64 = 0x9E3779B97F4A7C15
        func next() -> Double { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return Double(s % 2_000_001) / 1_000_000 - 1 }
        let x = (0..<(n * d)).map { _ in next() }
        let y = (0..<n).map { Int32($0 % k) }
        let theta = (0..<(k * d + k)).map { _ in next() }
        return (x, y, theta)
    }

    /// The plain-loop Double objective's gradient against central differences (h = 1e-6): rel. error < 1e-6.
    func testGradientMatchesFiniteDifferences() {
        let (x, y, theta) = smallProblem()
        let f = { (t: [Double]) in Softmax.lossAndGradientReference(theta: t, codes: x, labels: y, dimension: 5, classes: 3, C: 0.7) }
        let g = f(theta).1
        var fd = [Double](repeating: 0, count: theta.count)
        let h = 1e-6
        for j in theta.indices {
            var p = theta, m = theta
            p[j] += h; m[j] -= h
            fd[j] = (f(p).0 - f(m).0) / (2 * h)
        }
        let diff = maxAbsDifference(g, fd), scale = g.map(abs).max() ?? 1
        print("gradient vs finite differences: max |diff| \(diff), max |g| \(scale)")
        XCTAssertLessThan(diff, 1e-6 * scale)
    }

    /// The BLAS (Float, sgemm) objective against the plain-loop Double oracle on digits.
    func testBLASLossMatchesPlainLoop() {
        let f = Golden.split.train.subset(Array(0..<300))
        let (_, _, t) = smallProblem(n: 1, d: 64, k: 10)
        let theta = t.map { $0 * 0.1 }
        let fast = Softmax.lossAndGradient(theta: theta, codes: f.codes, labels: f.labels, dimension: 64, classes: 10, C: 1)
        let slow = Softmax.lossAndGradientReference(theta: theta, codes: f.codes.map(Double.init), labels: f.labels,
                                                    dimension: 64, classes: 10, C: 1)
        let diff = maxAbsDifference(fast.1, slow.1)
        print("BLAS loss \(fast.0) vs plain loop \(slow.0); gradient max |diff| \(diff)")
        XCTAssertEqual(fast.0, slow.0, accuracy: 1e-5 * abs(slow.0))
        XCTAssertLessThan(diff, 1e-5)
    }

    /// predict_proba of LogisticRegression(C=1, tol=1e-10) on the held-out digits, ours at the default
    /// tolerance (largest mean-gradient component < 1e-6, near Float's resolution): max |diff| < 1e-3,
    /// accuracy within 1 point. The saved and reloaded model is held to the same reference.
    func testProbabilitiesMatchScikitLearn() throws {
        let (train, test) = Golden.split
        let m = try Softmax.train(train, C: ref.softmax.C)
        let p = try m.probabilities(test)
        let diff = maxAbsDifference(p.flatMap { $0 }, ref.softmax.test_proba.flatMap { $0 })
        let acc = accuracy(truth: test.labels, predicted: try m.predict(test))
        print("softmax C=\(ref.softmax.C): \(m.iterations) iterations, converged \(m.converged); "
              + "predict_proba max |diff| \(diff); accuracy \(acc) (scikit-learn \(ref.softmax.test_accuracy))")
        XCTAssertTrue(m.converged)
        XCTAssertLessThan(diff, 1e-3)
        XCTAssertEqual(acc, ref.softmax.test_accuracy, accuracy: 0.01)

        let path = try temporaryDirectory(self).appendingPathComponent("softmax.json").path
        try m.save(path: path)
        let loaded = try Softmax.load(path: path)
        let diffLoaded = maxAbsDifference(try loaded.probabilities(test).flatMap { $0 }, ref.softmax.test_proba.flatMap { $0 })
        XCTAssertLessThan(diffLoaded, 1e-3)
    }

    /// cross_val_score(LogisticRegression(C=1), cv=StratifiedKFold(5)) on all digits: within 1 point.
    func testCrossValidationMatchesScikitLearn() throws {
        let folds = stratifiedFolds(labels: Golden.digits.labels, k: 5)
        let acc = try Softmax.crossValidate(Golden.digits, C: ref.softmax.C, folds: folds, tolerance: 1e-5)
        print("softmax 5-fold CV \(acc), scikit-learn \(ref.softmax.cv5_accuracy)")
        XCTAssertEqual(acc, ref.softmax.cv5_accuracy, accuracy: 0.01)
    }

    func testSearchL2ReturnsGridPoint() throws {
        let r = try Softmax.searchL2(Golden.split.train, grid: [0.01, 1], folds: 3, normalization: .standard)
        XCTAssertEqual(r.accuracies.count, 2)
        XCTAssertTrue([0.01, 1].contains(r.C))
        XCTAssertEqual(r.C, r.accuracies[0] >= r.accuracies[1] ? 0.01 : 1)
    }
}
