// The worker pool behind parallelRanges and parallelChunks (CKernels' pool.c): every index runs
// exactly once, whether the call is nested in another's body, made from two threads at once, or
// made many times in a row (the pool's threads must never miss a job or run one twice).
import Foundation
import XCTest
@testable import Extract

final class ParallelTests: XCTestCase {
    private func counts(_ n: Int, _ run: (@escaping (Int) -> Void) -> Void) -> [Int] {
        let lock = NSLock()
        var seen = [Int](repeating: 0, count: n)
        run { i in lock.withLock { seen[i] += 1 } }
        return seen
    }

    func testEveryIndexRunsOnce() {
        let saved = Parallelism.threads
        defer { Parallelism.threads = saved }
        for threads in [2, 3] {
            Parallelism.threads = threads
            for n in [0, 1, 2, 5, 64, 1001] {
                for (grain, align) in [(1, 1), (7, 16)] {
                    let seen = counts(n) { mark in parallelRanges(n, grain: grain, align: align) { r in r.forEach(mark) } }
                    XCTAssertEqual(seen, [Int](repeating: 1, count: n), "parallelRanges(\(n), grain \(grain), align \(align)), \(threads) threads")
                }
                let seen = counts(n) { mark in parallelChunks(n, mark) }
                XCTAssertEqual(seen, [Int](repeating: 1, count: n), "parallelChunks(\(n)), \(threads) threads")
            }
        }
    }

    func testBackToBackCallsMissNothing() {
        let seen = counts(20_000) { mark in
            for job in 0..<10_000 { parallelRanges(2) { r in r.forEach { mark(2 * job + $0) } } }
        }
        XCTAssertEqual(seen.filter { $0 != 1 }.count, 0, "indices not run exactly once")
    }

    func testNestedAndConcurrentCalls() {
        let seen = counts(4 * 10 * 50) { mark in
            DispatchQueue.concurrentPerform(iterations: 4) { caller in
                parallelChunks(10) { i in
                    parallelRanges(50) { r in r.forEach { mark((caller * 10 + i) * 50 + $0) } }
                }
            }
        }
        XCTAssertEqual(seen.filter { $0 != 1 }.count, 0, "indices not run exactly once")
    }
}
