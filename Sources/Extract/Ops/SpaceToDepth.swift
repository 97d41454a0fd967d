// A strided convolution whose kernel spans at most three strides (AlexNet's 11x11/4 stem: 3 x 4 >= 11)
// is a 3x3 stride-1 convolution over the input's s x s blocks stacked as channels ("space to depth"),
// which Winograd then runs. With ky = s a + dy and kx = s b + dx (a, b < 3; dy, dx < s):
//
//   out[o, y, x] = sum over c, ky, kx of w[o, c, ky, kx] in[c, s y + ky - top, s x + kx - left]
//                = sum over (c, dy, dx), a, b of w'[o, (c, dy, dx), a, b] z[(c, dy, dx), y + a, x + b]
//
// where z[(c, dy, dx), Y, X] = in[c, s Y + dy - top, s X + dx - left] (zero outside the input) and
// w'[o, (c, dy, dx), a, b] = w[o, c, s a + dy, s b + dx] (zero where that passes the kernel).
// AlexNet's stem becomes 48 -> 64 channels, 3x3 on 57x57: im2col at stride 4 gathered single floats
// from every fourth column, and F(4x4) spends 36 multiplies on 16 outputs where the 3x3 spends 144.
import CKernels
import Foundation

/// The shape of the stride-1 3x3 convolution that stands for `g` on `s` by space to depth, when Winograd
/// runs it; nil when the rewrite does not apply.
func spaceToDepthShape(_ g: Conv2dGeometry, _ s: ConvShape) -> ConvShape? {
    let st = g.stride.h
    guard g.groups == 1, g.dilation == (1, 1), st >= 2, g.stride.w == st,
          (g.kernel.h + st - 1) / st == 3, (g.kernel.w + st - 1) / st == 3 else { return nil }
    let t = ConvShape(n: s.n, c: s.c * st * st, h: s.oh + 2, w: s.ow + 2, o: s.o, oh: s.oh, ow: s.ow)
    return winogradApplies(Conv2dGeometry(kernel: 3), t) ? t : nil
}

/// z [N, C s s, oH + 2, oW + 2] from x [N, C, H, W] as above (t: spaceToDepthShape's result). Each
/// input row fills one row of s planes (dx = 0 ..< s) at once.
func spaceToDepth(_ x: UnsafePointer<Float>, _ s: ConvShape, _ g: Conv2dGeometry, _ t: ConvShape,
                  into z: UnsafeMutablePointer<Float>) {
    let st = g.stride.h, top = g.padding.top, left = g.padding.left, plane = t.h * t.w
    // Columns X whose input column st X + dx - left lies in [0, W), for each dx.
    let x0 = (0..<st).map { dx in min(t.w, max(0, (left - dx + st - 1) / st)) }
    let x1 = (0..<st).map { dx in max(x0[dx], min(t.w, (s.w + left - dx + st - 1) / st)) }
    parallelRanges(t.n * s.c * st, grain: 2) { units in
        for unit in units {
            let (imageChannel, dy) = unit.quotientAndRemainder(dividingBy: st)
            let src = x + imageChannel * s.h * s.w
            let dst = z + unit * st * plane           // plane (image, (c, dy, 0))
            for y in 0..<t.h {
                let iy = st * y + dy - top
                guard iy >= 0 && iy < s.h else {
                    for dx in 0..<st { (dst + dx * plane + y * t.w).update(repeating: 0, count: t.w) }
                    continue
                }
                deinterleave_row(src + iy * s.w - left, st, x0, x1, t.w, dst + y * t.w, plane)
            }
        }
    }
}

/// w' [O, C s s, 3, 3] from w [O, C, kH, kW] as above.
func spaceToDepthWeights(_ w: UnsafePointer<Float>, o: Int, c: Int, _ g: Conv2dGeometry,
                         into out: UnsafeMutablePointer<Float>) {
    let st = g.stride.h, (kh, kw) = g.kernel
    var i = 0
    for oc in 0..<o {
        for ch in 0..<c {
            for dy in 0..<st {
                for dx in 0..<st {
                    for a in 0..<3 {
                        for b in 0..<3 {
                            let ky = st * a + dy, kx = st * b + dx
                            out[i] = ky < kh && kx < kw ? w[((oc * c + ch) * kh + ky) * kw + kx] : 0
                            i += 1
                        }
                    }
                }
            }
        }
    }
}

/// The convolution by space to depth and Winograd (t: spaceToDepthShape's result), the transformed
/// weights from the layer's cache when there is one. With several images each worker takes whole
/// images, so that an image's blocks go from space to depth through Winograd while in its L2: done
/// for the whole batch first, they made a pass through memory of their own (AlexNet at batch 32:
/// 2 ms of the layer's 14).
func spaceToDepthConv2d(_ x: UnsafePointer<Float>, weight: [Float], bias: UnsafePointer<Float>, _ s: ConvShape,
                        _ g: Conv2dGeometry, _ t: ConvShape, _ act: Activation, cache: WeightCache?,
                        into out: UnsafeMutablePointer<Float>) {
    let tile = winogradTile(t)
    let u = (cache ?? WeightCache()).spaceToDepthWinograd(weight, o: s.o, c: s.c, geometry: g, tile: tile)
    let one = ConvShape(n: 1, c: s.c, h: s.h, w: s.w, o: s.o, oh: s.oh, ow: s.ow)
    let oneT = ConvShape(n: 1, c: t.c, h: t.h, w: t.w, o: t.o, oh: t.oh, ow: t.ow)
    u.withUnsafeBufferPointer { u in
        func run(_ x: UnsafePointer<Float>, _ s: ConvShape, _ t: ConvShape, _ out: UnsafeMutablePointer<Float>) {
            withScratch(t.n * t.c * t.h * t.w) { z in
                spaceToDepth(x, s, g, t, into: z)
                winogradConv2d(z, transformed: u.baseAddress!, bias: bias, t, Conv2dGeometry(kernel: 3), act, into: out,
                               tile: tile)
            }
        }
        if s.n < Parallelism.threads {
            return run(x, s, t, out)
        }
        parallelChunks(s.n) { i in
            run(x + i * s.c * s.h * s.w, one, oneT, out + i * s.o * s.oh * s.ow)
        }
    }
}
