// Pillow's ImagingResample (libImaging/Resample.c) for the bilinear filter on 8-bit images:
// per output pixel, a window of filter weights stretched by the scale factor on downscaling
// (antialiasing), rounded to 22-bit fixed point; two passes, each skipped when that side keeps
// its size, in Pillow 13's order. Same arithmetic, so the bytes equal `Image.resize(size, BILINEAR)`.
// The passes run in C (CKernels resample.c); the Swift loops below are their plain-loop oracle.

import CKernels

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
    resizedCrop(image, width: width, height: height, top: 0, left: 0, cropWidth: width, cropHeight: height)
}

/// Pillow 13 ImagingResampleInner: the vertical pass goes first when the height shrinks by more
/// than twice what the width does (Pillow 12 and earlier always went horizontal first). The passes
/// round to bytes in between, so the order shows in the result.
func verticalFirst(from image: RGBImage, width: Int, height: Int) -> Bool {
    image.height - height > 0 && image.height - height > (image.width - width) * 2
}

/// `resize(image, width, height)` then `crop(top, left, cropWidth, cropHeight)` (the window inside
/// the resized image), computing only the pixels of the window: each output pixel of either pass
/// depends on its own window of input pixels alone, so the bytes are those of the full resize.
/// Resize(256) + CenterCrop(224) needs about 60% of the full work.
public func resizedCrop(_ image: RGBImage, width: Int, height: Int, top: Int, left: Int,
                        cropWidth: Int, cropHeight: Int) -> RGBImage {
    precondition(width > 0 && height > 0, "resize to \(width)x\(height)")
    precondition(top >= 0 && left >= 0 && top + cropHeight <= height && left + cropWidth <= width,
                 "crop window outside the \(width)x\(height) image")
    let columns = width != image.width
        ? ResampleCoefficients(inSize: image.width, outSize: width).window(left..<left + cropWidth) : nil
    let rows = height != image.height
        ? ResampleCoefficients(inSize: image.height, outSize: height).window(top..<top + cropHeight) : nil
    let stride = image.width * 3
    return image.pixels.withUnsafeBufferPointer { input in
        let base = input.baseAddress!
        if verticalFirst(from: image, width: width, height: height), let rows {
            // Vertical pass over the columns the horizontal one will read.
            let span = columns?.inputRange ?? left..<left + cropWidth
            let middle = rows.vertical(base + span.lowerBound * 3, stride: stride, rowBytes: span.count * 3)
            guard let columns else { return RGBImage(width: cropWidth, height: cropHeight, pixels: middle) }
            let shifted = columns.shifted(by: -span.lowerBound)
            return RGBImage(width: cropWidth, height: cropHeight, pixels: middle.withUnsafeBufferPointer {
                shifted.horizontal($0.baseAddress!, stride: span.count * 3, rows: cropHeight)
            })
        }
        // Horizontal pass over the rows the vertical one will read.
        let span = rows?.inputRange ?? top..<top + cropHeight
        let middle: [UInt8]
        if let columns {
            middle = columns.horizontal(base + span.lowerBound * stride, stride: stride, rows: span.count)
        } else {
            var copy = [UInt8]()
            copy.reserveCapacity(span.count * cropWidth * 3)
            for y in span {
                let start = y * stride + left * 3
                copy.append(contentsOf: input[start..<start + cropWidth * 3])
            }
            middle = copy
        }
        guard let rows else { return RGBImage(width: cropWidth, height: cropHeight, pixels: middle) }
        let shifted = rows.shifted(by: -span.lowerBound)
        return RGBImage(width: cropWidth, height: cropHeight, pixels: middle.withUnsafeBufferPointer {
            shifted.vertical($0.baseAddress!, stride: cropWidth * 3, rowBytes: cropWidth * 3)
        })
    }
}

/// The coefficients of a run of output pixels, as the C passes take them.
struct ResampleWindow {
    var first: [Int32], count: [Int32], weights: [Int32]
    let ksize: Int

    /// The input pixels the window reads.
    var inputRange: Range<Int> {
        var lo = Int.max, hi = 0
        for (f, c) in zip(first, count) {
            lo = min(lo, Int(f))
            hi = max(hi, Int(f) + Int(c))
        }
        return lo == Int.max ? 0..<0 : lo..<hi
    }

    func shifted(by d: Int) -> ResampleWindow {
        var w = self
        w.first = first.map { $0 + Int32(d) }
        return w
    }

    /// The horizontal pass: `rows` rows of `stride` bytes in, first.count pixels a row out; with
    /// `kernel` (RESAMPLE_*, available), that kernel rather than the best.
    func horizontal(_ input: UnsafePointer<UInt8>, stride: Int, rows: Int, kernel: Int32? = nil) -> [UInt8] {
        let outWidth = first.count
        return [UInt8](unsafeUninitializedCapacity: outWidth * rows * 3) { out, n in
            if let kernel {
                resample_rgb8_horizontal_with(kernel, input, stride, rows, out.baseAddress!, outWidth, first, count, weights, ksize)
            } else {
                resample_rgb8_horizontal(input, stride, rows, out.baseAddress!, outWidth, first, count, weights, ksize)
            }
            n = outWidth * rows * 3
        }
    }

    /// The vertical pass: first.count rows of rowBytes bytes out, read from rows `stride` bytes apart.
    func vertical(_ input: UnsafePointer<UInt8>, stride: Int, rowBytes: Int) -> [UInt8] {
        let outHeight = first.count
        var acc = [Int32](repeating: 0, count: rowBytes)
        return [UInt8](unsafeUninitializedCapacity: outHeight * rowBytes) { out, n in
            resample_rgb8_vertical(input, stride, rowBytes, out.baseAddress!, outHeight, first, count, weights, ksize, &acc)
            n = outHeight * rowBytes
        }
    }
}

extension ResampleCoefficients {
    /// Each output's weights padded with zeros to a multiple of 4, as the AVX-512 horizontal kernel
    /// reads them (precompute_coeffs already leaves zeros past each output's taps).
    func window(_ outputs: Range<Int>) -> ResampleWindow {
        let padded = (ksize + 3) / 4 * 4
        var w = [Int32](repeating: 0, count: outputs.count * padded)
        for (i, o) in outputs.enumerated() {
            for x in 0..<ksize { w[i * padded + x] = weights[o * ksize + x] }
        }
        return ResampleWindow(first: outputs.map { Int32(bounds[$0].first) }, count: outputs.map { Int32(bounds[$0].count) },
                              weights: w, ksize: padded)
    }
}

/// The plain-loop resize, pass by pass as Resample.c writes it: the oracle of `resizedCrop`.
func resizePlain(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
    precondition(width > 0 && height > 0, "resize to \(width)x\(height)")
    if width == image.width && height == image.height { return image }
    var current = image
    if verticalFirst(from: image, width: width, height: height) {
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
