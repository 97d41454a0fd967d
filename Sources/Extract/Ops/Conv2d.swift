// 2-D convolution as torch.nn.functional.conv2d computes it (cross-correlation, NCHW), with the
// bias and activation fused into the output step. Padding may be asymmetric (TF "same").
import CBLAS

/// Multiply-adds done by conv2d and linear while counting is on (Model.multiplyAdds turns it on
/// for one single-threaded pass); a benchmark divides by time to report GFLOP/s.
nonisolated(unsafe) var multiplyAddCounter: Int?

@inline(__always) func countMultiplyAdds(_ n: Int) {
    if let c = multiplyAddCounter { multiplyAddCounter = c + n }
}

/// What follows a convolution or linear layer, fused into its output step.
public enum Activation: String, Sendable {
    case none, relu, relu6

    @inline(__always) func apply(_ v: Float) -> Float {
        switch self {
        case .none: return v
        case .relu: return max(v, 0)
        case .relu6: return min(max(v, 0), 6)
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

/// Convolution with BLAS: 1x1 stride-1 convolutions are one sgemm per image; others go through
/// im2col; depthwise convolutions (groups == channels) run as direct loops, where sgemm has nothing to gain.
/// x: [N, C, H, W], weight: [O, C/groups, kH, kW], bias: [O] -> [N, O, oH, oW]
public func conv2d(_ x: Tensor, weight: Tensor, bias: [Float]?, geometry g: Conv2dGeometry,
                   activation: Activation = .none) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let o = weight.shape[0]
    precondition(weight.shape[1] * g.groups == c && o % g.groups == 0, "conv2d: weight \(weight.shape) does not fit input \(x.shape) with groups \(g.groups)")
    let (oh, ow) = g.outputSize(height: h, width: w)
    var out = Tensor(zeros: [n, o, oh, ow])
    countMultiplyAdds(n * o * oh * ow * weight.shape[1] * g.kernel.h * g.kernel.w)
    if g.groups == c && o == c && weight.shape[1] == 1 {
        depthwiseConv2d(x, weight: weight, geometry: g, into: &out)
    } else {
        gemmConv2d(x, weight: weight, geometry: g, into: &out)
    }
    addBiasAndActivate(&out, bias: bias, activation: activation)
    return out
}

/// out[n, o, :, :] = act(out + bias[o]), in place.
func addBiasAndActivate(_ t: inout Tensor, bias: [Float]?, activation: Activation) {
    if bias == nil && activation == .none { return }
    let channels = t.shape[1]
    let plane = t.count / max(t.shape[0] * channels, 1)
    let zeros = [Float](repeating: 0, count: channels)
    let b = bias ?? zeros
    t.data.withUnsafeMutableBufferPointer { p in
        for img in 0..<t.shape[0] {
            for ch in 0..<channels {
                let base = (img * channels + ch) * plane
                let bv = b[ch]
                switch activation {
                case .none: for i in base..<base + plane { p[i] += bv }
                case .relu: for i in base..<base + plane { p[i] = max(p[i] + bv, 0) }
                case .relu6: for i in base..<base + plane { p[i] = min(max(p[i] + bv, 0), 6) }
                }
            }
        }
    }
}

private func gemmConv2d(_ x: Tensor, weight: Tensor, geometry g: Conv2dGeometry, into out: inout Tensor) {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, oh, ow) = (out.shape[1], out.shape[2], out.shape[3])
    let cg = c / g.groups, og = o / g.groups
    let k = cg * g.kernel.h * g.kernel.w
    let pointwise = g.kernel == (1, 1) && g.stride == (1, 1) && g.padding == (0, 0, 0, 0)
    var col = pointwise ? [] : [Float](repeating: 0, count: k * oh * ow)
    x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
            out.data.withUnsafeMutableBufferPointer { op in
                col.withUnsafeMutableBufferPointer { cp in
                    for img in 0..<n {
                        for grp in 0..<g.groups {
                            let src = xp.baseAddress! + (img * c + grp * cg) * h * w
                            let b: UnsafePointer<Float>
                            if pointwise {
                                b = src
                            } else {
                                im2col(src, channels: cg, height: h, width: w, geometry: g, outH: oh, outW: ow, into: cp.baseAddress!)
                                b = UnsafePointer(cp.baseAddress!)
                            }
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                        Int32(og), Int32(oh * ow), Int32(k), 1,
                                        wp.baseAddress! + grp * og * k, Int32(k),
                                        b, Int32(oh * ow), 0,
                                        op.baseAddress! + (img * o + grp * og) * oh * ow, Int32(oh * ow))
                        }
                    }
                }
            }
        }
    }
}

/// col[(c * kH + i) * kW + j][y * outW + x] = input[c][y * sH - top + i * dH][x * sW - left + j * dW], 0 outside.
func im2col(_ src: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int, geometry g: Conv2dGeometry,
            outH oh: Int, outW ow: Int, into col: UnsafeMutablePointer<Float>) {
    var row = 0
    for ch in 0..<channels {
        let plane = src + ch * h * w
        for i in 0..<g.kernel.h {
            for j in 0..<g.kernel.w {
                let dst = col + row * oh * ow
                let dx = j * g.dilation.w - g.padding.left
                // Output columns whose input column falls inside the image: [x0, x1).
                let x0 = min(ow, max(0, (-dx + g.stride.w - 1) / g.stride.w))
                let x1 = max(x0, min(ow, (w - dx + g.stride.w - 1) / g.stride.w))
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
                    } else {
                        for x in x0..<x1 { d[x] = s[x * g.stride.w + dx] }
                    }
                    if x1 < ow { (d + x1).update(repeating: 0, count: ow - x1) }
                }
                row += 1
            }
        }
    }
}

private func depthwiseConv2d(_ x: Tensor, weight: Tensor, geometry g: Conv2dGeometry, into out: inout Tensor) {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = (out.shape[2], out.shape[3])
    let (kh, kw) = g.kernel
    x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
            out.data.withUnsafeMutableBufferPointer { op in
                for plane in 0..<(n * c) {
                    let ch = plane % c
                    let src = xp.baseAddress! + plane * h * w
                    let dst = op.baseAddress! + plane * oh * ow
                    let kern = wp.baseAddress! + ch * kh * kw
                    for i in 0..<kh {
                        for j in 0..<kw {
                            let wv = kern[i * kw + j]
                            let dx = j * g.dilation.w - g.padding.left
                            let x0 = min(ow, max(0, (-dx + g.stride.w - 1) / g.stride.w))
                            let x1 = max(x0, min(ow, (w - dx + g.stride.w - 1) / g.stride.w))
                            for y in 0..<oh {
                                let iy = y * g.stride.h - g.padding.top + i * g.dilation.h
                                if iy < 0 || iy >= h { continue }
                                let s = src + iy * w + dx
                                let d = dst + y * ow
                                if g.stride.w == 1 {
                                    for xo in x0..<x1 { d[xo] += wv * s[xo] }
                                } else {
                                    for xo in x0..<x1 { d[xo] += wv * s[xo * g.stride.w] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
