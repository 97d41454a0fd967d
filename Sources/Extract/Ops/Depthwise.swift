// Depthwise convolution (groups == channels, one kH x kW filter per plane), as MobileNet and
// EfficientNet use it: sgemm has nothing to gain. Channels go in blocks of 16 through CKernels'
// depthwise_blocked, which interleaves a block's planes so that one output pixel of the block is
// one vector (a plane-by-plane sweep leaves 7- and 14-wide rows to loop tails). Work is split
// across the workers by image and block, and by bands of output rows when those are too few.
import CKernels

/// x: [N, C, H, W], weight: [C, 1, kH, kW] -> out: [N, C, oH, oW], bias and activation applied.
/// `interleaved`: the weights already in depthwise_blocked's layout (depthwiseInterleavedWeights), as a
/// layer's WeightCache holds them; without it each worker arranges those of the blocks it meets.
func depthwiseConv2d(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                     _ s: ConvShape, _ g: Conv2dGeometry, _ act: Activation, into out: UnsafeMutablePointer<Float>,
                     interleaved: UnsafePointer<Float>? = nil) {
    let geometry = depthwise_geometry(c: s.c, h: s.h, w: s.w, oh: s.oh, ow: s.ow, kh: g.kernel.h, kw: g.kernel.w,
                                      sh: g.stride.h, sw: g.stride.w, dh: g.dilation.h, dw: g.dilation.w,
                                      top: g.padding.top, left: g.padding.left, plane: s.h * s.w)
    let blocks = (s.c + 15) / 16, taps = g.kernel.h * g.kernel.w
    let parts = rowBands(units: s.n * blocks, rows: s.oh)
    // The bias in blocks of 16, zero past the last channel, beside interleaved weights.
    let paddedBias = interleaved == nil ? [] : (0..<blocks * 16).map { $0 < s.c ? bias[$0] : 0 }
    withUnsafePointer(to: geometry) { geo in
        paddedBias.withUnsafeBufferPointer { paddedBias in
            parallelRanges(s.n * blocks * parts) { units in
                // Without interleaved weights, each worker arranges those of the blocks it meets (all of
                // them if its units reach into a second image): at batch 1 the workers share that work.
                let (first, last) = (units.lowerBound / parts, (units.upperBound - 1) / parts)   // image * blocks + block
                let (b0, b1) = interleaved != nil ? (0, blocks)
                    : first / blocks == last / blocks ? (first % blocks, last % blocks + 1) : (0, blocks)
                let weights = interleaved == nil ? (b1 - b0) * 16 * (taps + 1) : 0
                withScratch(weights + depthwise_scratch_floats(geo)) { scratch in
                    var (wt, bt) = (UnsafePointer(scratch), UnsafePointer(scratch + (b1 - b0) * 16 * taps))
                    if let interleaved {
                        (wt, bt) = (interleaved, paddedBias.baseAddress!)
                    } else {
                        depthwise_pack_weights(weight + b0 * 16 * taps, bias + b0 * 16, min(s.c, b1 * 16) - b0 * 16, taps,
                                               scratch, scratch + (b1 - b0) * 16 * taps)
                    }
                    for unit in units {
                        let (image, rest) = unit.quotientAndRemainder(dividingBy: blocks * parts)
                        let (block, part) = rest.quotientAndRemainder(dividingBy: parts)
                        depthwise_blocked(x + image * s.c * s.h * s.w, geo, wt + (block - b0) * 16 * taps,
                                          bt + (block - b0) * 16, act.code, block,
                                          part * s.oh / parts, (part + 1) * s.oh / parts,
                                          out + image * s.c * s.oh * s.ow, scratch + weights)
                    }
                }
            }
        }
    }
}

/// Floats of depthwiseInterleavedWeights' output: [blocks of 16 channels][taps][16].
func depthwiseInterleavedCount(c: Int, taps: Int) -> Int { (c + 15) / 16 * 16 * taps }

/// weight [C, 1, kH, kW] in depthwise_blocked's layout, zero past the last channel.
func depthwiseInterleavedWeights(_ w: UnsafePointer<Float>, c: Int, taps: Int, into wt: UnsafeMutablePointer<Float>) {
    let zeros = [Float](repeating: 0, count: (c + 15) / 16 * 16)
    withScratch(zeros.count) { bt in depthwise_pack_weights(w, zeros, c, taps, wt, bt) }
}

/// Bands of output rows each (image, block) is cut into: one, unless there are too few of those to
/// keep the workers busy and even (batch 1 with 16 to 48 channels), then about four units a worker.
/// Each band repacks the input rows its kernel shares with the band above.
private func rowBands(units: Int, rows: Int) -> Int {
    let threads = Parallelism.threads
    guard threads > 1, units < 4 * threads else { return 1 }
    return max(1, min(rows, (4 * threads + units - 1) / units))
}
