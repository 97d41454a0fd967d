// Opening image files as `PIL.Image.open(path).convert("RGB")` does, for the formats a
// torchvision ImageFolder of photos holds in practice: JPEG and PNG.
import Foundation

public enum ImageDecoder {
    /// torchvision.datasets.folder.IMG_EXTENSIONS.
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "ppm", "bmp", "pgm", "tif", "tiff", "webp"]

    /// True if the file name ends with one of torchvision's IMG_EXTENSIONS, in any case
    /// (`has_file_allowed_extension` lower-cases the name).
    public static func isImageFile(_ path: String) -> Bool {
        let ext = (path as NSString).pathExtension.lowercased()
        return imageExtensions.contains(ext)
    }

    /// Pixels equal to `PIL.Image.open(path).convert("RGB")`. With `background`, images with an
    /// alpha channel (RGBA, LA, palette with tRNS) are composited onto that colour, as
    /// `Image.new("RGB", size, background).paste(im.convert("RGBA"), mask=alpha)`, instead of
    /// having the alpha dropped.
    public static func decode(path: String, background: (UInt8, UInt8, UInt8)? = nil) throws -> RGBImage {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ImageError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        return try decode(data: [UInt8](data), name: path, background: background)
    }

    /// Decodes the bytes of a JPEG or PNG file; `name` is used in error messages.
    public static func decode(data: [UInt8], name: String, background: (UInt8, UInt8, UInt8)? = nil) throws -> RGBImage {
        if data.starts(with: [0xFF, 0xD8, 0xFF]) {
            return try JPEGDecoder.decode(data, name: name)
        }
        if data.starts(with: PNGDecoder.signature) {
            return try PNGDecoder.decode(data, name: name, background: background)
        }
        throw ImageError.unsupported(path: name, format: formatName(data))
    }

    /// Names formats Pillow would open but this decoder does not, from their signatures.
    private static func formatName(_ data: [UInt8]) -> String {
        func has(_ prefix: String, at offset: Int = 0) -> Bool {
            let bytes = Array(prefix.utf8)
            return data.count >= offset + bytes.count && Array(data[offset..<offset + bytes.count]) == bytes
        }
        if has("BM") { return "BMP" }
        if has("GIF8") { return "GIF" }
        if has("II*\u{0}") || has("MM\u{0}*") { return "TIFF" }
        if has("RIFF") && has("WEBP", at: 8) { return "WebP" }
        if data.count >= 2, data[0] == UInt8(ascii: "P"), (UInt8(ascii: "1")...UInt8(ascii: "7")).contains(data[1]) {
            return "PPM/PGM"
        }
        if data.isEmpty { return "empty file" }
        return "not a JPEG or PNG file"
    }
}
