// Metrics against sklearn.metrics on the generator's fixed prediction vector.
import Foundation
import XCTest
@testable import Classify

final class MetricsTests: XCTestCase {
    let m = Golden.reference.metrics

    func testReportMatchesScikitLearn() throws {
        let r = try ClassificationReport(truth: m.y_true, predicted: m.y_pred, classes: (0..<10).map(String.init))
        XCTAssertEqual(r.confusion, m.confusion)
        XCTAssertEqual(r.support, m.support)
        XCTAssertEqual(r.accuracy, m.accuracy, accuracy: 1e-12)
        XCTAssertEqual(accuracy(truth: m.y_true, predicted: m.y_pred), m.accuracy, accuracy: 1e-12)
        for (name, ours, theirs) in [("precision", r.precision, m.precision), ("recall", r.recall, m.recall), ("f1", r.f1, m.f1),
                                     ("macro", [r.macro.precision, r.macro.recall, r.macro.f1], m.macro),
                                     ("weighted", [r.weighted.precision, r.weighted.recall, r.weighted.f1], m.weighted)] {
            let d = maxAbsDifference(ours, theirs)
            XCTAssertLessThan(d, 1e-12, "\(name) max |diff| \(d)")
        }
    }

    func testFormats() throws {
        let r = try ClassificationReport(truth: m.y_true, predicted: m.y_pred, classes: (0..<10).map { "digit \($0)" })
        let lines = r.table.split(separator: "\n")
        let perClass = lines.filter { $0.contains("digit") && $0.contains(".") }  // the per-class rows
        XCTAssertEqual(perClass.count, 10, r.table)
        XCTAssertEqual(Set(perClass.map(\.count)).count, 1, "per-class rows are not aligned:\n\(r.table)")
        let back = try JSONDecoder().decode(ClassificationReport.self, from: Data(try r.json().utf8))
        XCTAssertEqual(back, r)
        let csv = r.csv.split(separator: "\n")
        XCTAssertEqual(csv.count, 13)
        XCTAssertEqual(Double(csv[1].split(separator: ",")[1]), r.precision[0])
        XCTAssertEqual(r.confusionCSV.split(separator: "\n").count, 11)
    }

    func testRejectsBadInput() {
        XCTAssertThrowsError(try ClassificationReport(truth: [0, 1], predicted: [0], classes: ["a", "b"]))
        XCTAssertThrowsError(try ClassificationReport(truth: [0, 2], predicted: [0, 1], classes: ["a", "b"]))
        XCTAssertThrowsError(try ClassificationReport(truth: [], predicted: [], classes: ["a", "b"]))
    }
}
