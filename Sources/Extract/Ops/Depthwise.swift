// Depthwise convolution (groups == channels, one kH x kW filter per plane), as MobileNet and
// EfficientNet use it: sgemm has nothing to gain, so each plane is zero-padded once and swept
// with vectorised multiply-adds (CKernels' depthwise_plane), planes split across the workers.
import CKernels

/// x: [N, C, H, W], weight: [C, 1, kH, kW] -> out: [N, C, oH, oW], bias and activation applied.
func depthwiseConv2d(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                     _ s: ConvShape, _ g: Conv2dGeometry, _ act: Activation, into out: UnsafeMutablePointer<Float>) {
    let (kh, kw) = g.kernel
    let (sh, sw) = g.stride
    let (dh, dw) = g.dilation
    // The padded plane holds every input the sweep reads, so the sweep needs no bounds.
    let flat = sh == 1 && sw == 1   // strided, the flat sweep reads twice what it keeps
    let halves = sh == 2 && sw == 2 && dh == 1 && dw == 1
    let quarter = (s.oh + kh / 2 + 1) * (paddedWidth(s, g) / 2 + kw / 2 + 1)
    let pw = paddedWidth(s, g)
    let ph = max(s.h + g.padding.top, (flat ? sh * s.oh : (s.oh - 1) * sh + 1) + (kh - 1) * dh + 1)
    parallelRanges(s.n * s.c) { planes in
        withScratch(ph * pw + max(s.oh * pw, halves ? 5 * quarter : 0)) { pad in
            pad.initialize(repeating: 0, count: ph * pw)
            for plane in planes {
                let ch = plane % s.c
                let src = x + plane * s.h * s.w
                // Only the interior changes from plane to plane; the zero border stays.
                for y in 0..<s.h {
                    (pad + (y + g.padding.top) * pw + g.padding.left).update(from: src + y * s.w, count: s.w)
                }
                if halves {
                    depthwise_plane_s2(pad, ph, pw, weight + ch * kh * kw, kh, kw, bias[ch], act.code,
                                       out + plane * s.oh * s.ow, s.oh, s.ow, pad + ph * pw)
                    continue
                }
                if flat {
                    depthwise_plane_flat(pad, pw, weight + ch * kh * kw, kh, kw, sh, dh, dw, bias[ch], act.code,
                                         out + plane * s.oh * s.ow, s.oh, s.ow, pad + ph * pw)
                    continue
                }
                depthwise_plane(pad, pw, weight + ch * kh * kw, kh, kw, sh, sw, dh, dw, bias[ch], act.code,
                                out + plane * s.oh * s.ow, s.oh, s.ow, pad + ph * pw)
            }
        }
    }
}

/// Row length of the zero-padded plane: the input and its left padding, or what the sweep reads.
private func paddedWidth(_ s: ConvShape, _ g: Conv2dGeometry) -> Int {
    max(s.w + g.padding.left, (s.ow - 1) * g.stride.w + (g.kernel.w - 1) * g.dilation.w + 1)
}
