// torchvision's evaluation transform for ImageNet models:
// Compose([Resize(resize), CenterCrop(crop), ToTensor(), Normalize(mean, std)]).
import CKernels

public struct Preprocessing: Codable, Equatable, Sendable, CustomStringConvertible {
    /// Shorter side after resizing (torchvision `Resize(int)`).
    public var resize: Int
    /// Side of the square center crop.
    public var crop: Int
    /// Per-channel mean and standard deviation of `Normalize`, RGB order.
    public var mean: [Float]
    public var std: [Float]

    public init(resize: Int, crop: Int, mean: [Float], std: [Float]) {
        precondition(mean.count == 3 && std.count == 3, "mean and std need 3 channels")
        self.resize = resize
        self.crop = crop
        self.mean = mean
        self.std = std
    }

    /// The torchvision ImageNet recipe: Resize(256), CenterCrop(224), ImageNet mean and std.
    public static let imagenet = Preprocessing(
        resize: 256, crop: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    /// Resize -> CenterCrop -> ToTensor -> Normalize. Returns CHW floats `[3, crop, crop]`.
    public func apply(_ image: RGBImage) -> [Float] {
        let size = resizedSize(width: image.width, height: image.height, shorterSide: resize)
        guard crop <= size.width && crop <= size.height else {
            return tensor(from: centerCrop(resized(image), width: crop, height: crop))
        }
        // Only the crop's pixels of the resized image are computed (the same bytes).
        let (top, left) = centerCropOffsets(width: size.width, height: size.height, crop: crop)
        return tensor(from: resizedCrop(image, width: size.width, height: size.height, top: top, left: left,
                                        cropWidth: crop, cropHeight: crop))
    }

    /// The Resize step alone (`Resize(resize)`, bilinear, antialiased).
    public func resized(_ image: RGBImage) -> RGBImage {
        let size = resizedSize(width: image.width, height: image.height, shorterSide: resize)
        return Extract.resize(image, width: size.width, height: size.height)
    }

    /// ToTensor + Normalize of an image already cropped: CHW floats `(pixel / 255 - mean) / std`,
    /// in float32 as torch computes `img.float().div(255)` then `sub_(mean).div_(std)` (in C, where
    /// the loop vectorises).
    public func tensor(from image: RGBImage) -> [Float] {
        let plane = image.width * image.height
        return [Float](unsafeUninitializedCapacity: 3 * plane) { out, initialized in
            rgb8_normalize_planes(image.pixels, plane, mean, std, out.baseAddress!)
            initialized = 3 * plane
        }
    }

    /// The plain loop of `tensor(from:)`: its oracle.
    func tensorPlain(from image: RGBImage) -> [Float] {
        let plane = image.width * image.height
        var out = [Float](repeating: 0, count: 3 * plane)
        for c in 0..<3 {
            for i in 0..<plane { out[c * plane + i] = (Float(image.pixels[3 * i + c]) / 255 - mean[c]) / std[c] }
        }
        return out
    }

    /// Stable text for file metadata, e.g. "resize=256 crop=224 mean=0.485,0.456,0.406 std=0.229,0.224,0.225".
    public var description: String {
        func list(_ v: [Float]) -> String { v.map { "\($0)" }.joined(separator: ",") }
        return "resize=\(resize) crop=\(crop) mean=\(list(mean)) std=\(list(std))"
    }
}
