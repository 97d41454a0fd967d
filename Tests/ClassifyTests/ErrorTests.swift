// Bad input is refused with a message naming what is wrong.
import XCTest
@testable import Classify

final class ErrorTests: XCTestCase {
    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    func testBadFeatureSets() {
        let two = ["a", "b"]
        XCTAssertTrue(message { _ = try LinearClassifier.train(FeatureSet(codes: [], labels: [], classes: two, dimension: 2)) }.contains("empty"))
        XCTAssertTrue(message { _ = try LinearClassifier.train(FeatureSet(codes: [1, 2, 3, 4], labels: [1, 1], classes: two, dimension: 2)) }
            .contains("class `b`"))
        XCTAssertTrue(message { _ = try Softmax.train(FeatureSet(codes: [1, 2, 3, .infinity], labels: [0, 1], classes: two, dimension: 2)) }
            .contains("row 1, column 1"))
        XCTAssertTrue(message { _ = try LinearClassifier.train(FeatureSet(codes: [1, 2, 3, 4], labels: [0, 5], classes: two, dimension: 2)) }
            .contains("row 1 has label 5"))
    }

    func testDimensionMismatchAtPrediction() throws {
        let train = FeatureSet(codes: [1, 0, 0, 1, 1, 0.1, 0.1, 1], labels: [0, 1, 0, 1], classes: ["a", "b"], dimension: 2)
        let svm = try LinearClassifier.train(train)
        let soft = try Softmax.train(train)
        let three = FeatureSet(codes: [1, 2, 3], labels: [0], classes: ["a", "b"], dimension: 3)
        XCTAssertTrue(message { _ = try svm.predict(three) }.contains("expected dimension 2, got 3"))
        XCTAssertTrue(message { _ = try soft.probabilities(three) }.contains("expected dimension 2, got 3"))
    }

    func testBadParameters() {
        let f = FeatureSet(codes: [1, 0, 0, 1], labels: [0, 1], classes: ["a", "b"], dimension: 2)
        XCTAssertTrue(message { _ = try LinearClassifier.train(f, parameter: .init(C: 0)) }.contains("C must be positive"))
        XCTAssertTrue(message { _ = try LinearClassifier.load(path: "/nonexistent/model.svm") }.contains("model.svm.json"))
    }
}
