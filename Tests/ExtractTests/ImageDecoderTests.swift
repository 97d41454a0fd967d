// ImageDecoder against Pillow: Golden/make_images.py records Image.open(f).convert("RGB") (and the
// pasted-on-background variant) for synthetic files of every PNG and JPEG mode, Pillow's refusal
// of broken files, and hashes of the real photos. Tolerance 0.
import Extract
import XCTest

final class ImageDecoderTests: XCTestCase {
    func testSyntheticFilesDecodeAsPillow() throws {
        let entries = try ImageGolden.entries("decode")
        XCTAssertGreaterThan(entries.count, 30)
        for entry in entries {
            let name = try XCTUnwrap(entry["input"] as? String)
            let image = try ImageDecoder.decode(path: ImageGolden.input(name))
            XCTAssertEqual(image.width, entry["width"] as? Int, name)
            XCTAssertEqual(image.height, entry["height"] as? Int, name)
            assertBytesEqual(image.pixels, try ImageGolden.bytes(try XCTUnwrap(entry["rgb"] as? String)),
                             "\(name) (Pillow mode \(entry["mode"] ?? "?")) convert(\"RGB\")")
        }
    }

    func testAlphaCompositedOntoBackgroundAsPillowPaste() throws {
        let manifest = try ImageGolden.manifest()
        let bg = try XCTUnwrap(manifest["background"] as? [Int])
        let background = (UInt8(bg[0]), UInt8(bg[1]), UInt8(bg[2]))
        for entry in try ImageGolden.entries("decode") {
            let name = try XCTUnwrap(entry["input"] as? String)
            let image = try ImageDecoder.decode(path: ImageGolden.input(name), background: background)
            assertBytesEqual(image.pixels, try ImageGolden.bytes(try XCTUnwrap(entry["background_rgb"] as? String)),
                             "\(name) (Pillow mode \(entry["mode"] ?? "?")) on background \(bg)")
        }
    }

    func testBrokenFilesThrowNamingTheFile() throws {
        let entries = try ImageGolden.entries("broken")
        XCTAssertEqual(entries.count, 8)
        for entry in entries {
            let name = try XCTUnwrap(entry["input"] as? String)
            let path = ImageGolden.input(name)
            XCTAssertThrowsError(try ImageDecoder.decode(path: path),
                                 "Pillow refuses \(name): \(entry["pillow_error"] ?? "")") { error in
                XCTAssertTrue("\(error)".contains(path), "\(error) does not name \(path)")
                if name.hasPrefix("truncated") {
                    XCTAssertEqual(error as? ImageError, .truncated(path: path))
                }
            }
        }
    }

    func testMissingFileIsUnreadable() {
        XCTAssertThrowsError(try ImageDecoder.decode(path: "/nonexistent/cat.jpg")) { error in
            guard case .unreadable(let path, _)? = error as? ImageError else {
                return XCTFail("\(error) is not .unreadable")
            }
            XCTAssertEqual(path, "/nonexistent/cat.jpg")
        }
    }

    func testOtherFormatsAreNamedAsUnsupported() {
        let bmp: [UInt8] = Array("BM".utf8) + [UInt8](repeating: 0, count: 60)
        XCTAssertThrowsError(try ImageDecoder.decode(data: bmp, name: "x.bmp")) { error in
            XCTAssertEqual(error as? ImageError, .unsupported(path: "x.bmp", format: "BMP"))
        }
    }

    /// torchvision.datasets.folder.IMG_EXTENSIONS, compared case-insensitively.
    func testImageExtensionsAreTorchvisions() {
        for name in ["a.jpg", "b.JPEG", "c.png", "d.ppm", "e.bmp", "f.pgm", "g.tif", "h.TIFF", "i.webp", "dir/j.Jpg"] {
            XCTAssertTrue(ImageDecoder.isImageFile(name), name)
        }
        for name in ["a.gif", "b.txt", "jpg", "c.jpg.bak", "d"] {
            XCTAssertFalse(ImageDecoder.isImageFile(name), name)
        }
    }

    func testPhotosDecodeAsPillow() throws {
        for entry in try ImageGolden.entries("photos") {
            let name = try XCTUnwrap(entry["input"] as? String)
            let image = try ImageDecoder.decode(path: try ImageGolden.photo(name))
            XCTAssertEqual(image.width, entry["width"] as? Int, name)
            XCTAssertEqual(image.height, entry["height"] as? Int, name)
            var maxDiff = 0
            for sample in try XCTUnwrap(entry["samples"] as? [[Int]]) {
                let o = (sample[0] * image.width + sample[1]) * 3
                for c in 0..<3 { maxDiff = max(maxDiff, abs(Int(image.pixels[o + c]) - sample[2 + c])) }
            }
            XCTAssertEqual(maxDiff, 0, "\(name): sample pixels differ from Pillow by up to \(maxDiff)")
            XCTAssertEqual(sha256Hex(image.pixels), entry["rgb_sha256"] as? String, "\(name): sha256 of the RGB pixels")
            if let expected = entry["background_rgb_sha256"] as? String {
                let bg = try XCTUnwrap(try ImageGolden.manifest()["background"] as? [Int])
                let composited = try ImageDecoder.decode(path: try ImageGolden.photo(name),
                                                         background: (UInt8(bg[0]), UInt8(bg[1]), UInt8(bg[2])))
                XCTAssertEqual(sha256Hex(composited.pixels), expected, "\(name) on background \(bg)")
            }
        }
    }
}
