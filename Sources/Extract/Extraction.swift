// One extraction run: images decoded and preprocessed on a background thread (all cores) while the
// network runs on the previous batch, codes appended to an HDF5 file batch by batch, resumable.
import Dispatch
import Foundation
import H5

/// What a run reports as it goes, for a progress display.
public struct ExtractionProgress: Sendable {
    public var done: Int        // images handled so far in this run, written or skipped
    public var total: Int       // images this run has to handle
    public var resumed: Int     // images already in the file when the run started
}

public enum ExtractionError: Error, CustomStringConvertible {
    case unreadableImage(String, underlying: Error)

    public var description: String {
        switch self {
        case let .unreadableImage(path, error): return "\(path): \(error) (without --strict such images are skipped and listed in `skipped`)"
        }
    }
}

public final class Extraction {
    public let extractor: CodeExtractor
    public let list: ImageList
    public var batchSize = 16
    /// Fail on the first unreadable image instead of skipping it.
    public var strict = false
    /// Composite transparent images onto this colour instead of dropping alpha as PIL's convert("RGB") does.
    public var background: (UInt8, UInt8, UInt8)?
    /// Called after every batch, on the calling thread.
    public var onProgress: ((ExtractionProgress) -> Void)?
    /// Called for every skipped image with "path: reason".
    public var onSkip: ((String) -> Void)?

    public init(extractor: CodeExtractor, list: ImageList) {
        self.extractor = extractor
        self.list = list
    }

    /// A decoded, preprocessed image, or the reason it could not be read.
    private enum Item {
        case input(index: Int, data: [Float])
        case skipped(index: Int, reason: String)
    }

    /// Runs over every image not yet in `writer`'s file, then marks the file complete.
    public func run(into writer: CodesWriter) throws {
        if writer.alreadyComplete { return }
        let done = Set(writer.pathsDone)
        let skippedBefore = writer.skippedDone
        let todo = (0..<list.count).filter { i in
            let p = list.paths[i]
            return !done.contains(p) && !skippedBefore.contains { $0.hasPrefix(p + ": ") }
        }
        var progress = ExtractionProgress(done: 0, total: todo.count, resumed: list.count - todo.count)
        onProgress?(progress)

        let batches = stride(from: 0, to: todo.count, by: batchSize).map { Array(todo[$0..<min($0 + batchSize, todo.count)]) }
        let queue = BoundedQueue<[Item]>(capacity: 2)
        let producer = Thread { [self] in
            for batch in batches {
                if queue.isCancelled { break }
                queue.put(decode(batch))
            }
            queue.close()
        }
        producer.stackSize = 8 << 20
        producer.start()
        defer { queue.cancel() }

        while let items = queue.take() {
            var inputs: [[Float]] = [], indices: [Int] = [], skipped: [String] = []
            for item in items {
                switch item {
                case let .input(index, data):
                    inputs.append(data)
                    indices.append(index)
                case let .skipped(index, reason):
                    if strict {
                        throw ExtractionError.unreadableImage(list.absolutePath(index), underlying: SkipReason(reason))
                    }
                    skipped.append("\(list.paths[index]): \(reason)")
                }
            }
            if !inputs.isEmpty {
                let codes = try extractor.codes(inputs: inputs)
                try writer.append(codes: codes, labels: indices.map { list.labels[$0] }, paths: indices.map { list.paths[$0] })
            }
            if !skipped.isEmpty {
                try writer.addSkipped(skipped)
                skipped.forEach { onSkip?($0) }
            }
            progress.done += items.count
            onProgress?(progress)
        }
        try writer.finish()
    }

    /// Decodes and preprocesses a batch on all cores.
    private func decode(_ batch: [Int]) -> [Item] {
        let items = Slots<Item>(batch.count)
        concurrentPerformInBackground(iterations: batch.count) { [self] j in
            let index = batch[j]
            do {
                items[j] = .input(index: index, data: try extractor.input(for: ImageDecoder.decode(path: list.absolutePath(index), background: background)))
            } catch {
                items[j] = .skipped(index: index, reason: "\(error)")
            }
        }
        return items.values.compactMap { $0 }
    }
}

/// Results written by concurrent workers, one slot each.
public final class Slots<T>: @unchecked Sendable {
    private var slots: [T?]
    private let lock = NSLock()
    public init(_ count: Int) { slots = Array(repeating: nil, count: count) }
    public subscript(i: Int) -> T? {
        get { lock.lock(); defer { lock.unlock() }; return slots[i] }
        set { lock.lock(); slots[i] = newValue; lock.unlock() }
    }
    public var values: [T?] { lock.lock(); defer { lock.unlock() }; return slots }
}

private struct SkipReason: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A blocking queue of at most `capacity` items between one producer and one consumer.
public final class BoundedQueue<T> {
    private var items: [T] = []
    private var closed = false
    public private(set) var isCancelled = false
    private let condition = NSCondition()
    private let capacity: Int

    public init(capacity: Int) { self.capacity = capacity }

    public func put(_ item: T) {
        condition.lock()
        while items.count >= capacity && !isCancelled { condition.wait() }
        if !isCancelled { items.append(item) }
        condition.broadcast()
        condition.unlock()
    }

    /// The next item, or nil once the producer closed the queue and it is empty.
    public func take() -> T? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        if items.isEmpty { return nil }
        let item = items.removeFirst()
        condition.broadcast()
        return item
    }

    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    public func cancel() {
        condition.lock()
        isCancelled = true
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
