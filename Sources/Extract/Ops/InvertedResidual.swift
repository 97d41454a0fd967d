// An inverted residual block (EfficientNet-Lite's MBConv, MobileNet v2's): a 1x1 expansion to
// many channels, a depthwise convolution, a 1x1 projection back to few, plus the input when the
// shapes allow. At batch 1 the expanded planes are the largest tensors of the pass (96 x 112 x 112,
// 4.8 MB, in EfficientNet-Lite0) and are written once and read once: as whole tensors they are
// written to memory that last held something a pass ago, fetched from DRAM first, and that made
// the 16 -> 96 expansion three times slower than onnxruntime's, whose buffers are reused warm.
// Here each worker takes a band of output rows and goes down it a few rows at a time: it expands
// the input rows those need into a small buffer, keeping the rows the band above expanded, runs
// the depthwise convolution and the projection on them, and copies the result out. The expanded
// and depthwise outputs never leave L2, and the three convolutions need one barrier instead of three.
import CKernels
import Dispatch

/// A convolution of the block with groups 1, weights packed for conv_gemm: the 1x1 projection, and
/// the expansion, 1x1 but for a stem that runs as the first block's expansion (any kernel and stride).
struct PackedConvWeights {
    let packed: UnsafePointer<Float>
    let bias: UnsafePointer<Float>
    let outChannels: Int
    let activation: Activation
    var geometry = Conv2dGeometry(kernel: 1)
}

/// The depthwise convolution of the block, weights interleaved for depthwise_blocked and bias
/// padded to whole blocks of 16 channels.
struct DepthwiseWeights {
    let interleaved: UnsafePointer<Float>
    let paddedBias: UnsafePointer<Float>
    let geometry: Conv2dGeometry
    let activation: Activation
}

/// Bytes of expanded rows a worker holds at a time: with the depthwise output and the kernels'
/// buffers, within a core's L2 (1 MiB on Zen 4/5).
let invertedResidualBandBytes = 320 << 10

