import XCTest
import H5

final class VersionTests: XCTestCase {
    func testLibraryVersionIsReported() {
        XCTAssertTrue(H5.libraryVersion.hasPrefix("1."), H5.libraryVersion)
    }
}
