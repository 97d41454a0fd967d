// Cosine nearest neighbours over BLAS against the plain-loop oracle, on ReLU-like sparse codes.
import XCTest
@testable import Classify

final class SimilarityTests: XCTestCase {
    func codes(_ n: Int, _ d: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<(n * d)).map { _ in
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            return max(0, Float(Int(s % 2001) - 1000) / 1000)  // ReLU: about half zeros
        }
    }

    func testNearestMatchesPlainLoop() throws {
        let d = 37
        let base = codes(200, d, seed: 88172645463325252), queries = codes(7, d, seed: 1234567)
        let sim = try Similarity(codes: base, dimension: d)
        for (batch, m) in [(Array(queries[0..<d]), 1), (queries, 7)] {  // sgemv and sgemm paths
            let fast = try sim.nearest(queries: batch, k: 5)
            let slow = Similarity.nearestReference(codes: base, queries: batch, dimension: d, k: 5)
            XCTAssertEqual(fast.count, m)
            for (f, s) in zip(fast, slow) {
                XCTAssertEqual(f.map(\.index), s.map(\.index))
                let diff = zip(f, s).map { abs($0.score - $1.score) }.max() ?? 0
                XCTAssertLessThan(diff, 1e-5, "max |score diff| \(diff)")
            }
        }
    }

    func testRejectsBadInput() {
        XCTAssertThrowsError(try Similarity(codes: [1, .nan, 0, 1], dimension: 2)) { XCTAssertTrue("\($0)".contains("row 0")) }
        XCTAssertThrowsError(try Similarity(codes: [], dimension: 2))
        XCTAssertThrowsError(try Similarity(codes: [1, 2, 3], dimension: 2))
    }
}
