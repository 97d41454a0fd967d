// The fused inverted residual block (Ops/InvertedResidual.swift) against its three convolutions
// run one after another by the plain loops of Ops/Reference.swift, and the model path that uses it.
import XCTest
import CKernels
@testable import Extract

final class InvertedResidualTests: XCTestCase {
    /// The block of expand (geometry `eg`, ReLU6; none when nil), depthwise k x k / stride (TF "same",
    /// ReLU6) and project (1x1), plus the input when `residual`, by the plain loops.
    private func reference(_ x: Tensor, expand: (Tensor, [Float])?, _ eg: Conv2dGeometry, depthwise: (Tensor, [Float]),
                           project: (Tensor, [Float]), _ g: Conv2dGeometry, residual: Bool) -> Tensor {
        var y = expand.map { conv2dReference(x, weight: $0.0, bias: $0.1, geometry: eg, activation: .relu6) } ?? x
        y = conv2dReference(y, weight: depthwise.0, bias: depthwise.1, geometry: g, activation: .relu6)
        y = conv2dReference(y, weight: project.0, bias: project.1, geometry: Conv2dGeometry(kernel: 1), activation: .none)
        if residual { y = Tensor(shape: y.shape, data: zip(y.data, x.data).map { $0 + $1 }) }
        return y
    }

    /// Cases cross: several steps down a band (a small `bandBytes`), the rows one step keeps for the
    /// next (stride 1, kernel 5), odd and even heights under TF "same" padding (extra row at the
    /// bottom), channels not a multiple of 16, no expansion, two images, a band of a single row, and
    /// an expansion by a 3x3 stride-2 convolution (EfficientNet's stem before its first block), whose
    /// input rows past the image are its bottom padding.
    func testFusedBlockMatchesThreeConvolutions() throws {
        try XCTSkipUnless(packedGemmAvailable, "conv_gemm needs AVX-512")
        var rng = SeededRandom(state: 41)
        let cases: [(n: Int, c: Int, e: Int, o: Int, h: Int, w: Int, k: Int, s: Int, bandBytes: Int, ek: Int)] = [
            (1, 4, 20, 4, 17, 13, 3, 1, 20 * 13 * 4 * 6, 1),     // residual, steps of 4 rows
            (1, 6, 36, 6, 21, 9, 5, 1, 36 * 9 * 4 * 7, 1),      // residual, kernel 5: 4 rows kept per step
            (1, 8, 40, 12, 33, 20, 5, 2, 40 * 20 * 4 * 9, 1),   // stride 2, odd height
            (1, 8, 24, 10, 34, 15, 3, 2, 1, 1),                 // stride 2, even height; one output row a step
            (1, 16, 0, 8, 30, 30, 3, 1, 16 * 30 * 4 * 5, 1),    // no expansion
            (2, 5, 30, 5, 14, 11, 3, 1, 30 * 11 * 4 * 4, 1),    // two images, residual
            (1, 6, 18, 9, 12, 12, 3, 1, 1 << 30, 1),           // one step for the whole band
            (1, 3, 20, 8, 40, 38, 3, 1, 20 * 19 * 4 * 5, 3),    // 3x3/2 expansion (a stem), even height
            (1, 3, 20, 8, 41, 29, 3, 1, 20 * 15 * 4 * 4, 3),    // 3x3/2 expansion, odd height
        ]
        for t in cases {
            let e = t.e == 0 ? t.c : t.e
            let eg = t.ek == 1 ? Conv2dGeometry(kernel: 1) : Conv2dGeometry.same(kernel: t.ek, stride: 2, inputSize: (t.h, t.w))
            let (eh, ew) = eg.outputSize(height: t.h, width: t.w)
            let g = Conv2dGeometry.same(kernel: t.k, stride: t.s, inputSize: (eh, ew), groups: e)
            let (oh, ow) = g.outputSize(height: eh, width: ew)
            let residual = t.c == t.o && t.s == 1 && t.ek == 1
            let x = rng.tensor([t.n, t.c, t.h, t.w])
            func bias(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -1...1, using: &rng) } }
            let expand = t.e == 0 ? nil : (rng.tensor([e, t.c, t.ek, t.ek]), bias(e))
            let depthwise = (rng.tensor([e, 1, t.k, t.k]), bias(e))
            let project = (rng.tensor([t.o, e, 1, 1]), bias(t.o))

