// Pooling as torch.nn.MaxPool2d, AvgPool2d and AdaptiveAvgPool2d compute it (NCHW).
import CKernels

/// Output length of a pooling window over `size`, with PyTorch's ceil-mode rule that the last
/// window must start inside the input or its left padding (pooling_output_shape in ATen).
public func poolOutputSize(_ size: Int, kernel: Int, stride: Int, padding: Int, ceilMode: Bool) -> Int {
    let span = size + 2 * padding - kernel
    var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
    if ceilMode && (out - 1) * stride >= size + padding { out -= 1 }
    return out
}

/// x: [N, C, H, W] -> [N, C, oH, oW]; padding counts as -inf.
public func maxPool2d(_ x: Tensor, kernel: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let oh = poolOutputSize(h, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    let ow = poolOutputSize(w, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    // The window may hang over the bottom/right edge in ceil mode; rows and columns past it count as -inf.
    return Tensor(shape: [n, c, oh, ow]) { op in
        x.data.withUnsafeBufferPointer { xp in
            parallelRanges(n * c) { planes in
                withScratch(w + 2 * padding + kernel + stride * ow) { row in
                    for p in planes {
                        maxpool_plane(xp.baseAddress! + p * h * w, h, w, kernel, stride, padding, op + p * oh * ow, oh, ow, row)
                    }
                }
            }
        }
    }
}

/// x: [N, C, H, W] -> [N, C, oH, oW], cells as torch.nn.AdaptiveAvgPool2d (they may overlap).
public func adaptiveAvgPool2d(_ x: Tensor, outputHeight oh: Int, outputWidth ow: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    if oh == h && ow == w { return x }
    return Tensor(shape: [n, c, oh, ow]) { op in
        x.data.withUnsafeBufferPointer { xp in
            parallelRanges(n * c) { planes in
                for p in planes {
                let src = xp.baseAddress! + p * h * w
                for y in 0..<oh {
                    let y0 = (y * h) / oh, y1 = ((y + 1) * h + oh - 1) / oh
                    for xo in 0..<ow {
                        let x0 = (xo * w) / ow, x1 = ((xo + 1) * w + ow - 1) / ow
                        var acc: Float = 0
                        for iy in y0..<y1 { for ix in x0..<x1 { acc += src[iy * w + ix] } }
                        op[(p * oh + y) * ow + xo] = acc / Float((y1 - y0) * (x1 - x0))
                    }
                }
                }
            }
        }
    }
}

/// x: [N, C, H, W] -> [N, C] mean over each plane (AdaptiveAvgPool2d(1) then flatten).
public func globalAvgPool(_ x: Tensor) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1])
    let plane = x.shape[2] * x.shape[3]
    var out = Tensor(zeros: [n, c])
    x.data.withUnsafeBufferPointer { xp in
        for p in 0..<(n * c) {
            var acc: Float = 0
            for i in 0..<plane { acc += xp[p * plane + i] }
            out.data[p] = acc / Float(plane)
        }
    }
    return out
}

/// x: [N, C, H, W] -> [N, C] max over each plane.
public func globalMaxPool(_ x: Tensor) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1])
    let plane = x.shape[2] * x.shape[3]
    var out = Tensor(zeros: [n, c])
    x.data.withUnsafeBufferPointer { xp in
        for p in 0..<(n * c) {
            var m = -Float.infinity
            for i in 0..<plane { m = max(m, xp[p * plane + i]) }
            out.data[p] = m
        }
    }
    return out
}

/// torch.nn.AvgPool2d. x: [N, C, H, W] -> [N, C, oH, oW]. The divisor is ATen's: the window clipped
/// to the padded input when `countIncludePad` (torch's default; Inception's 3x3/1 pad 1 pools divide
/// by 9 at the border), else to the input itself.
public func avgPool2d(_ x: Tensor, kernel: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false,
                      countIncludePad: Bool = true) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let oh = poolOutputSize(h, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    let ow = poolOutputSize(w, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    return Tensor(shape: [n, c, oh, ow]) { op in
        x.data.withUnsafeBufferPointer { xp in
            parallelRanges(n * c) { planes in
                for p in planes {
                    let src = xp.baseAddress! + p * h * w, dst = op + p * oh * ow
                    for y in 0..<oh {
                        let y0 = y * stride - padding, y1 = min(y0 + kernel, h + padding)
                        let ya = max(y0, 0), yb = min(y1, h)
                        for xo in 0..<ow {
                            let x0 = xo * stride - padding, x1 = min(x0 + kernel, w + padding)
                            let xa = max(x0, 0), xb = min(x1, w)
                            var acc: Float = 0
                            for iy in ya..<max(ya, yb) { for ix in xa..<max(xa, xb) { acc += src[iy * w + ix] } }
                            let count = countIncludePad ? (y1 - y0) * (x1 - x0) : (yb - ya) * (xb - xa)
                            dst[y * ow + xo] = acc / Float(max(count, 1))
                        }
                    }
                }
            }
        }
    }
}
