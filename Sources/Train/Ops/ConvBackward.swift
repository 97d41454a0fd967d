// The backward pass of conv2d (Extract's forward): weight gradients by im2col and sgemm, input
// gradients by sgemm and col2im, images split across the workers; depthwise as direct loops.
import CBLAS
import Extract

/// Columns one sgemm should at least have (as Extract's forward convolution).
private let gemmColumns = 1536

/// Gradients of y = conv2d(x, weight, bias) given dy = dL/dy.
/// x: [N, C, H, W], weight: [O, C/groups, kH, kW], dy: [N, O, oH, oW]
/// -> dx: [N, C, H, W] (nil unless `inputGrad`), dw: [O, C/groups, kH, kW], db: [O] (nil unless `biasGrad`)
public func conv2dBackward(_ x: Tensor, weight: Tensor, dy: Tensor, geometry g: Conv2dGeometry,
                           inputGrad: Bool = true, biasGrad: Bool = false) -> (dx: Tensor?, dw: Tensor, db: [Float]?) {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let o = weight.shape[0]
    let (oh, ow) = g.outputSize(height: h, width: w)
    precondition(dy.shape == [n, o, oh, ow], "conv2dBackward: dy \(dy.shape) is not the output shape \([n, o, oh, ow])")
    precondition(weight.shape[1] * g.groups == c, "conv2dBackward: weight \(weight.shape) does not fit input \(x.shape)")
    let db = biasGrad ? channelSums(dy) : nil
    if g.groups == c && o == c && weight.shape[1] == 1 {
        let (dx, dw) = depthwiseBackward(x, weight: weight, dy: dy, geometry: g, inputGrad: inputGrad)
        return (dx, dw, db)
    }
    // Stride 1 with symmetric padding: dx is the convolution of dy with the transposed, flipped
    // kernel and padding k - 1 - p, which Extract's forward runs fastest (Winograd for 3x3).
    let pd = g.padding
    if inputGrad && g.groups == 1 && g.stride == (1, 1) && g.dilation == (1, 1) && g.kernel.h == g.kernel.w
        && pd.top == pd.left && pd.top == pd.bottom && pd.top == pd.right && pd.top < g.kernel.h {
        let (dw, _) = weightGradient(x, weight: weight, dy: dy, geometry: g, inputGrad: false)
        let dx = conv2d(dy, weight: transposedFlipped(weight), bias: nil,
                        geometry: Conv2dGeometry(kernel: g.kernel.h, padding: g.kernel.h - 1 - pd.top))
        return (dx, dw, db)
    }
    let (dw, dx) = weightGradient(x, weight: weight, dy: dy, geometry: g, inputGrad: inputGrad)
    return (dx, dw, db)
}

