import XCTest
@testable import Classify

final class FeatureSetTests: XCTestCase {
    func testCount() {
        let f = FeatureSet(codes: [1, 2, 3, 4], labels: [0, 1], classes: ["a", "b"], dimension: 2)
        XCTAssertEqual(f.count, 2)
    }
}
