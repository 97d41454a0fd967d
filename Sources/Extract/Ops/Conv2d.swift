// 2-D convolution as torch.nn.functional.conv2d computes it (cross-correlation, NCHW), with the
// bias and activation fused into the output step. Padding may be asymmetric (TF "same").
import CBLAS
import CKernels
import Dispatch

/// Multiply-adds done by conv2d and linear while counting is on (Model.multiplyAdds turns it on
/// for one single-threaded pass); a benchmark divides by time to report GFLOP/s.
nonisolated(unsafe) var multiplyAddCounter: Int?

/// Seconds spent per kind of convolution while profiling is on (`pipeline bench --profile`).
nonisolated(unsafe) public var convProfile: [String: (seconds: Double, calls: Int)]?

@inline(__always) func countMultiplyAdds(_ n: Int) {
    if let c = multiplyAddCounter { multiplyAddCounter = c + n }
}

/// What follows a convolution or linear layer, fused into its output step.
/// Hardswish and Hardsigmoid are torch's (MobileNet v3): x * relu6(x + 3) / 6 and relu6(x + 3) / 6.
public enum Activation: String, Sendable {
    case none, relu, relu6, hardswish, hardsigmoid

    @inline(__always) func apply(_ v: Float) -> Float {
        switch self {
        case .none: return v
        case .relu: return max(v, 0)
        case .relu6: return min(max(v, 0), 6)
        case .hardswish: return v * min(max(v + 3, 0), 6) / 6
        case .hardsigmoid: return min(max(v + 3, 0), 6) / 6
        }
    }

    /// The code CKernels' functions take.
    var code: Int32 {
        switch self {
        case .none: return 0
        case .relu: return 1
        case .relu6: return 2
        case .hardswish: return 3
        case .hardsigmoid: return 4
        }
    }
}

/// Kernel size, stride, padding (top, left, bottom, right), dilation and groups of a convolution.
public struct Conv2dGeometry: Equatable, Sendable {
    public var kernel: (h: Int, w: Int)
    public var stride: (h: Int, w: Int)
    public var padding: (top: Int, left: Int, bottom: Int, right: Int)
    public var dilation: (h: Int, w: Int)
    public var groups: Int

    public init(kernel: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) {
        self.kernel = (kernel, kernel)
        self.stride = (stride, stride)
        self.padding = (padding, padding, padding, padding)
        self.dilation = (dilation, dilation)
        self.groups = groups
    }

    /// TensorFlow's "SAME" padding for an input of `size` (efficientnet-lite-pytorch's
    /// Conv2dStaticSamePadding): the output is ceil(size / stride), extra padding goes bottom/right.
    public static func same(kernel: Int, stride: Int, inputSize: (h: Int, w: Int), groups: Int = 1) -> Conv2dGeometry {
        func pads(_ size: Int) -> (Int, Int) {
            let out = (size + stride - 1) / stride
            let total = max((out - 1) * stride + kernel - size, 0)
            return (total / 2, total - total / 2)
        }
        var g = Conv2dGeometry(kernel: kernel, stride: stride, groups: groups)
        let (top, bottom) = pads(inputSize.h), (left, right) = pads(inputSize.w)
        g.padding = (top, left, bottom, right)
        return g
    }

    public func outputSize(height: Int, width: Int) -> (h: Int, w: Int) {
        let h = (height + padding.top + padding.bottom - dilation.h * (kernel.h - 1) - 1) / stride.h + 1
        let w = (width + padding.left + padding.right - dilation.w * (kernel.w - 1) - 1) / stride.w + 1
        return (h, w)
    }

    public static func == (a: Conv2dGeometry, b: Conv2dGeometry) -> Bool {
        a.kernel == b.kernel && a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation && a.groups == b.groups
    }
}

/// Convolution. 3x3 stride-1 convolutions with enough channels use Winograd (Winograd.swift), and so
/// do strided ones whose kernel spans at most three strides, rewritten by space to depth (SpaceToDepth.swift);
/// depthwise convolutions (groups == channels) run in SIMD blocks of 16 channels (Depthwise.swift);
/// the rest are one matrix product with the layer's packed weights where the CPU has AVX-512
/// (ConvGemm.swift), else im2col and OpenBLAS sgemm, several small images per sgemm.
/// x: [N, C, H, W], weight: [O, C/groups, kH, kW], bias: [O] -> [N, O, oH, oW]
public func conv2d(_ x: Tensor, weight: Tensor, bias: [Float]?, geometry g: Conv2dGeometry,
                   activation: Activation = .none) -> Tensor {
    conv2d(x, weight: weight, bias: bias, geometry: g, activation: activation, cache: nil)
}