/// x: [n, c, h, w] -> out: [n, o, oh, ow] = project(depthwise(expand(x))) (+ x when `residual`), each
/// with its bias and activation; equal to the three convolutions run one after another, but for the
/// order of the sums in conv_gemm's narrow strips. `bandBytes`: see invertedResidualBandBytes (tests
/// make it small to cross many bands). conv_gemm's kernel only (AVX-512: packedGemmAvailable).
func invertedResidual(_ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, expand: PackedConvWeights?,
                      depthwise dw: DepthwiseWeights, project: PackedConvWeights, residual: Bool,
                      into out: UnsafeMutablePointer<Float>, bandBytes: Int = invertedResidualBandBytes) {
    let e = expand?.outChannels ?? c, o = project.outChannels
    // The expansion's geometry, and the size of its output planes, which the depthwise convolution reads.
    let eg = expand?.geometry ?? Conv2dGeometry(kernel: 1)
    let (eh, ew) = eg.outputSize(height: h, width: w)
    let g = dw.geometry
    let (oh, ow) = g.outputSize(height: eh, width: ew)
    precondition(!residual || (o == c && oh == h && ow == w && eg == Conv2dGeometry(kernel: 1)), "invertedResidual: a residual needs equal shapes")
    let (sh, reach) = (g.stride.h, g.dilation.h * (g.kernel.h - 1) + 1)   // input rows an output row spans
    // Output rows per step down a band, and the expanded rows (the buffer's height) they read.
    let band = min(oh, max(1, (max(reach, bandBytes / (e * ew * 4)) - reach) / sh + 1))
    let cap = (band - 1) * sh + reach
    // Input rows the expansion of `cap` rows reads.
    let (esh, ereach) = (eg.stride.h, eg.dilation.h * (eg.kernel.h - 1) + 1)
    let capIn = (cap - 1) * esh + ereach
    let ek = c * eg.kernel.h * eg.kernel.w
    let parts = invertedResidualParts(n: n, oh: oh)

    // Per worker: the input rows (expansion only), the expanded rows, the depthwise and projected
    // outputs of one step, then conv_gemm's and depthwise_blocked's own scratch; each a whole
    // number of cache lines.
    func lines(_ floats: Int) -> Int { (floats + 15) / 16 * 16 }
    let inputFloats = expand == nil ? 0 : lines(c * capIn * w)
    let expandedFloats = lines(e * cap * ew), depthwiseFloats = lines(e * band * ow), projectedFloats = lines(o * band * ow)
    let gemmFloats = lines(max(expand == nil ? 0 : conv_gemm_scratch(e, ek, cap * ew), conv_gemm_scratch(o, e, band * ow)))
    var largest = depthwiseGeometry(g, c: e, h: cap, w: ew, oh: band, ow: ow, top: g.padding.top)
    let scratchFloats = inputFloats + expandedFloats + depthwiseFloats + projectedFloats + gemmFloats
        + depthwise_scratch_floats(&largest)

    parallelRanges(n * parts) { units in
        withScratch(scratchFloats) { scratch in
            let input = scratch, expanded = input + inputFloats, dwOut = expanded + expandedFloats
            let projected = dwOut + depthwiseFloats, gemmScratch = projected + projectedFloats
            let dwScratch = gemmScratch + gemmFloats
            for unit in units {
                let (image, part) = unit.quotientAndRemainder(dividingBy: parts)
                let xi = x + image * c * h * w, yi = out + image * o * oh * ow
                var held = 0..<0   // rows of the expanded planes held in `expanded`, the first at its row 0
                var r0 = part * oh / parts
                let end = (part + 1) * oh / parts
                while r0 < end {
                    let r1 = min(r0 + band, end)
                    // Rows of the expanded planes that output rows r0 ..< r1 read, clipped to the
                    // planes (the rest is the depthwise convolution's padding).
                    let a = max(0, r0 * sh - g.padding.top), b = min(eh, (r1 - 1) * sh - g.padding.top + reach)
                    var from = a
                    if held.contains(a) {
                        // Rows the previous step expanded move to the top of the buffer.
                        let shift = a - held.lowerBound, keep = held.upperBound - a
                        if shift > 0 {
                            for ch in 0..<e {
                                let plane = expanded + ch * cap * ew
                                plane.update(from: plane + shift * ew, count: keep * ew)
                            }
                        }
                        from = held.upperBound
                    }
                    if from < b {
                        if let expand {
                            // Input rows q0 ..< q1 (past the image: padding, zero) into the buffer's
                            // rows 0 ..< q1 - q0; expanded rows from ..< b are then its output rows
                            // 0 ..< b - from, written from the buffer's row from - a. (A 1x1 expansion
                            // copies rows from ..< b, and conv_gemm reads its strips in place.)
                            let q0 = from * esh - eg.padding.top, q1 = (b - 1) * esh - eg.padding.top + ereach
                            let (c0, c1) = (max(q0, 0), min(q1, h))
                            for ch in 0..<c {
                                let rows = input + ch * capIn * w
                                if c0 > q0 { rows.update(repeating: 0, count: (c0 - q0) * w) }
                                if c1 > c0 { (rows + (c0 - q0) * w).update(from: xi + ch * h * w + c0 * w, count: (c1 - c0) * w) }
                                if q1 > max(c1, c0) { (rows + (max(c1, c0) - q0) * w).update(repeating: 0, count: (q1 - max(c1, c0)) * w) }
                            }
                            var geo = conv_geometry(c: c, h: capIn, w: w, kh: eg.kernel.h, kw: eg.kernel.w, sh: esh, sw: eg.stride.w,
                                                    top: 0, left: eg.padding.left, dh: eg.dilation.h, dw: eg.dilation.w, oh: cap, ow: ew)
                            conv_gemm(expand.packed, e, 0, e, input, &geo, 0, (b - from) * ew, expand.bias,
                                      expand.activation.code, expanded + (from - a) * ew, gemmScratch)
                        } else {
                            for ch in 0..<c {
                                (expanded + ch * cap * w + (from - a) * w).update(from: xi + ch * h * w + from * w, count: (b - from) * w)
                            }
                        }
                    }
                    held = a..<b
                    // The depthwise convolution of output rows r0 ..< r1, reading the buffer as an image
                    // of b - a rows (past them, padding) whose row 0 is row a of the expanded planes.
                    var geo = depthwiseGeometry(g, c: e, h: b - a, w: ew, oh: r1 - r0, ow: ow, top: g.padding.top + a - r0 * sh,
                                                plane: cap * ew)
                    for block in 0..<(e + 15) / 16 {
                        depthwise_blocked(expanded, &geo, dw.interleaved + block * 16 * g.kernel.h * g.kernel.w,
                                          dw.paddedBias + block * 16, dw.activation.code, block, 0, r1 - r0, dwOut, dwScratch)
                    }
                    var pgeo = pointwiseGeometry(c: e, h: r1 - r0, w: ow)
                    conv_gemm(project.packed, o, 0, o, dwOut, &pgeo, 0, (r1 - r0) * ow, project.bias,
                              project.activation.code, projected, gemmScratch)
                    let count = (r1 - r0) * ow
                    for ch in 0..<o {
                        let src = projected + ch * count, dst = yi + ch * oh * ow + r0 * ow
                        if residual {
                            let skip = xi + ch * h * w + r0 * w
                            for i in 0..<count { dst[i] = src[i] + skip[i] }
                        } else {
                            dst.update(from: src, count: count)
                        }
                    }
                    r0 = r1
                }
            }
        }
    }
}

