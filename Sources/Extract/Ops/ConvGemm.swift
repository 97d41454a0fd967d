// Convolution as one matrix product with weights packed once per layer (CKernels' conv_gemm):
// im2col is done 48 output columns at a time into a buffer that stays in L1/L2, and the bias and
// activation are applied as the product's registers are stored, straight into NCHW. Where the
// machine has AVX-512; elsewhere conv2d keeps the im2col + OpenBLAS path (Conv2d.swift).
import CKernels
import Foundation

/// Whether this machine can run conv_gemm, and whether conv2d uses it (tests turn it off to check
/// the OpenBLAS path too).
let packedGemmAvailable = gemm_packed_available() != 0
nonisolated(unsafe) var packedGemmEnabled = packedGemmAvailable

/// Forms of a layer's weights derived on first use (Winograd-transformed, packed for conv_gemm,
/// interleaved for the depthwise kernel) and
/// kept for as long as the layer's weight array keeps its storage. The cache holds a reference to
/// that storage, so changing the layer's weights (fine-tuning) copies them to new storage, and the
/// next call sees the change and derives its forms again.
final class WeightCache: @unchecked Sendable {
    enum Form: Hashable { case winograd(tile: Int, packed: Bool), spaceToDepthWinograd(tile: Int, packed: Bool), packed, depthwise }

    private let lock = NSLock()
    private var source: [Float] = []
    private var forms: [Form: [Float]] = [:]

    /// The form `form` of `weight`, made by `make` (count floats) unless already held.
    func form(_ form: Form, of weight: [Float], count: Int,
              make: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        lock.lock()
        defer { lock.unlock() }
        let same = source.withUnsafeBufferPointer { a in weight.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress && a.count == b.count } }
        if !same {
            forms = [:]
            source = weight
        }
        if let held = forms[form], held.count == count { return held }
        let made = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            weight.withUnsafeBufferPointer { w in make(w.baseAddress!, buffer.baseAddress!) }
            initialized = count
        }
        forms[form] = made
        return made
    }

    /// Winograd's U = G g G^T, [(tile + 2)^2] matrices [O, C], packed when conv_gemm's kernel is on.
    func winograd(_ weight: [Float], o: Int, c: Int, tile: Int) -> [Float] {
        form(.winograd(tile: tile, packed: packedGemmEnabled), of: weight, count: winogradWeightCount(o: o, c: c, tile: tile)) { w, u in
            winogradGemmWeights(w, o: o, c: c, tile: tile, into: u)
        }
    }

    /// Winograd's U (as `winograd`) of the space-to-depth weights of a strided convolution (SpaceToDepth.swift).
    func spaceToDepthWinograd(_ weight: [Float], o: Int, c: Int, geometry g: Conv2dGeometry, tile: Int) -> [Float] {
        let blocks = c * g.stride.h * g.stride.w
        return form(.spaceToDepthWinograd(tile: tile, packed: packedGemmEnabled), of: weight,
                    count: winogradWeightCount(o: o, c: blocks, tile: tile)) { w, u in
            withScratch(o * blocks * 9) { w3 in
                spaceToDepthWeights(w, o: o, c: c, g, into: w3)
                winogradGemmWeights(w3, o: o, c: blocks, tile: tile, into: u)
            }
        }
    }

    /// Depthwise weights [C, 1, kH, kW] interleaved in blocks of 16 channels, as depthwise_blocked reads them.
    func depthwise(_ weight: [Float], c: Int, taps: Int) -> [Float] {
        form(.depthwise, of: weight, count: depthwiseInterleavedCount(c: c, taps: taps)) { w, wt in
            depthwiseInterleavedWeights(w, c: c, taps: taps, into: wt)
        }
    }

    /// The weights [O, K] in conv_gemm's panels of 8 rows.
    func packed(_ weight: [Float], o: Int, k: Int) -> [Float] {
        form(.packed, of: weight, count: packedCount(o: o, k: k)) { w, p in gemm_pack_weights(w, o, k, k, p) }
    }
}

func packedCount(o: Int, k: Int) -> Int { (o + 7) / 8 * 8 * k }

/// conv_gemm's column strip (its register block's width).
private let strip = 48

/// x: [N, C, H, W], packed weights of [O, C, kH, kW] (groups 1) -> out: [N, O, oH, oW], bias and activation applied.
/// The workers split the output columns (all images' pixels) into runs of whole strips, or, when there
/// are too few strips to go round, the output channels.
func packedConv2d(_ x: UnsafePointer<Float>, packed: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                  _ s: ConvShape, _ g: Conv2dGeometry, _ act: Activation, into out: UnsafeMutablePointer<Float>) {
    let geometry = conv_geometry(c: s.c, h: s.h, w: s.w, kh: g.kernel.h, kw: g.kernel.w, sh: g.stride.h, sw: g.stride.w,
                                 top: g.padding.top, left: g.padding.left, dh: g.dilation.h, dw: g.dilation.w,
                                 oh: s.oh, ow: s.ow)
    let k = s.c * g.kernel.h * g.kernel.w
    let columns = s.n * s.oh * s.ow
    let strips = (columns + strip - 1) / strip
    withUnsafePointer(to: geometry) { gp in
        if strips >= 4 * Parallelism.threads || s.o <= 8 {
            parallelRanges(columns, grain: strip, align: strip) { r in
                withScratch(conv_gemm_scratch(s.o, k, r.count)) { scratch in
                    conv_gemm(packed, s.o, 0, s.o, x, gp, r.lowerBound, r.upperBound, bias, act.code, out, scratch)
                }
            }
        } else {
            parallelRanges(s.o, grain: 8, align: 8) { r in
                withScratch(conv_gemm_scratch(r.count, k, columns)) { scratch in
                    conv_gemm(packed, s.o, r.lowerBound, r.upperBound, x, gp, 0, columns, bias, act.code, out, scratch)
                }
            }
        }
    }
}
