// Batches for training and validation: an ImageFolder list, shuffled per epoch by a seeded
// generator, decoded and transformed on a producer thread (all cores) while the network trains
// on the previous batch, as torch's DataLoader(shuffle=True, num_workers>0) does.
import Dispatch
import Extract
import Foundation

public enum DataLoaderError: Error, CustomStringConvertible {
    case unreadableImage(String, underlying: String)
    case empty(String)

    public var description: String {
        switch self {
        case let .unreadableImage(path, reason):
            return "\(path): \(reason); fine-tuning needs every image readable: remove or fix it"
        case let .empty(root): return "\(root): no images to train on"
        }
    }
}

/// One batch: inputs [N, 3, S, S] and their labels (indices into the list's classes).
public struct Batch {
    public var inputs: Tensor
    public var labels: [Int]
}

public final class DataLoader {
    public enum Mode {
        /// Shuffled each epoch, the training transform with a generator per (seed, epoch, image).
        case training(TrainingTransform, seed: UInt64)
        /// In list order, the evaluation transform.
        case evaluation(Preprocessing)
    }

    public let list: ImageList
    public let mode: Mode
    public let batchSize: Int

    public init(list: ImageList, mode: Mode, batchSize: Int) throws {
        guard list.count > 0 else { throw DataLoaderError.empty(list.root) }
        precondition(batchSize > 0, "batch size \(batchSize)")
        self.list = list
        self.mode = mode
        self.batchSize = batchSize
    }

    /// The image indices of an epoch, in the order they are fed: a Fisher-Yates shuffle drawn
    /// from (seed, epoch) for training, list order for evaluation.
    public func order(epoch: Int) -> [Int] {
        var order = Array(0..<list.count)
        if case let .training(_, seed) = mode {
            var rng = Extract.SplitMix64(seed: seed, stream: UInt64(epoch), index: UInt64.max)
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                order.swapAt(i, Int(rng.next() % UInt64(i + 1)))
            }
        }
        return order
    }

    /// The epoch's batches of indices. Training keeps the last partial batch (torch's
    /// drop_last=False) unless it holds a single image: BatchNorm in training mode cannot
    /// normalise one value per channel (torch raises "Expected more than 1 value per channel").
    public func batches(epoch: Int) -> [[Int]] {
        let order = order(epoch: epoch)
        var batches = stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
        if case .training = mode, batches.count > 1, batches.last?.count == 1 { batches.removeLast() }
        return batches
    }

    /// Images an epoch feeds (the dropped single image excluded).
    public func imagesPerEpoch(epoch: Int) -> Int { batches(epoch: epoch).reduce(0) { $0 + $1.count } }

    /// Runs `body` on each batch of `epoch` in turn while the next ones are prepared on another thread.
    public func forEachBatch(epoch: Int, _ body: (Batch) throws -> Void) throws {
        let queue = BoundedQueue<Result<Batch, Error>>(capacity: 2)
        let batches = batches(epoch: epoch)
        let producer = Thread { [self] in
            for indices in batches {
                if queue.isCancelled { break }
                queue.put(Result { try load(indices, epoch: epoch) })
            }
            queue.close()
        }
        producer.stackSize = 8 << 20
        producer.start()
        defer { queue.cancel() }
        while let next = queue.take() {
            try body(try next.get())
        }
    }

    /// Decodes and transforms the images of one batch on all cores, at the lowest priority so that
    /// the training step keeps the cores it can use (Extract's concurrentPerformInBackground).
    public func load(_ indices: [Int], epoch: Int) throws -> Batch {
        let results = Slots<Result<[Float], DataLoaderError>>(indices.count)
        concurrentPerformInBackground(iterations: indices.count) { [self] j in
            let index = indices[j]
            let path = list.absolutePath(index)
            do {
                let image = try ImageDecoder.decode(path: path)
                switch mode {
                case let .training(transform, seed):
                    var rng = Extract.SplitMix64(seed: seed, stream: UInt64(epoch), index: UInt64(index))
                    results[j] = .success(transform.apply(image, using: &rng))
                case let .evaluation(preprocessing):
                    results[j] = .success(preprocessing.apply(image))
                }
            } catch {
                results[j] = .failure(.unreadableImage(path, underlying: "\(error)"))
            }
        }
        var tensors: [[Float]] = []
        for case let result? in results.values { tensors.append(try result.get()) }
        let size = side
        var data = [Float]()
        data.reserveCapacity(indices.count * 3 * size * size)
        for t in tensors { data += t }
        return Batch(inputs: Tensor(shape: [indices.count, 3, size, size], data: data),
                     labels: indices.map { Int(list.labels[$0]) })
    }

    /// Side of the square network input the transform makes.
    public var side: Int {
        switch mode {
        case let .training(t, _): return t.crop.size
        case let .evaluation(p): return p.crop
        }
    }
}
