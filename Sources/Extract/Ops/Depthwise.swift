// Depthwise convolution (groups == channels, one kH x kW filter per plane), as MobileNet and
// EfficientNet use it: sgemm has nothing to gain, so each plane is zero-padded once and swept
// with 16-wide SIMD multiply-adds, planes split across the workers.

/// x: [N, C, H, W], weight: [C, 1, kH, kW] -> out: [N, C, oH, oW], bias and activation applied.
func depthwiseConv2d(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                     _ s: ConvShape, _ g: Conv2dGeometry, _ act: Activation, into out: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    let (kh, kw) = g.kernel
    let (sh, sw) = g.stride
    let (dh, dw) = g.dilation
    // The padded plane holds every input any 16-wide output vector reads, so the sweep needs no bounds.
    let owPadded = (s.ow + 15) / 16 * 16
    let pw = max(s.w + g.padding.left, (owPadded - 1) * sw + (kw - 1) * dw + 1) + 16
    let ph = max(s.h + g.padding.top, (s.oh - 1) * sh + (kh - 1) * dh + 1)
    parallelRanges(s.n * s.c) { planes in
        withScratch(ph * pw + 16) { pad in
            pad.initialize(repeating: 0, count: ph * pw + 16)
            for plane in planes {
                let ch = plane % s.c
                let src = x + plane * s.h * s.w
                for y in 0..<s.h {
                    (pad + (y + g.padding.top) * pw + g.padding.left).update(from: src + y * s.w, count: s.w)
                }
                let kern = weight + ch * kh * kw
                let dst = out + plane * s.oh * s.ow
                let vmin = V(repeating: 0), vmax = V(repeating: 6)
                for y in 0..<s.oh {
                    var x0 = 0
                    while x0 < s.ow {
                        var acc = V(repeating: bias[ch])
                        for i in 0..<kh {
                            let row = pad + (y * sh + i * dh) * pw + x0 * sw
                            for j in 0..<kw {
                                acc += V(repeating: kern[i * kw + j]) * load(row + j * dw, stride: sw)
                            }
                        }
                        switch act {
                        case .none: break
                        case .relu: acc = acc.replacing(with: vmin, where: acc .< vmin)
                        case .relu6: acc = acc.replacing(with: vmin, where: acc .< vmin).replacing(with: vmax, where: acc .> vmax)
                        }
                        let d = dst + y * s.ow + x0
                        if x0 + 16 <= s.ow {
                            UnsafeMutableRawPointer(d).storeBytes(of: acc, as: V.self)
                        } else {
                            for l in 0..<(s.ow - x0) { d[l] = acc[l] }
                        }
                        x0 += 16
                    }
                }
                // Only the interior changes from plane to plane; the zero border stays.
            }
        }
    }

    @inline(__always) func load(_ p: UnsafeMutablePointer<Float>, stride: Int) -> V {
        switch stride {
        case 1: return UnsafeRawPointer(p).loadUnaligned(as: V.self)
        case 2: return UnsafeRawPointer(p).loadUnaligned(as: SIMD32<Float>.self).evenHalf
        default:
            var v = V()
            for l in 0..<16 { v[l] = p[l * stride] }
            return v
        }
    }
}
