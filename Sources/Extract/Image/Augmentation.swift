// torchvision's training transform for ImageNet models: Compose([RandomResizedCrop(size),
// RandomHorizontalFlip(), ToTensor(), Normalize(mean, std)]), on PIL images. The algorithm is
// torchvision's (transforms.py, RandomResizedCrop.get_params); the random numbers are ours
// (splitmix64), since torch's generator cannot be reproduced: same seed, same crops, but not
// the crops torch would draw.
import Foundation

/// splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014):
/// a 64-bit state that is all a checkpoint needs to store.
public struct SplitMix64: RandomNumberGenerator, Sendable, Codable, Equatable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one item of a seeded stream (epoch, image index): independent of the
    /// order in which threads get to the items.
    public init(seed: UInt64, stream: UInt64, index: UInt64) {
        var mixer = SplitMix64(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        for _ in 0..<2 { _ = mixer.next() }
        state = mixer.next() ^ (index &* 0x9E37_79B9_7F4A_7C15)
        _ = next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}

/// A crop box in torchvision's order of arguments to `resized_crop`.
public struct CropBox: Equatable, Sendable, CustomStringConvertible {
    public var top: Int, left: Int, height: Int, width: Int
    public init(top: Int, left: Int, height: Int, width: Int) {
        self.top = top; self.left = left; self.height = height; self.width = width
    }
    public var description: String { "(top \(top), left \(left), height \(height), width \(width))" }
}

/// torchvision.transforms.RandomResizedCrop(size, scale, ratio) with bilinear, antialiased resizing.
public struct RandomResizedCrop: Sendable, Equatable {
    public var size: Int
    public var scale: (Double, Double)
    public var ratio: (Double, Double)

    public init(size: Int, scale: (Double, Double) = (0.08, 1.0), ratio: (Double, Double) = (3.0 / 4.0, 4.0 / 3.0)) {
        self.size = size
        self.scale = scale
        self.ratio = ratio
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.size == b.size && a.scale == b.scale && a.ratio == b.ratio
    }

    /// RandomResizedCrop.get_params: up to 10 draws of an area fraction (uniform in `scale`) and an
    /// aspect ratio (log-uniform in `ratio`); the first box that fits is placed uniformly at random.
    /// Otherwise the central crop of the whole image, its aspect ratio clamped into `ratio`.
    /// `uniform()` gives numbers in [0, 1): torch's `uniform_(a, b)` is `a + (b - a) * u` and
    /// `randint(0, n)` is `floor(u * n)` here.
    public static func parameters(width: Int, height: Int, scale: (Double, Double), ratio: (Double, Double),
                                  uniform: () -> Double) -> CropBox {
        let area = Double(height * width)
        let logRatio = (log(ratio.0), log(ratio.1))
        for _ in 0..<10 {
            let targetArea = area * (scale.0 + (scale.1 - scale.0) * uniform())
            let aspectRatio = exp(logRatio.0 + (logRatio.1 - logRatio.0) * uniform())
            // int(round(x)): Python rounds half to even.
            let w = Int((targetArea * aspectRatio).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspectRatio).squareRoot().rounded(.toNearestOrEven))
            if 0 < w && w <= width && 0 < h && h <= height {
                let top = min(Int(uniform() * Double(height - h + 1)), height - h)
                let left = min(Int(uniform() * Double(width - w + 1)), width - w)
                return CropBox(top: top, left: left, height: h, width: w)
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < min(ratio.0, ratio.1) {
            h = Int((Double(w) / min(ratio.0, ratio.1)).rounded(.toNearestOrEven))
        } else if inRatio > max(ratio.0, ratio.1) {
            w = Int((Double(h) * max(ratio.0, ratio.1)).rounded(.toNearestOrEven))
        }
        return CropBox(top: (height - h) / 2, left: (width - w) / 2, height: h, width: w)
    }

    public func parameters(width: Int, height: Int, using rng: inout SplitMix64) -> CropBox {
        Self.parameters(width: width, height: height, scale: scale, ratio: ratio, uniform: { rng.unit() })
    }

    /// torchvision.transforms.functional.resized_crop on a PIL image: `img.crop(box)`, then
    /// `img.resize((size, size), BILINEAR)` of the cropped image (not a resize with a box).
    public static func resizedCrop(_ image: RGBImage, _ box: CropBox, size: Int) -> RGBImage {
        let cropped = crop(image, top: box.top, left: box.left, width: box.width, height: box.height)
        return resize(cropped, width: size, height: size)
    }

    public func callAsFunction(_ image: RGBImage, using rng: inout SplitMix64) -> RGBImage {
        Self.resizedCrop(image, parameters(width: image.width, height: image.height, using: &rng), size: size)
    }
}

/// The training transform: RandomResizedCrop(size), RandomHorizontalFlip(0.5), ToTensor,
/// Normalize(mean, std), one image at a time with its own generator.
public struct TrainingTransform: Sendable, Equatable {
    public var crop: RandomResizedCrop
    public var flipProbability: Double
    public var mean: [Float]
    public var std: [Float]

    public init(size: Int, mean: [Float], std: [Float], flipProbability: Double = 0.5) {
        crop = RandomResizedCrop(size: size)
        self.flipProbability = flipProbability
        self.mean = mean
        self.std = std
    }

    /// CHW floats `[3, size, size]`. RandomHorizontalFlip draws after the crop, as Compose runs them:
    /// flipped when `u < p` (torch: `torch.rand(1) < self.p`).
    public func apply(_ image: RGBImage, using rng: inout SplitMix64) -> [Float] {
        var out = crop(image, using: &rng)
        if rng.unit() < flipProbability { out = horizontalFlip(out) }
        return Preprocessing(resize: crop.size, crop: crop.size, mean: mean, std: std).tensor(from: out)
    }

    /// Stable text for checkpoint metadata.
    public var description: String {
        func list(_ v: [Float]) -> String { v.map { "\($0)" }.joined(separator: ",") }
        return "random_resized_crop=\(crop.size) scale=\(crop.scale.0),\(crop.scale.1) ratio=\(crop.ratio.0),\(crop.ratio.1) "
            + "hflip=\(flipProbability) mean=\(list(mean)) std=\(list(std))"
    }
}
