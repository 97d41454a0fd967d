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
    let flat = sh == 1 && sw == 1   // strided, the flat sweep reads twice what it keeps; rows do better
    let pw = max(s.w + g.padding.left, (s.ow - 1) * sw + (kw - 1) * dw + 1)
    let ph = max(s.h + g.padding.top, (flat ? sh * s.oh : (s.oh - 1) * sh + 1) + (kh - 1) * dh + 1)
    parallelRanges(s.n * s.c) { planes in
        withScratch(ph * pw + s.oh * pw) { pad in
            pad.initialize(repeating: 0, count: ph * pw)
            for plane in planes {
                let ch = plane % s.c
                let src = x + plane * s.h * s.w
                // Only the interior changes from plane to plane; the zero border stays.
                for y in 0..<s.h {
                    (pad + (y + g.padding.top) * pw + g.padding.left).update(from: src + y * s.w, count: s.w)
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