/// conv2d with a layer's cache of derived weights (nil: derive them for this call).
func conv2d(_ x: Tensor, weight: Tensor, bias: [Float]?, geometry g: Conv2dGeometry, activation: Activation,
            cache: WeightCache?) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let o = weight.shape[0]
    precondition(weight.shape[1] * g.groups == c && o % g.groups == 0, "conv2d: weight \(weight.shape) does not fit input \(x.shape) with groups \(g.groups)")
    let (oh, ow) = g.outputSize(height: h, width: w)
    countMultiplyAdds(n * o * oh * ow * weight.shape[1] * g.kernel.h * g.kernel.w)
    let b = bias ?? [Float](repeating: 0, count: o)
    let start = convProfile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
    defer {
        if convProfile != nil {
            let shape = ConvShape(n: n, c: c, h: h, w: w, o: o, oh: oh, ow: ow)
            let path = g.groups == c && g.groups > 1 ? "depthwise" : winogradApplies(g, shape) ? "winograd"
                : spaceToDepthShape(g, shape) != nil ? "space-to-depth winograd"
                : packedGemmEnabled && g.groups == 1 ? "gemm" : "im2col"
            let key = "\(path) \(g.kernel.h)x\(g.kernel.w)/\(g.stride.h) \(c)->\(o) \(h)x\(w)"
            let t = convProfile?[key] ?? (0, 0)
            convProfile?[key] = (t.seconds + Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, t.calls + 1)
        }
    }
    return Tensor(shape: [n, o, oh, ow]) { op in
        x.data.withUnsafeBufferPointer { xp in
            weight.data.withUnsafeBufferPointer { wp in
                b.withUnsafeBufferPointer { bp in
                    let shape = ConvShape(n: n, c: c, h: h, w: w, o: o, oh: oh, ow: ow)
                    let (x, w, b) = (xp.baseAddress!, wp.baseAddress!, bp.baseAddress!)
                    if g.groups == c && o == c && weight.shape[1] == 1 {
                        if let cache {
                            cache.depthwise(weight.data, c: c, taps: g.kernel.h * g.kernel.w).withUnsafeBufferPointer { wt in
                                depthwiseConv2d(x, weight: w, bias: b, shape, g, activation, into: op, interleaved: wt.baseAddress!)
                            }
                        } else {
                            depthwiseConv2d(x, weight: w, bias: b, shape, g, activation, into: op)
                        }
                    } else if winogradApplies(g, shape) {
                        let tile = winogradTile(shape)
                        if let cache {
                            cache.winograd(weight.data, o: o, c: c, tile: tile).withUnsafeBufferPointer { u in
                                winogradConv2d(x, transformed: u.baseAddress!, bias: b, shape, g, activation, into: op, tile: tile)
                            }
                        } else {
                            winogradConv2d(x, weight: w, bias: b, shape, g, activation, into: op, tile: tile)
                        }
                    } else if let t = spaceToDepthShape(g, shape) {
                        spaceToDepthConv2d(x, weight: weight.data, bias: b, shape, g, t, activation, cache: cache, into: op)
                    } else if packedGemmEnabled && g.groups == 1 {
                        let packed = (cache ?? WeightCache()).packed(weight.data, o: o, k: c * g.kernel.h * g.kernel.w)
                        packed.withUnsafeBufferPointer { p in
                            packedConv2d(x, packed: p.baseAddress!, bias: b, shape, g, activation, into: op)
                        }
                    } else {
                        gemmConv2d(x, weight: w, bias: b, shape, g, activation, into: op)
                    }
                }
            }
        }
    }
}

/// Sizes of one convolution: input [n, c, h, w], output [n, o, oh, ow].
struct ConvShape {
    let n, c, h, w, o, oh, ow: Int
}

/// Columns one sgemm should at least have, so that packing the weights is paid over enough work;
/// and the most floats an im2col buffer may hold when it spans several images.
private let gemmColumns = 1536
private let im2colFloats = 4 << 20

