// Pillow's ImagingResample (libImaging/Resample.c) for the bilinear filter on 8-bit images:
// per output pixel, a window of filter weights stretched by the scale factor on downscaling
// (antialiasing), rounded to 22-bit fixed point; two passes, each skipped when that side keeps
// its size, in Pillow 13's order. Same arithmetic, so the bytes equal `Image.resize(size, BILINEAR)`.

/// Resample.c PRECISION_BITS: 32 - 8 - 2.
private let precisionBits = 22

/// Resample.c bilinear_filter, support 1.
@inline(__always) private func bilinearFilter(_ x: Double) -> Double {
    let x = abs(x)
    return x < 1.0 ? 1.0 - x : 0.0
}

/// Resample.c precompute_coeffs + normalize_coeffs_8bpc for box (0, inSize): for each output
/// index the first input index, the number of taps, and `ksize` fixed-point weights.
struct ResampleCoefficients {
    var ksize: Int
    var bounds: [(first: Int, count: Int)]
    var weights: [Int32]

    init(inSize: Int, outSize: Int) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = 1.0 * filterScale
        ksize = Int(support.rounded(.up)) * 2 + 1
        bounds = []
        bounds.reserveCapacity(outSize)
        weights = [Int32](repeating: 0, count: outSize * ksize)
        var k = [Double](repeating: 0, count: ksize)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let ss = 1.0 / filterScale
            let xmin = max(Int(center - support + 0.5), 0)  // C (int) cast truncates, as Int() does
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var ww = 0.0
            for x in 0..<ksize { k[x] = 0 }
            for x in 0..<max(xmax, 0) {
                let w = bilinearFilter((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for x in 0..<max(xmax, 0) where ww != 0.0 { k[x] /= ww }
            for x in 0..<ksize {
                let scaled = k[x] * Double(1 << precisionBits)
                weights[xx * ksize + x] = Int32(k[x] < 0 ? (-0.5 + scaled) : (0.5 + scaled))
            }
            bounds.append((xmin, max(xmax, 0)))
        }
    }
}

/// Resample.c clip8: fixed point back to a byte, saturating.
@inline(__always) private func clip8Fixed(_ v: Int) -> UInt8 {
    if v >= (1 << (precisionBits + 8)) { return 255 }
    if v <= 0 { return 0 }
    return UInt8(truncatingIfNeeded: v >> precisionBits)
}

/// `PIL.Image.resize((width, height), Image.BILINEAR)` on an RGB image, byte for byte
/// (antialiased on downscaling, as Pillow always is).
public func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
    precondition(width > 0 && height > 0, "resize to \(width)x\(height)")
    if width == image.width && height == image.height { return image }
    // Pillow 13 ImagingResampleInner: vertical pass first when the height shrinks by more than
    // twice what the width does (Pillow 12 and earlier always went horizontal first). The
    // passes round to bytes in between, so the order shows in the result.
    let verticalFirst = image.height - height > 0 && image.height - height > (image.width - width) * 2
    var current = image
    if verticalFirst {
        current = resampleVertical(current, height: height)
        if width != image.width { current = resampleHorizontal(current, width: width) }
    } else {
        if width != image.width { current = resampleHorizontal(current, width: width) }
        if height != image.height { current = resampleVertical(current, height: height) }
    }
    return current
}

/// Resample.c ImagingResampleHorizontal_8bpc.
func resampleHorizontal(_ image: RGBImage, width: Int) -> RGBImage {
    let coefficients = ResampleCoefficients(inSize: image.width, outSize: width)
    let ksize = coefficients.ksize
    var out = [UInt8](repeating: 0, count: width * image.height * 3)
    image.pixels.withUnsafeBufferPointer { input in
        coefficients.weights.withUnsafeBufferPointer { weights in
            out.withUnsafeMutableBufferPointer { output in
                for y in 0..<image.height {
                    let inRow = y * image.width * 3, outRow = y * width * 3
                    for xx in 0..<width {
                        let (xmin, count) = coefficients.bounds[xx]
                        var s0 = 1 << (precisionBits - 1), s1 = s0, s2 = s0
                        for x in 0..<count {
                            let k = Int(weights[xx * ksize + x])
                            let p = inRow + (xmin + x) * 3
                            s0 += Int(input[p]) * k
                            s1 += Int(input[p + 1]) * k
                            s2 += Int(input[p + 2]) * k
                        }
                        output[outRow + xx * 3] = clip8Fixed(s0)
                        output[outRow + xx * 3 + 1] = clip8Fixed(s1)
                        output[outRow + xx * 3 + 2] = clip8Fixed(s2)
                    }
                }
            }
        }
    }
    return RGBImage(width: width, height: image.height, pixels: out)
}

/// Resample.c ImagingResampleVertical_8bpc.
func resampleVertical(_ image: RGBImage, height: Int) -> RGBImage {
    let coefficients = ResampleCoefficients(inSize: image.height, outSize: height)
    let ksize = coefficients.ksize
    let rowLength = image.width * 3
    var out = [UInt8](repeating: 0, count: rowLength * height)
    var sums = [Int](repeating: 0, count: rowLength)
    image.pixels.withUnsafeBufferPointer { input in
        coefficients.weights.withUnsafeBufferPointer { weights in
            out.withUnsafeMutableBufferPointer { output in
                sums.withUnsafeMutableBufferPointer { sums in
                    for yy in 0..<height {
                        let (ymin, count) = coefficients.bounds[yy]
                        for i in 0..<rowLength { sums[i] = 1 << (precisionBits - 1) }
                        // Row-at-a-time accumulation: the same integer sums as Pillow's per-pixel loop.
                        for y in 0..<count {
                            let k = Int(weights[yy * ksize + y])
                            let inRow = (ymin + y) * rowLength
                            for i in 0..<rowLength { sums[i] += Int(input[inRow + i]) * k }
                        }
                        let outRow = yy * rowLength
                        for i in 0..<rowLength { output[outRow + i] = clip8Fixed(sums[i]) }
                    }
                }
            }
        }
    }
    return RGBImage(width: image.width, height: height, pixels: out)
}