/// Bands of output rows each image is cut into: at batch 1, one per worker.
func invertedResidualParts(n: Int, oh: Int) -> Int {
    n >= Parallelism.threads ? 1 : min(oh, (Parallelism.threads + n - 1) / n)
}

/// A 1x1 stride-1 convolution over a c x h x w image, as conv_gemm reads it.
private func pointwiseGeometry(c: Int, h: Int, w: Int) -> conv_geometry {
    conv_geometry(c: c, h: h, w: w, kh: 1, kw: 1, sh: 1, sw: 1, top: 0, left: 0, dh: 1, dw: 1, oh: h, ow: w)
}

/// `plane`: floats between channels (h * w unless the planes sit in taller ones).
private func depthwiseGeometry(_ g: Conv2dGeometry, c: Int, h: Int, w: Int, oh: Int, ow: Int, top: Int,
                               plane: Int? = nil) -> depthwise_geometry {
    depthwise_geometry(c: c, h: h, w: w, oh: oh, ow: ow, kh: g.kernel.h, kw: g.kernel.w, sh: g.stride.h, sw: g.stride.w,
                       dh: g.dilation.h, dw: g.dilation.w, top: top, left: g.padding.left, plane: plane ?? h * w)
}

/// Batches up to this size run blocks fused. At batch 32 fusing made no difference to EfficientNet-Lite0
/// (313, 302, 320 images/s against 319, 320, 322 apart, alternating), so larger batches keep the
/// layer-by-layer path.
let invertedResidualMaxBatch = 1
/// Output rows a worker's band needs for the blocks to be fused: each band expands again the rows its
/// kernel shares with the band above (with many cores, 56 rows in 16 bands would expand 50% more).
let invertedResidualMinBandRows = 8
/// Expanded planes of at least this many bytes an image, more than a core's L2: EfficientNet-Lite0's
/// 112x112 and 56x56 stages. On smaller planes the weights weigh more than the activations, and
/// each step of a band streams them again (the 14x14 stage's blocks took 0.65 ms fused, 0.39 apart).
let invertedResidualMinBytes = 1 << 20

