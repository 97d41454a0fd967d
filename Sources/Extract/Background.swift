// Work that runs beside the forward (or training) pass on the same cores: decoding the next batch.
// The pass splits each op into one range per core and waits for the slowest, so a decoding thread
// that takes a core from it for a while leaves the other core idle at the op's end. Decoding threads
// therefore run at the lowest priority (nice 19): the pass keeps the cores whenever it can use them,
// and decoding fills the gaps between its ops, or takes the cores when the pass waits for input.
import CKernels
import Foundation

/// Runs `body(i)` for i in 0..<iterations on `threads` new threads of the lowest scheduling priority
/// (nice 19 for those threads alone, on Linux) and returns when all are done.
public func concurrentPerformInBackground(iterations: Int, threads: Int = Parallelism.threads,
                                          _ body: @escaping (Int) -> Void) {
    nonisolated(unsafe) let body = body
    let workers = max(1, min(threads, iterations))
    let lock = NSLock()
    nonisolated(unsafe) var next = 0
    let done = DispatchGroup()
    for _ in 0..<workers {
        done.enter()
        let thread = Thread {
            _ = lower_thread_priority()
            while true {
                lock.lock()
                let i = next
                next += 1
                lock.unlock()
                if i >= iterations { break }
                body(i)
            }
            done.leave()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
    done.wait()
}
