// resize, centerCrop, tenCrop and Preprocessing against Pillow with torchvision's formulas
// transcribed in Golden/make_images.py (Resize(int) -> Image.resize BILINEAR, center_crop,
// ten_crop, ToTensor + Normalize in float32). Tolerance 0 for bytes, 1e-6 for floats.
@testable import Extract
import CKernels
import XCTest

final class ImagePreprocessingTests: XCTestCase {
    private func decodedInput(_ name: String) throws -> RGBImage {
        try ImageDecoder.decode(path: ImageGolden.input(name))
    }

    func testResizeIsPillowBilinear() throws {
        let entries = try ImageGolden.entries("resize")
        XCTAssertGreaterThan(entries.count, 8)
        for entry in entries {
            let name = try XCTUnwrap(entry["input"] as? String)
            let w = try XCTUnwrap(entry["width"] as? Int), h = try XCTUnwrap(entry["height"] as? Int)
            let source = try decodedInput(name)
            let out = resize(source, width: w, height: h)
            XCTAssertEqual(out.width, w)
            XCTAssertEqual(out.height, h)
            assertBytesEqual(out.pixels, try ImageGolden.bytes(try XCTUnwrap(entry["rgb"] as? String)),
                             "\(name) \(source.width)x\(source.height) -> \(w)x\(h)")
        }
    }

