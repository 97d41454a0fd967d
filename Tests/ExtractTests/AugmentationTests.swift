// RandomResizedCrop and RandomHorizontalFlip against Golden/make_augment.py: torchvision's
// get_params transcribed in Python with the same injected uniforms, and Pillow's crop + resize.
import Extract
import Foundation
import XCTest

final class AugmentationTests: XCTestCase {
    private let golden = ImageGolden.directory.deletingLastPathComponent().appendingPathComponent("augment")

    private func cases() throws -> [String: Any] {
        let data = try Data(contentsOf: golden.appendingPathComponent("cases.json"))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    private func pair(_ v: Any?) throws -> (Double, Double) {
        let a = try XCTUnwrap(v as? [Double])
        return (a[0], a[1])
    }

    /// get_params: the same uniforms give the same box and use as many of them (tolerance 0).
    func testCropParametersMatchTorchvisionAlgorithm() throws {
        let params = try XCTUnwrap(try cases()["params"] as? [[String: Any]])
        XCTAssertGreaterThan(params.count, 60)
        var fallbacks = 0
        for (n, c) in params.enumerated() {
            let uniforms = try XCTUnwrap(c["uniforms"] as? [Double])
            let expected = try XCTUnwrap(c["box"] as? [Int])
            var used = 0
            let box = RandomResizedCrop.parameters(
                width: try XCTUnwrap(c["width"] as? Int), height: try XCTUnwrap(c["height"] as? Int),
                scale: try pair(c["scale"]), ratio: try pair(c["ratio"]),
                uniform: { defer { used += 1 }; return uniforms[used] })
            XCTAssertEqual([box.top, box.left, box.height, box.width], expected, "case \(n): \(c["width"] ?? 0)x\(c["height"] ?? 0)")
            XCTAssertEqual(used, c["used"] as? Int, "case \(n): uniforms used")
            if used == 20 { fallbacks += 1 }
        }
        XCTAssertGreaterThanOrEqual(fallbacks, 3, "the central fallback is exercised")
    }

    /// resized_crop + hflip: Pillow's bytes exactly.
    func testResizedCropAndFlipEqualPillow() throws {
        let image = try ImageDecoder.decode(path: golden.appendingPathComponent("input.png").path)
        let crops = try XCTUnwrap(try cases()["crops"] as? [[String: Any]])
        XCTAssertGreaterThan(crops.count, 20)
        for c in crops {
            let b = try XCTUnwrap(c["box"] as? [Int])
            let size = try XCTUnwrap(c["size"] as? Int)
            var out = RandomResizedCrop.resizedCrop(image, CropBox(top: b[0], left: b[1], height: b[2], width: b[3]), size: size)
            if c["flip"] as? Bool == true { out = horizontalFlip(out) }
            let file = try XCTUnwrap(c["file"] as? String)
            let expected = [UInt8](try Data(contentsOf: golden.appendingPathComponent(file)))
            XCTAssertEqual(out.width, size)
            assertBytesEqual(out.pixels, expected, file)
        }
    }

    /// ToTensor + Normalize after the flip, numpy in float32 (tolerance 1e-6).
    func testTensorOfFlippedCropMatchesNumpy() throws {
        let image = try ImageDecoder.decode(path: golden.appendingPathComponent("input.png").path)
        let t = try XCTUnwrap(try cases()["tensor"] as? [String: Any])
        let b = try XCTUnwrap(t["box"] as? [Int])
        let out = horizontalFlip(RandomResizedCrop.resizedCrop(image, CropBox(top: b[0], left: b[1], height: b[2], width: b[3]), size: 32))
        let mean = try XCTUnwrap(t["mean"] as? [Double]).map(Float.init), std = try XCTUnwrap(t["std"] as? [Double]).map(Float.init)
        let tensor = Preprocessing(resize: 32, crop: 32, mean: mean, std: std).tensor(from: out)
        let expected = try ImageGolden.floats("../augment/" + (t["file"] as? String ?? ""))
        assertFloatsClose(tensor, expected, tolerance: 1e-6, "normalised flipped crop")
    }

    /// Same seed and stream, same crops and flips; another seed or epoch, others. The draws are
    /// per image, so the order threads reach images in does not matter.
    func testSeededTransformIsReproducible() throws {
        let image = try ImageDecoder.decode(path: golden.appendingPathComponent("input.png").path)
        let transform = TrainingTransform(size: 24, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
        func views(seed: UInt64, epoch: UInt64) -> [[Float]] {
            (0..<8).map { i in
                var rng = SplitMix64(seed: seed, stream: epoch, index: UInt64(i))
                return transform.apply(image, using: &rng)
            }
        }
        let a = views(seed: 7, epoch: 0)
        XCTAssertEqual(a, views(seed: 7, epoch: 0))
        XCTAssertNotEqual(a, views(seed: 8, epoch: 0))
        XCTAssertNotEqual(a, views(seed: 7, epoch: 1))
        XCTAssertEqual(Set(a.map { $0.hashValue }).count, a.count, "each image of an epoch gets its own crop")
        // Boxes stay inside the image and within the scale and ratio bounds (or the fallback).
        var rng = SplitMix64(seed: 1)
        var flips = 0
        for _ in 0..<2000 {
            let box = transform.crop.parameters(width: 67, height: 43, using: &rng)
            XCTAssert(box.top >= 0 && box.left >= 0 && box.top + box.height <= 43 && box.left + box.width <= 67, "\(box)")
            if rng.unit() < 0.5 { flips += 1 }
        }
        XCTAssert((900...1100).contains(flips), "about half flipped: \(flips) of 2000")
    }
}
