import XCTest
@testable import Extract

final class TensorTests: XCTestCase {
    func testReshapeKeepsValues() {
        let t = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(t.reshaped([3, 2]).data, t.data)
        XCTAssertEqual(t.reshaped([3, 2]).shape, [3, 2])
    }
}