    /// The C passes computing only a window of the output against the plain Swift loops of Resample.c
    /// followed by a crop, on random images, sizes (up and down, both pass orders) and windows. Tolerance 0.
    func testResizedCropEqualsPlainResizeThenCrop() throws {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<60 {
            let iw = Int.random(in: 1...90, using: &rng), ih = Int.random(in: 1...90, using: &rng)
            let image = RGBImage(width: iw, height: ih, pixels: (0..<(iw * ih * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            let w = Int.random(in: 1...120, using: &rng), h = trial % 5 == 0 ? ih : Int.random(in: 1...120, using: &rng)
            let cw = Int.random(in: 1...w, using: &rng), ch = Int.random(in: 1...h, using: &rng)
            let left = Int.random(in: 0...(w - cw), using: &rng), top = Int.random(in: 0...(h - ch), using: &rng)
            let expected = crop(resizePlain(image, width: w, height: h), top: top, left: left, width: cw, height: ch)
            let got = resizedCrop(image, width: w, height: h, top: top, left: left, cropWidth: cw, cropHeight: ch)
            assertBytesEqual(got.pixels, expected.pixels,
                             "\(iw)x\(ih) -> \(w)x\(h), window \(cw)x\(ch) at (\(left), \(top))")
            assertBytesEqual(resize(image, width: w, height: h).pixels, resizePlain(image, width: w, height: h).pixels,
                             "\(iw)x\(ih) -> \(w)x\(h), whole")
        }
    }

    /// Each horizontal-pass kernel this machine has (scalar, SSE4.1, AVX-512) against the plain Swift
    /// loop of Resample.c, on random images up and down to random widths (many taps, and tails of
    /// one to three past a multiple of four), over whole windows and sub-windows. Tolerance 0.
    func testHorizontalKernelsEqualPlainLoop() throws {
        var rng = SystemRandomNumberGenerator()
        let kernels = [RESAMPLE_SCALAR, RESAMPLE_SSE41, RESAMPLE_AVX512].map { Int32($0) }.filter { resample_kernel_available($0) != 0 }
        XCTAssertTrue(kernels.contains(Int32(RESAMPLE_SCALAR)))
        for trial in 0..<80 {
            let iw = Int.random(in: 1...(trial % 4 == 0 ? 700 : 90), using: &rng), ih = Int.random(in: 1...6, using: &rng)
            let image = RGBImage(width: iw, height: ih, pixels: (0..<(iw * ih * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            let w = Int.random(in: 1...120, using: &rng)
            let expected = resampleHorizontal(image, width: w)
            let cw = Int.random(in: 1...w, using: &rng), left = Int.random(in: 0...(w - cw), using: &rng)
            let window = ResampleCoefficients(inSize: iw, outSize: w).window(left..<left + cw)
            for kernel in kernels {
                let got = image.pixels.withUnsafeBufferPointer {
                    window.horizontal($0.baseAddress!, stride: iw * 3, rows: ih, kernel: kernel)
                }
                var want: [UInt8] = []
                for y in 0..<ih {
                    let start: Int = (y * w + left) * 3
                    want += expected.pixels[start..<start + cw * 3]
                }
                assertBytesEqual(got, want, "kernel \(kernel): \(iw)x\(ih) -> \(w) wide, window \(cw) at \(left)")
            }
        }
    }

    func testCenterCropIsTorchvisions() throws {
        let source = try decodedInput("rgb8.png")
        for entry in try ImageGolden.entries("center_crop") {
            let w = try XCTUnwrap(entry["width"] as? Int), h = try XCTUnwrap(entry["height"] as? Int)
            let out = centerCrop(source, width: w, height: h)
            assertBytesEqual(out.pixels, try ImageGolden.bytes(try XCTUnwrap(entry["rgb"] as? String)),
                             "center_crop \(source.width)x\(source.height) -> \(w)x\(h)")
        }
    }

    func testTenCropIsTorchvisions() throws {
        let source = try decodedInput("rgb8.png")
        for entry in try ImageGolden.entries("ten_crop") {
            let size = try XCTUnwrap(entry["size"] as? Int)
            let crops = tenCrop(source, size: size)
            XCTAssertEqual(crops.count, 10)
            assertBytesEqual(crops.flatMap(\.pixels), try ImageGolden.bytes(try XCTUnwrap(entry["rgb"] as? String)),
                             "ten_crop \(size)")
        }
    }

    func testResizedSizeIsTorchvisions() throws {
        for entry in try ImageGolden.entries("photos") {
            let w = try XCTUnwrap(entry["width"] as? Int), h = try XCTUnwrap(entry["height"] as? Int)
            let size = resizedSize(width: w, height: h, shorterSide: 256)
            XCTAssertEqual(size.width, entry["resized_width"] as? Int, "\(w)x\(h)")
            XCTAssertEqual(size.height, entry["resized_height"] as? Int, "\(w)x\(h)")
        }
    }

    /// The C ToTensor + Normalize against its plain Swift loop, on random pixels (odd counts too) and
    /// ImageNet's and other constants: the same float32 operations, so tolerance 0.
    func testTensorEqualsPlainLoop() {
        var rng = SystemRandomNumberGenerator()
        for (w, h) in [(1, 1), (3, 5), (17, 9), (224, 224)] {
            let image = RGBImage(width: w, height: h, pixels: (0..<(w * h * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            for p in [Preprocessing.imagenet, Preprocessing(resize: 8, crop: 8, mean: [0.5, 0.25, 0.1], std: [0.5, 0.3, 1.7])] {
                let got = p.tensor(from: image), want = p.tensorPlain(from: image)
                let differing = zip(got, want).filter { $0.0.bitPattern != $0.1.bitPattern }.count
                let maxDiff = zip(got, want).map { abs($0.0 - $0.1) }.max() ?? 0
                XCTAssertEqual(got.count, want.count)
                XCTAssertEqual(differing, 0, "\(w)x\(h) \(p): \(differing) values differ, max difference \(maxDiff) (tolerance 0)")
            }
        }
    }

    func testPreprocessingOfSmallInputs() throws {
        for entry in try ImageGolden.entries("preprocess") {
            let name = try XCTUnwrap(entry["input"] as? String)
            let p = Preprocessing(resize: try XCTUnwrap(entry["resize"] as? Int), crop: try XCTUnwrap(entry["crop"] as? Int),
                                  mean: try XCTUnwrap(entry["mean"] as? [Double]).map(Float.init),
                                  std: try XCTUnwrap(entry["std"] as? [Double]).map(Float.init))
            let image = try decodedInput(name)
            let cropped = centerCrop(p.resized(image), width: p.crop, height: p.crop)
            XCTAssertEqual(sha256Hex(cropped.pixels), entry["crop_sha256"] as? String, "\(name) \(p)")
            let tensor = p.apply(image)
            XCTAssertEqual(tensor.count, 3 * p.crop * p.crop)
            if let file = entry["tensor"] as? String {
                assertFloatsClose(tensor, try ImageGolden.floats(file), tolerance: 1e-6, "\(name) \(p)")
            }
            if let stride = entry["tensor_stride"] as? Int, let samples = entry["tensor_samples"] as? [Double] {
                let picked = Swift.stride(from: 0, to: tensor.count, by: stride).map { tensor[$0] }
                assertFloatsClose(picked, samples.map(Float.init), tolerance: 1e-6, "\(name) \(p), every \(stride)th value")
            }
        }
    }

    func testImageNetPreprocessingOfPhotos() throws {
        let p = Preprocessing.imagenet
        for entry in try ImageGolden.entries("photos") {
            let name = try XCTUnwrap(entry["input"] as? String)
            let image = try ImageDecoder.decode(path: try ImageGolden.photo(name))
            let resized = p.resized(image)
            XCTAssertEqual(sha256Hex(resized.pixels), entry["resized_sha256"] as? String, "\(name): Resize(256)")
            let cropped = centerCrop(resized, width: 224, height: 224)
            if let file = entry["crop_rgb"] as? String {
                let expected = try ImageGolden.bytes(file)
                XCTAssertEqual(sha256Hex(expected), entry["crop_sha256"] as? String, "\(file) matches its recorded sha256")
                assertBytesEqual(cropped.pixels, expected, "\(name): Resize(256) + CenterCrop(224)")
            }
            XCTAssertEqual(sha256Hex(cropped.pixels), entry["crop_sha256"] as? String, "\(name): CenterCrop(224)")
            let tensor = p.apply(image)
            let stride = try XCTUnwrap(entry["tensor_stride"] as? Int)
            let picked = Swift.stride(from: 0, to: tensor.count, by: stride).map { tensor[$0] }
            let samples = try XCTUnwrap(entry["tensor_samples"] as? [Double]).map(Float.init)
            assertFloatsClose(picked, samples, tolerance: 1e-6, "\(name): normalised tensor, every \(stride)th value")
            let ten = tenCrop(resized, size: 224).map { sha256Hex($0.pixels) }
            XCTAssertEqual(ten, entry["ten_crop_sha256"] as? [String], "\(name): TenCrop(224)")
        }
    }

    func testDescriptionIsStable() throws {
        XCTAssertEqual(Preprocessing.imagenet.description,
                       "resize=256 crop=224 mean=0.485,0.456,0.406 std=0.229,0.224,0.225")
        let decoded = try JSONDecoder().decode(Preprocessing.self, from: JSONEncoder().encode(Preprocessing.imagenet))
        XCTAssertEqual(decoded, .imagenet)
    }
}