/// im2col + sgemm over chunks of images, each phase split across the workers: im2col by channel,
/// sgemm by columns (or rows of the weights when they outnumber the columns), then the bias and
/// activation on the block each worker just computed.
private func gemmConv2d(_ x: UnsafePointer<Float>, weight wp: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                        _ s: ConvShape, _ g: Conv2dGeometry, _ act: Activation, into op: UnsafeMutablePointer<Float>) {
    let cg = s.c / g.groups, og = s.o / g.groups
    let taps = g.kernel.h * g.kernel.w
    let k = cg * taps
    let p = s.oh * s.ow
    let pointwise = g.kernel == (1, 1) && g.stride == (1, 1) && g.padding == (0, 0, 0, 0)
    let nb = max(1, min(s.n, (gemmColumns + p - 1) / p, im2colFloats / max(k * p, 1)))
    let direct = pointwise && nb == 1     // the input is already the sgemm's right-hand matrix
    withScratch(direct ? 0 : k * nb * p) { col in
        withScratch(nb > 1 ? og * nb * p : 0) { tmp in
            for img0 in stride(from: 0, to: s.n, by: nb) {
                let count = min(nb, s.n - img0), cols = count * p
                for grp in 0..<g.groups {
                    let src = x + (img0 * s.c + grp * cg) * s.h * s.w
                    var rhs = UnsafePointer(src)
                    if !direct {
                        parallelRanges(count * cg) { r in
                            for u in r {
                                let (j, ch) = u.quotientAndRemainder(dividingBy: cg)
                                im2col(src + (j * s.c + ch) * s.h * s.w, channels: 1, height: s.h, width: s.w, geometry: g,
                                       outH: s.oh, outW: s.ow, into: col + ch * taps * cols + j * p, rowStride: cols)
                            }
                        }
                        rhs = UnsafePointer(col)
                    }
                    let result = nb > 1 ? tmp : op + (img0 * s.o + grp * og) * p
                    let splitColumns = cols >= og
                    parallelRanges(splitColumns ? cols : og, grain: splitColumns ? 64 : 16, align: 16) { r in
                        let rows = splitColumns ? 0..<og : r, part = splitColumns ? r : 0..<cols
                        // With few input channels, sgemm goes through its output about as fast as
                        // the epilogue does: blocks of about 512 KB keep it in cache for the epilogue.
                        let block = k <= 512 ? max(512, (1 << 17) / max(rows.count, 1)) / 16 * 16 : part.count
                        for b0 in stride(from: part.lowerBound, to: part.upperBound, by: max(block, 16)) {
                            let span = b0..<min(part.upperBound, b0 + max(block, 16))
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                        Int32(rows.count), Int32(span.count), Int32(k), 1,
                                        wp + (grp * og + rows.lowerBound) * k, Int32(k),
                                        rhs + span.lowerBound, Int32(cols), 0,
                                        result + rows.lowerBound * cols + span.lowerBound, Int32(cols))
                            // Scatter [og, count * p] back to NCHW image by image, with bias and activation.
                            for row in rows {
                                let oc = grp * og + row
                                var at = span.lowerBound
                                while at < span.upperBound {
                                    let (j, q) = at.quotientAndRemainder(dividingBy: p)
                                    let len = min(span.upperBound, (j + 1) * p) - at
                                    biasActivate(result + row * cols + at, op + ((img0 + j) * s.o + oc) * p + q,
                                                 count: len, bias: bias[oc], act)
                                    at += len
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The output columns [x0, x1) whose input column x sW - left + j dW, for kernel column j, falls inside
/// a row of `width` (im2col copies them, col2im adds them back; the rest are padding).
public func im2colColumns(_ g: Conv2dGeometry, kernelColumn j: Int, width w: Int, outW ow: Int) -> (Int, Int) {
    let dx = j * g.dilation.w - g.padding.left
    let x0 = min(ow, max(0, (-dx + g.stride.w - 1) / g.stride.w))
    return (x0, max(x0, min(ow, (w - dx + g.stride.w - 1) / g.stride.w)))
}

/// col[(c * kH + i) * kW + j][y * outW + x] = input[c][y * sH - top + i * dH][x * sW - left + j * dW], 0 outside.
/// Rows are `rowStride` apart (oH * oW unless several images share the buffer).
public func im2col(_ src: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int, geometry g: Conv2dGeometry,
            outH oh: Int, outW ow: Int, into col: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
    let ld = rowStride ?? oh * ow
    var row = 0
    for ch in 0..<channels {
        let plane = src + ch * h * w
        for i in 0..<g.kernel.h {
            for j in 0..<g.kernel.w {
                let dst = col + row * ld
                let dx = j * g.dilation.w - g.padding.left
                let (x0, x1) = im2colColumns(g, kernelColumn: j, width: w, outW: ow)
                for y in 0..<oh {
                    let iy = y * g.stride.h - g.padding.top + i * g.dilation.h
                    let d = dst + y * ow
                    if iy < 0 || iy >= h {
                        d.update(repeating: 0, count: ow)
                        continue
                    }
                    let s = plane + iy * w
                    if x0 > 0 { d.update(repeating: 0, count: x0) }
                    if g.stride.w == 1 {
                        (d + x0).update(from: s + x0 + dx, count: x1 - x0)
                    } else if x1 > x0 {
                        gather_strided(s + x0 * g.stride.w + dx, g.stride.w, d + x0, x1 - x0)
                    }
                    if x1 < ow { (d + x1).update(repeating: 0, count: ow - x1) }
                }
                row += 1
            }
        }
    }
}
