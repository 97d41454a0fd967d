// The engine's one level of threading: ops split their work into contiguous ranges run on
// `Parallelism.threads` workers, and OpenBLAS runs single-threaded inside each worker
// (two levels at once would oversubscribe the cores).
import CBLAS
import Dispatch
import CKernels
import Foundation

public enum Parallelism {
    /// Workers of the forward pass; the default is the machine's active cores.
    nonisolated(unsafe) public static var threads = max(1, ProcessInfo.processInfo.activeProcessorCount)
}

/// Once, before the first parallel op: OpenBLAS's own threads off and stopped (CBLAS/shim.h); and
/// glibc told to serve large blocks from its heap rather than fresh mmaps, so that each layer's
/// output reuses the memory the previous pass freed instead of page-faulting it in again (a tenth
/// of the CPU time otherwise).
private let blasSingleThreaded: Void = {
    openblas_set_num_threads(1)
    openblas_stop_threads()
    retain_large_blocks()
}()

extension Parallelism {
    /// Sets the engine's threading up now rather than at the first parallel op: the commands call it
    /// before they load a model (ModelOptions.load), so that OpenBLAS's idle threads do not spin
    /// through the loading.
    public static func prepare() {
        _ = blasSingleThreaded
    }
}

/// Splits 0..<count into at most `Parallelism.threads` contiguous ranges of at least `grain`
/// items, boundaries on multiples of `align`, and runs `body` on each concurrently, on the calling
/// thread and CKernels' worker pool (pool.c: its threads stay awake between back-to-back ops, where
/// Dispatch's would be woken through the kernel for each). A call from inside a body runs serially.
public func parallelRanges(_ count: Int, grain: Int = 1, align: Int = 1, _ body: (Range<Int>) -> Void) {
    _ = blasSingleThreaded
    let workers = max(1, min(Parallelism.threads, count / max(grain, 1)))
    if workers == 1 {
        if count > 0 { body(0..<count) }
        return
    }
    let step = ((count + workers - 1) / workers + align - 1) / align * align
    onPool(workers: workers, chunks: (count + step - 1) / step) { chunk in
        body(chunk * step..<min(count, (chunk + 1) * step))
    }
}

/// Runs body(i) for i in 0..<count on the calling thread and the worker pool, each taking the next
/// index not yet taken (uneven work evens out). Parallel ops inside body run serially.
public func parallelChunks(_ count: Int, _ body: (Int) -> Void) {
    _ = blasSingleThreaded
    onPool(workers: Parallelism.threads, chunks: count, body)
}

/// pool_for with a Swift closure: body(chunk) for chunk in 0..<chunks.
private func onPool(workers: Int, chunks: Int, _ body: (Int) -> Void) {
    withoutActuallyEscaping(body) { body in
        var job = body
        withUnsafeMutablePointer(to: &job) { p in
            pool_for(workers, chunks, { context, chunk in
                context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(chunk)
            }, p)
        }
    }
}

/// dst[i] = act(src[i] + bias) for i in 0..<count; src may equal dst. The output step of every
/// convolution and linear layer.
@inline(__always)
func biasActivate(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, bias b: Float,
                  _ a: Activation) {
    bias_act(src, dst, count, b, a.code)   // in C: Swift leaves this loop to SSE or scalar code
}

/// A scratch buffer of `count` floats for the duration of `body` (not initialised), aligned to a
/// cache line: the kernels' vectors are a cache line, and a load that straddles two costs two
/// (malloc's 16-byte alignment made most of them straddle).
@inline(__always)
public func withScratch<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
    defer { raw.deallocate() }
    return body(raw.bindMemory(to: Float.self, capacity: max(count, 1)))
}
