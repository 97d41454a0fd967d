// The training data loader: seeded per-epoch shuffles that are permutations, batches that keep a
// partial last batch but never a single image, and inputs equal to the transform of each image.
import Extract
import Foundation
import Train
import XCTest

final class DataLoaderTests: XCTestCase {
    /// An ImageFolder of 2 classes x 5 links to one small PNG of the Extract goldens.
    func folder() throws -> ImageList {
        let png = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ExtractTests/Golden/augment/input.png").path
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("loader-\(UUID().uuidString)")
        for c in ["a", "b"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(c), withIntermediateDirectories: true)
            for i in 0..<5 {
                try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("\(c)/\(i).png").path, withDestinationPath: png)
            }
        }
        return try ImageList.imageFolder(root.path)
    }

    func testShuffleIsASeededPermutationPerEpoch() throws {
        let list = try folder()
        let transform = TrainingTransform(size: 16, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        let loader = try DataLoader(list: list, mode: .training(transform, seed: 3), batchSize: 3)
        let e0 = loader.order(epoch: 0), e1 = loader.order(epoch: 1)
        XCTAssertEqual(e0.sorted(), Array(0..<10))
        XCTAssertEqual(e1.sorted(), Array(0..<10))
        XCTAssertNotEqual(e0, e1)
        XCTAssertNotEqual(e0, Array(0..<10))
        XCTAssertEqual(e0, try DataLoader(list: list, mode: .training(transform, seed: 3), batchSize: 3).order(epoch: 0))
        // 10 images in batches of 3: 3, 3, 3 and a single image, which is dropped in training.
        XCTAssertEqual(loader.batches(epoch: 0).map(\.count), [3, 3, 3])
        XCTAssertEqual(try DataLoader(list: list, mode: .training(transform, seed: 3), batchSize: 4).batches(epoch: 0).map(\.count), [4, 4, 2])
        let eval = try DataLoader(list: list, mode: .evaluation(Preprocessing(resize: 20, crop: 16, mean: [0, 0, 0], std: [1, 1, 1])), batchSize: 3)
        XCTAssertEqual(eval.batches(epoch: 0).flatMap { $0 }, Array(0..<10), "validation in list order, nothing dropped")
    }

    func testBatchesHoldEachImagesOwnTransform() throws {
        let list = try folder()
        let transform = TrainingTransform(size: 16, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        let loader = try DataLoader(list: list, mode: .training(transform, seed: 11), batchSize: 4)
        let image = try ImageDecoder.decode(path: list.absolutePath(0))
        var seen: [Int] = []
        let batches = loader.batches(epoch: 2)
        var n = 0
        try loader.forEachBatch(epoch: 2) { batch in
            let indices = batches[n]
            n += 1
            XCTAssertEqual(batch.inputs.shape, [indices.count, 3, 16, 16])
            XCTAssertEqual(batch.labels, indices.map { Int(list.labels[$0]) })
            for (j, index) in indices.enumerated() {
                var rng = Extract.SplitMix64(seed: 11, stream: 2, index: UInt64(index))
                let expected = transform.apply(image, using: &rng)
                XCTAssertEqual(Array(batch.inputs.data[j * 768..<(j + 1) * 768]), expected, "image \(index)")
            }
            seen += indices
        }
        XCTAssertEqual(seen.sorted(), Array(0..<10))
    }
}