/// w: [O, C, k, k] -> [C, O, k, k] with each kernel rotated by 180 degrees.
func transposedFlipped(_ w: Tensor) -> Tensor {
    let (o, c, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    return Tensor(shape: [c, o, kh, kw]) { t in
        for oc in 0..<o { for ic in 0..<c { for i in 0..<kh { for j in 0..<kw {
            t[((ic * o + oc) * kh + i) * kw + j] = w.data[((oc * c + ic) * kh + (kh - 1 - i)) * kw + (kw - 1 - j)]
        } } } }
    }
}

/// dW by im2col and sgemm (and dx by sgemm and col2im when `inputGrad`), images split across the workers.
private func weightGradient(_ x: Tensor, weight: Tensor, dy: Tensor, geometry g: Conv2dGeometry, inputGrad: Bool)
    -> (dw: Tensor, dx: Tensor?) {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let o = weight.shape[0]
    let (oh, ow) = (dy.shape[2], dy.shape[3])
    let cg = c / g.groups, og = o / g.groups
    let k = cg * g.kernel.h * g.kernel.w
    let p = oh * ow
    let workers = max(1, min(Parallelism.threads, n))
    let per = (n + workers - 1) / workers
    // Several images per sgemm when their planes are small (ResNet's 14x14 and 7x7 stages), so that
    // each sgemm has about `gemmColumns` columns.
    let nb = max(1, min(per, gemmColumns / max(p, 1)))
    // One weight-gradient accumulator per worker, summed at the end (images are split, not weights).
    var partial = [Float](repeating: 0, count: workers * o * k)
    var dx: Tensor? = inputGrad ? Tensor(zeros: x.shape) : nil
    x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
            dy.data.withUnsafeBufferPointer { dyp in
                partial.withUnsafeMutableBufferPointer { pp in
                    withOptionalPointer(&dx) { dxp in
                        let (xb, wb, dyb, pb) = (xp.baseAddress!, wp.baseAddress!, dyp.baseAddress!, pp.baseAddress!)
                        parallelRanges(workers) { ws in
                            for worker in ws {
                                let images = min(n, worker * per)..<min(n, (worker + 1) * per)
                                withScratch(k * nb * p) { col in
                                    withScratch(dxp == nil ? 0 : k * nb * p) { dcol in
                                        withScratch(nb > 1 ? og * nb * p : 0) { gathered in
                                            for img0 in stride(from: images.lowerBound, to: images.upperBound, by: nb) {
                                                let count = min(nb, images.upperBound - img0), cols = count * p
                                                for grp in 0..<g.groups {
                                                    for j in 0..<count {
                                                        im2col(xb + ((img0 + j) * c + grp * cg) * h * w, channels: cg, height: h, width: w,
                                                               geometry: g, outH: oh, outW: ow, into: col + j * p, rowStride: cols)
                                                    }
                                                    // dY of the chunk as one [og, count * p] matrix.
                                                    var d = UnsafePointer(dyb + (img0 * o + grp * og) * p)
                                                    if count > 1 {
                                                        for j in 0..<count {
                                                            for row in 0..<og {
                                                                (gathered + row * cols + j * p).update(from: dyb + ((img0 + j) * o + grp * og + row) * p, count: p)
                                                            }
                                                        }
                                                        d = UnsafePointer(gathered)
                                                    }
                                                    // dW[og, k] += dY[og, cols] col[k, cols]^T
                                                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(og), Int32(k), Int32(cols), 1,
                                                                d, Int32(cols), col, Int32(cols), 1, pb + worker * o * k + grp * og * k, Int32(k))
                                                    guard let dxp else { continue }
                                                    // dcol[k, cols] = W[og, k]^T dY[og, cols]
                                                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(k), Int32(cols), Int32(og), 1,
                                                                wb + grp * og * k, Int32(k), d, Int32(cols), 0, dcol, Int32(cols))
                                                    for j in 0..<count {
                                                        col2im(dcol + j * p, channels: cg, height: h, width: w, geometry: g, outH: oh, outW: ow,
                                                               into: dxp + ((img0 + j) * c + grp * cg) * h * w, rowStride: cols)
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    var dw = Tensor(zeros: weight.shape)
    for worker in 0..<workers {
        for i in 0..<(o * k) { dw.data[i] += partial[worker * o * k + i] }
    }
    return (dw, dx)
}

/// The adjoint of im2col: dst[c][iy][ix] += col[(c * kH + i) * kW + j][y * oW + x] wherever im2col read
/// input[c][iy][ix] into that cell. dst must hold the image's planes (accumulated into); rows of col
/// are `rowStride` apart (oH * oW unless several images share the buffer).
public func col2im(_ col: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int, geometry g: Conv2dGeometry,
                   outH oh: Int, outW ow: Int, into dst: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
    let ld = rowStride ?? oh * ow
    var row = 0
    for ch in 0..<channels {
        let plane = dst + ch * h * w
        for i in 0..<g.kernel.h {
            for j in 0..<g.kernel.w {
                let src = col + row * ld
                let dx = j * g.dilation.w - g.padding.left
                let (x0, x1) = im2colColumns(g, kernelColumn: j, width: w, outW: ow)
                for y in 0..<oh {
                    let iy = y * g.stride.h - g.padding.top + i * g.dilation.h
                    if iy < 0 || iy >= h { continue }
                    let d = plane + iy * w + dx, s = src + y * ow
                    if g.stride.w == 1 {
                        for xo in x0..<x1 { d[xo] += s[xo] }
                    } else {
                        for xo in x0..<x1 { d[xo * g.stride.w] += s[xo] }
                    }
                }
                row += 1
            }
        }
    }
}

/// Depthwise convolution (groups == C == O, one filter per channel): both gradients by direct loops,
/// channels split across the workers, so each channel's weight gradient has one owner.
func depthwiseBackward(_ x: Tensor, weight: Tensor, dy: Tensor, geometry g: Conv2dGeometry,
                       inputGrad: Bool) -> (dx: Tensor?, dw: Tensor) {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = (dy.shape[2], dy.shape[3])
    let (kh, kw) = g.kernel
    var dw = Tensor(zeros: weight.shape)
    var dx: Tensor? = inputGrad ? Tensor(zeros: x.shape) : nil
    x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
            dy.data.withUnsafeBufferPointer { dyp in
                dw.data.withUnsafeMutableBufferPointer { dwp in
                    withOptionalPointer(&dx) { dxp in
                        let (xb, wb, dyb, dwb) = (xp.baseAddress!, wp.baseAddress!, dyp.baseAddress!, dwp.baseAddress!)
                        parallelRanges(c) { channels in
                            for ch in channels {
                                for i in 0..<kh {
                                    for j in 0..<kw {
                                        let dxo = j * g.dilation.w - g.padding.left
                                        let x0 = min(ow, max(0, (-dxo + g.stride.w - 1) / g.stride.w))
                                        let x1 = max(x0, min(ow, (w - dxo + g.stride.w - 1) / g.stride.w))
                                        let wv = wb[(ch * kh + i) * kw + j]
                                        var acc: Float = 0
                                        for img in 0..<n {
                                            let plane = (img * c + ch) * h * w, out = (img * c + ch) * oh * ow
                                            for y in 0..<oh {
                                                let iy = y * g.stride.h - g.padding.top + i * g.dilation.h
                                                if iy < 0 || iy >= h { continue }
                                                let xs = xb + plane + iy * w + dxo, d = dyb + out + y * ow
                                                if g.stride.w == 1 {
                                                    acc += laneDot(d + x0, xs + x0, x1 - x0)
                                                    if let dxp {
                                                        let t = dxp + plane + iy * w + dxo
                                                        for xo in x0..<x1 { t[xo] += d[xo] * wv }
                                                    }
                                                } else {
                                                    let s = g.stride.w
                                                    // Four chains, not one: the additions need not wait on each other.
                                                    var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
                                                    var xo = x0
                                                    while xo + 4 <= x1 {
                                                        a0 += d[xo] * xs[xo * s]; a1 += d[xo + 1] * xs[(xo + 1) * s]
                                                        a2 += d[xo + 2] * xs[(xo + 2) * s]; a3 += d[xo + 3] * xs[(xo + 3) * s]
                                                        xo += 4
                                                    }
                                                    while xo < x1 { a0 += d[xo] * xs[xo * s]; xo += 1 }
                                                    acc += (a0 + a1) + (a2 + a3)
                                                    if let dxp {
                                                        let t = dxp + plane + iy * w + dxo
                                                        for xo in x0..<x1 { t[xo * s] += d[xo] * wv }
                                                    }
                                                }
                                            }
                                        }
                                        dwb[(ch * kh + i) * kw + j] = acc
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return (dx, dw)
}

/// Per-channel sums over images and positions: a bias's gradient. t: [N, C, ...] -> [C]
public func channelSums(_ t: Tensor) -> [Float] {
    let (n, c) = (t.shape[0], t.shape[1])
    let plane = t.count / max(n * c, 1)
    var out = [Float](repeating: 0, count: c)
    t.data.withUnsafeBufferPointer { tp in
        for img in 0..<n {
            for ch in 0..<c {
                var acc: Float = 0
                acc += laneSum(tp.baseAddress! + (img * c + ch) * plane, plane)
                out[ch] += acc
            }
        }
    }
    return out
}

/// Runs body with the tensor's storage, or nil when there is no tensor.
@inline(__always)
func withOptionalPointer<R>(_ t: inout Tensor?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
    guard var tensor = t else { return body(nil) }
    t = nil   // so that the storage is uniquely referenced while it is written
    defer { t = tensor }
    return tensor.data.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}
