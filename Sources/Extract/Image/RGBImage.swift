// The decoded image every preprocessing step works on, and the errors decoding throws.

/// An 8-bit RGB image, interleaved and row-major (`[H, W, 3]`), as `np.asarray(PIL.Image.convert("RGB"))`.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "\(pixels.count) bytes are not a \(width)x\(height) RGB image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A black image, as PIL's `Image.new("RGB", (width, height))`.
    public init(width: Int, height: Int) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: 0, count: width * height * 3))
    }
}

public enum ImageError: Error, CustomStringConvertible, Equatable {
    /// The file could not be read at all.
    case unreadable(path: String, reason: String)
    /// The data ends before the image does.
    case truncated(path: String)
    /// The decoding library rejected the data.
    case corrupt(path: String, message: String)
    /// Not a JPEG or PNG, or a JPEG/PNG variant Pillow cannot open either.
    case unsupported(path: String, format: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "\(path): cannot read the file (\(reason))"
        case let .truncated(path):
            return "\(path): image file is truncated"
        case let .corrupt(path, message):
            return "\(path): corrupt image data (\(message))"
        case let .unsupported(path, format):
            return "\(path): unsupported image format: \(format); convert it to PNG or JPEG"
        }
    }
}