            let expandPacked = expand.map { WeightCache().packed($0.0.data, o: e, k: t.c * t.ek * t.ek) } ?? []
            let dwWeights = WeightCache().depthwise(depthwise.0.data, c: e, taps: t.k * t.k)
            let dwBias = (0..<(e + 15) / 16 * 16).map { $0 < e ? depthwise.1[$0] : 0 }
            let projectPacked = WeightCache().packed(project.0.data, o: t.o, k: e)
            let fused = Tensor(shape: [t.n, t.o, oh, ow]) { out in
                expandPacked.withUnsafeBufferPointer { ep in
                    (expand?.1 ?? []).withUnsafeBufferPointer { eb in
                        dwWeights.withUnsafeBufferPointer { dp in
                            dwBias.withUnsafeBufferPointer { db in
                                projectPacked.withUnsafeBufferPointer { pp in
                                    project.1.withUnsafeBufferPointer { pb in
                                        invertedResidual(
                                            x.data, n: t.n, c: t.c, h: t.h, w: t.w,
                                            expand: expand == nil ? nil : PackedConvWeights(packed: ep.baseAddress!, bias: eb.baseAddress!,
                                                                                            outChannels: e, activation: .relu6,
                                                                                            geometry: eg),
                                            depthwise: DepthwiseWeights(interleaved: dp.baseAddress!, paddedBias: db.baseAddress!,
                                                                        geometry: g, activation: .relu6),
                                            project: PackedConvWeights(packed: pp.baseAddress!, bias: pb.baseAddress!,
                                                                       outChannels: t.o, activation: .none),
                                            residual: residual, into: out, bandBytes: t.bandBytes)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            assertClose(fused, reference(x, expand: expand, eg, depthwise: depthwise, project: project, g, residual: residual),
                        relative: 1e-5, "n\(t.n) \(t.c)->\(e)->\(t.o) \(t.h)x\(t.w) expand k\(t.ek) k\(t.k) s\(t.s) band bytes \(t.bandBytes)")
        }
    }

    /// `arch` at batch 1 on the golden tests' 200x200 input and random weights: the blocks in `fused`
    /// (convProfile's keys) take the fused path, and the outputs at `taps` match onnxruntime's
    /// (make_models.py) within the golden tests' 1e-4.
    private func assertFusedBlocksMatchGolden(_ arch: Architecture, taps: [String], fused expected: [String],
                                              file: StaticString = #filePath, line: UInt = #line) throws {
        try XCTSkipUnless(packedGemmAvailable, "conv_gemm needs AVX-512")
        let weights = try StateDict.load(path: Fixtures.path(".fixtures/models/\(arch.rawValue).safetensors"))
        let golden = try StateDict.load(path: Fixtures.path(".fixtures/models/\(arch.rawValue).golden.safetensors"))
        let model = try Model(arch, weights: weights, layers: taps)
        convProfile = [:]
        defer { convProfile = nil }
        let outputs = try model.run(try XCTUnwrap(golden["input@200"]), layers: taps)
        XCTAssertEqual((convProfile ?? [:]).keys.filter { $0.hasPrefix("fused") }.sorted(), expected.sorted(), file: file, line: line)
        for tap in taps {
            let want = try XCTUnwrap(golden["\(tap)@200"], file: file, line: line), got = try XCTUnwrap(outputs[tap], file: file, line: line)
            assertClose(got, want, relative: 1e-4, "\(arch) \(tap)@200", file: file, line: line)
        }
    }

    /// EfficientNet-Lite0: the 100x100 and 50x50 blocks, the stem with the first; block 3, whose
    /// inner outputs are asked for, is not fused. (The model's golden tests ask for the stem's
    /// output, so there the first block runs fused without it.)
    func testEfficientNetLite0FusesItsLargeBlocksAndMatchesGolden() throws {
        try assertFusedBlocksMatchGolden(.efficientnet_lite0, taps: ["_blocks.0", "_blocks.3._project_conv", "_blocks.15"], fused: [
            "fused 3x3/2 3->32 + depthwise 3x3/1 + 1x1 ->16 200x200",
            "fused 1x1/1 16->96 + depthwise 3x3/2 + 1x1 ->24 100x100",
            "fused 1x1/1 24->144 + depthwise 3x3/1 + 1x1 ->24 50x50",
        ])
    }

    /// MobileNet v2 (fixed padding 1, not TF "same"): the stem with the first block, and blocks 2 to 4.
    func testMobileNetV2FusesItsLargeBlocksAndMatchesGolden() throws {
        try assertFusedBlocksMatchGolden(.mobilenet_v2, taps: ["features.1", "features.3", "features.17"], fused: [
            "fused 3x3/2 3->32 + depthwise 3x3/1 + 1x1 ->16 200x200",
            "fused 1x1/1 16->96 + depthwise 3x3/2 + 1x1 ->24 100x100",
            "fused 1x1/1 24->144 + depthwise 3x3/1 + 1x1 ->24 50x50",
            "fused 1x1/1 24->144 + depthwise 3x3/2 + 1x1 ->32 50x50",
        ])
    }

    /// MobileNet v3 large: only block 2 has expanded planes of 1 MiB or more and no
    /// squeeze-and-excitation (ReLU; the stem, with Hardswish, stays apart).
    func testMobileNetV3LargeFusesItsLargeBlockAndMatchesGolden() throws {
        try assertFusedBlocksMatchGolden(.mobilenet_v3_large, taps: ["features.2", "features.15", "avgpool"], fused: [
            "fused 1x1/1 16->64 + depthwise 3x3/2 + 1x1 ->24 100x100",
        ])
    }

    /// With 8 workers, EfficientNet-Lite0's 50-row outputs at 200x200 would leave each worker bands
    /// of 6 rows, under invertedResidualMinBandRows: only the stem and first block (100 rows) fuse.
    func testShortBandsKeepBlocksApart() throws {
        let threads = Parallelism.threads
        Parallelism.threads = 8
        defer { Parallelism.threads = threads }
        try assertFusedBlocksMatchGolden(.efficientnet_lite0, taps: ["_blocks.0", "_blocks.15"], fused: [
            "fused 3x3/2 3->32 + depthwise 3x3/1 + 1x1 ->16 200x200",
        ])
    }
}