extension Taps {
    /// `project(depthwise(expand(x)))` (+ x when `residual`), expand and depthwise followed by
    /// `activation`, fused by invertedResidual when it applies (a small batch on the machine's
    /// conv_gemm kernel, expanded planes large enough, and no output inside the block asked for, nor
    /// any of `inner`); nil otherwise. `expand` is 1x1, or any convolution with groups 1 when there
    /// is no residual (EfficientNet-Lite's and MobileNet v2's stems before their first block).
    func fusedInvertedResidual(_ x: Tensor, expand: Conv2d?, depthwise: Conv2d, project: Conv2d, activation: Activation,
                               residual: Bool, inner: [String] = []) -> Tensor? {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let convs = [expand, depthwise, project].compactMap { $0 }
        let eg = expand?.geometry(height: h, width: w) ?? Conv2dGeometry(kernel: 1)
        let (eh, ew) = eg.outputSize(height: h, width: w)
        guard packedGemmEnabled, n <= invertedResidualMaxBatch, depthwise.outChannels * eh * ew * 4 >= invertedResidualMinBytes,
              !listing, !inner.contains(where: wants),
              !convs.contains(where: { $0.separateBN != nil || wants($0.name) || $0.bnName.map(wants) == true }),
              depthwise.groups == depthwise.outChannels, depthwise.weight.shape[1] == 1, expand?.groups ?? 1 == 1,
              !residual || eg == Conv2dGeometry(kernel: 1)
        else { return nil }
        let e = depthwise.outChannels, o = project.outChannels
        let g = depthwise.geometry(height: eh, width: ew)
        let (oh, ow) = g.outputSize(height: eh, width: ew)
        guard oh / invertedResidualParts(n: n, oh: oh) >= invertedResidualMinBandRows else { return nil }
        let taps = g.kernel.h * g.kernel.w, ek = c * eg.kernel.h * eg.kernel.w
        countMultiplyAdds(n * ((expand == nil ? 0 : e * ek * eh * ew) + e * taps * oh * ow + o * e * oh * ow))
        let start = convProfile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        defer {
            if convProfile != nil {
                let first = expand == nil ? "" : "\(eg.kernel.h)x\(eg.kernel.w)/\(eg.stride.h) \(c)->\(e) + "
                let key = "fused \(first)depthwise \(g.kernel.h)x\(g.kernel.w)/\(g.stride.h) + 1x1 ->\(o) \(h)x\(w)"
                let t = convProfile?[key] ?? (0, 0)
                convProfile?[key] = (t.seconds + Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, t.calls + 1)
            }
        }
        func bias(_ conv: Conv2d, padded: Int) -> [Float] {
            (0..<padded).map { $0 < conv.outChannels ? conv.bias?[$0] ?? 0 : 0 }
        }
        let expandPacked = expand.map { $0.derived.packed($0.weight.data, o: e, k: ek) } ?? []
        let expandBias = expand.map { bias($0, padded: e) } ?? []
        let dwWeights = depthwise.derived.depthwise(depthwise.weight.data, c: e, taps: taps)
        let dwBias = bias(depthwise, padded: (e + 15) / 16 * 16)
        let projectPacked = project.derived.packed(project.weight.data, o: o, k: e)
        let projectBias = bias(project, padded: o)
        return Tensor(shape: [n, o, oh, ow]) { out in
            x.data.withUnsafeBufferPointer { xp in
                expandPacked.withUnsafeBufferPointer { ep in
                    expandBias.withUnsafeBufferPointer { eb in
                        dwWeights.withUnsafeBufferPointer { dp in
                            dwBias.withUnsafeBufferPointer { db in
                                projectPacked.withUnsafeBufferPointer { pp in
                                    projectBias.withUnsafeBufferPointer { pb in
                                        invertedResidual(
                                            xp.baseAddress!, n: n, c: c, h: h, w: w,
                                            expand: expand == nil ? nil : PackedConvWeights(packed: ep.baseAddress!, bias: eb.baseAddress!,
                                                                                            outChannels: e, activation: activation,
                                                                                            geometry: eg),
                                            depthwise: DepthwiseWeights(interleaved: dp.baseAddress!, paddedBias: db.baseAddress!,
                                                                        geometry: g, activation: activation),
                                            project: PackedConvWeights(packed: pp.baseAddress!, bias: pb.baseAddress!,
                                                                       outChannels: o, activation: .none),
                                            residual: residual, into: out)
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
