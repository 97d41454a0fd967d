// Fast ops against their plain-loop definitions (Sources/Extract/Ops/Reference.swift) on random
// shapes, strides, paddings, dilations and groups. Tolerance: 1e-4 relative to the output's scale.
import XCTest
@testable import Extract

struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {  // splitmix64
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func tensor(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &self) })
    }
}

extension Tensor {
    func map(_ f: (Float) -> Float) -> Tensor { Tensor(shape: shape, data: data.map(f)) }
}

func assertClose(_ a: Tensor, _ b: Tensor, relative tol: Float = 1e-4, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, b.shape, "\(what): shapes", file: file, line: line)
    guard a.shape == b.shape else { return }
    let scale = max(b.data.map(abs).max() ?? 0, 1e-6)
    let diff = zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0
    XCTAssertLessThanOrEqual(diff / scale, tol, "\(what): max abs diff \(diff), scale \(scale)", file: file, line: line)
}

/// winogradConv2d in chunks of at most `chunk` floats, however few tiles that leaves them, against the plain loop.
func assertWinogradMatchesPlainLoop(_ x: Tensor, _ wt: Tensor, _ bias: [Float], _ s: ConvShape, _ g: Conv2dGeometry,
                                    _ act: Activation, tile: Int, chunk: Int, _ what: String,
                                    file: StaticString = #filePath, line: UInt = #line) {
    let fast = Tensor(shape: [s.n, s.o, s.oh, s.ow]) { out in
        winogradConv2d(x.data, weight: wt.data, bias: bias, s, g, act, into: out, tile: tile, chunkFloats: chunk, minTiles: 1)
    }
    assertClose(fast, conv2dReference(x, weight: wt, bias: bias, geometry: g, activation: act), what, file: file, line: line)
}

/// Runs `body` with conv2d's packed-weight path (CKernels' conv_gemm) on, where the machine has it,
/// and with the im2col + OpenBLAS path that other machines take, naming the path.
func forEachGemmPath(_ body: (String) -> Void) {
    let saved = packedGemmEnabled
    defer { packedGemmEnabled = saved }
    for packed in packedGemmAvailable ? [true, false] : [false] {
        packedGemmEnabled = packed
        body(packed ? "conv_gemm" : "im2col+sgemm")
    }
}

final class OpsTests: XCTestCase {
    func testConvMatchesPlainLoopOnRandomGeometries() {
        forEachGemmPath { path in checkConvOnRandomGeometries(path) }
    }

    private func checkConvOnRandomGeometries(_ path: String) {
        var rng = SeededRandom(state: 1)
        for trial in 0..<40 {
            let groups = [1, 1, 2, 4][trial % 4]
            let depthwise = trial % 5 == 0
            let c = depthwise ? 6 : groups * Int.random(in: 1...3, using: &rng)
            let o = depthwise ? c : groups * Int.random(in: 1...3, using: &rng)
            let k = [1, 3, 5, 7, 2][Int.random(in: 0..<5, using: &rng)]
            var g = Conv2dGeometry(kernel: k, stride: Int.random(in: 1...3, using: &rng),
                                   padding: Int.random(in: 0...2, using: &rng),
                                   dilation: Int.random(in: 1...2, using: &rng), groups: depthwise ? c : groups)
            if trial % 3 == 0 {  // asymmetric, as TF "same"
                g.padding = (Int.random(in: 0...2, using: &rng), Int.random(in: 0...2, using: &rng),
                             Int.random(in: 0...3, using: &rng), Int.random(in: 0...3, using: &rng))
            }
            let h = Int.random(in: 7...15, using: &rng), w = Int.random(in: 7...15, using: &rng)
            let x = rng.tensor([2, c, h, w])
            let wt = rng.tensor([o, c / g.groups, k, k])
            let bias = (0..<o).map { _ in Float.random(in: -1...1, using: &rng) }
            let act: Activation = [.none, .relu, .relu6][trial % 3]
            assertClose(conv2d(x, weight: wt, bias: bias, geometry: g, activation: act),
                        conv2dReference(x, weight: wt, bias: bias, geometry: g, activation: act),
                        "\(path) conv trial \(trial) \(g) \(act)")
        }
    }

    func testSamePaddingMatchesTensorFlowRule() {
        // TF: out = ceil(in / stride); pad = max((out - 1) * stride + k - in, 0), the extra on the bottom/right.
        let g = Conv2dGeometry.same(kernel: 3, stride: 2, inputSize: (224, 224))
        XCTAssertTrue(g.padding == (0, 0, 1, 1), "\(g.padding)")
        XCTAssertTrue(g.outputSize(height: 224, width: 224) == (112, 112))
        let g5 = Conv2dGeometry.same(kernel: 5, stride: 1, inputSize: (14, 14))
        XCTAssertTrue(g5.padding == (2, 2, 2, 2), "\(g5.padding)")
    }

    func testLinearMatchesPlainLoop() {
        var rng = SeededRandom(state: 2)
        let x = rng.tensor([3, 37]), w = rng.tensor([11, 37])
        let b = (0..<11).map { _ in Float.random(in: -1...1, using: &rng) }
        assertClose(linear(x, weight: w, bias: b, activation: .relu),
                    linearReference(x, weight: w, bias: b, activation: .relu), "linear")
        // A layer's linear: packed weights (conv_gemm) with several images, sgemv with one.
        forEachGemmPath { path in
            let cache = WeightCache()
            for (n, act) in [(3, Activation.relu), (50, .none), (1, .relu6)] {
                let x = rng.tensor([n, 300]), w = rng.tensor([21, 300])
                assertClose(linear(x, weight: w, bias: b + b, activation: act, cache: cache),
                            linearReference(x, weight: w, bias: b + b, activation: act), "\(path) linear n \(n) \(act)")
            }
            // One image with whole vectors only (no masked tail) and rows past the last four.
            let x1 = rng.tensor([1, 512]), w1 = rng.tensor([7, 512])
            assertClose(linear(x1, weight: w1, bias: nil, activation: .none, cache: cache),
                        linearReference(x1, weight: w1, bias: nil, activation: .none), "\(path) linear 7 x 512")
        }
    }

    func testMaxPoolMatchesPlainLoopIncludingCeilMode() {
        var rng = SeededRandom(state: 3)
        for (k, s, p, ceil) in [(3, 2, 0, false), (3, 2, 1, false), (2, 2, 0, false), (3, 2, 0, true), (3, 2, 1, true), (2, 2, 0, true)] {
            for size in [13, 14, 55] {
                let x = rng.tensor([2, 3, size, size + 1])
                assertClose(maxPool2d(x, kernel: k, stride: s, padding: p, ceilMode: ceil),
                            maxPool2dReference(x, kernel: k, stride: s, padding: p, ceilMode: ceil), "maxpool k\(k) s\(s) p\(p) ceil \(ceil) \(size)")
            }
        }
    }

    func testAdaptiveAvgPoolMatchesPlainLoop() {
        var rng = SeededRandom(state: 4)
        for (h, w, oh, ow) in [(13, 13, 6, 6), (5, 9, 7, 7), (7, 7, 7, 7), (8, 6, 3, 2)] {
            let x = rng.tensor([2, 3, h, w])
            assertClose(adaptiveAvgPool2d(x, outputHeight: oh, outputWidth: ow),
                        adaptiveAvgPool2dReference(x, outputHeight: oh, outputWidth: ow), "adaptive \(h)x\(w)->\(oh)x\(ow)")
        }
        let x = rng.tensor([2, 5, 4, 3])
        assertClose(globalAvgPool(x), adaptiveAvgPool2dReference(x, outputHeight: 1, outputWidth: 1).reshaped([2, 5]), "global")
    }

    /// Winograd F(2x2, 3x3) and F(4x4, 3x3) against the plain loop: odd and even sizes (overhanging last tiles),
    /// asymmetric padding, and chunks of a few tile rows that cross image boundaries.
    func testWinogradMatchesPlainLoop() {
        forEachGemmPath { path in
        var rng = SeededRandom(state: 5)
        for (trial, (h, w, chunk)) in [(9, 12, 1 << 10), (14, 14, 1 << 12), (7, 13, 1 << 30), (16, 5, 3000),
                                        (9, 12, 1 << 12), (14, 14, 1 << 14), (7, 13, 1 << 30), (18, 6, 9000)].enumerated() {
            let tile = trial < 4 ? 2 : 4
            let (n, c, o) = (3, 16 + trial, 17 + 2 * trial)
            var g = Conv2dGeometry(kernel: 3, padding: 1)
            if trial % 4 == 2 { g.padding = (0, 1, 2, 0) }
            let x = rng.tensor([n, c, h, w]), wt = rng.tensor([o, c, 3, 3])
            let bias = (0..<o).map { _ in Float.random(in: -1...1, using: &rng) }
            let act: Activation = [.none, .relu, .relu6, .relu][trial % 4]
            let (oh, ow) = g.outputSize(height: h, width: w)
            assertWinogradMatchesPlainLoop(x, wt, bias, ConvShape(n: n, c: c, h: h, w: w, o: o, oh: oh, ow: ow), g, act,
                                           tile: tile, chunk: chunk, "winograd F(\(tile)x\(tile)) with \(path) trial \(trial) \(g)")
        }
        }
    }

    /// The transforms over several rows of tiles at once: rows longer than a 16-lane vector (70 wide),
    /// widths that are no multiple of the tile or of 16, one tile row per chunk and one chunk per worker,
    /// runs of tile rows cut at 128 tiles, and every activation, for both tile sizes.
    func testWinogradRowsMatchPlainLoopOnEveryActivation() {
        forEachGemmPath { path in
        var rng = SeededRandom(state: 12)
        let acts: [Activation] = [.none, .relu, .relu6, .hardswish, .hardsigmoid]
        for (trial, (h, w)) in [(13, 13), (7, 7), (30, 70), (22, 29), (9, 57)].enumerated() {
            for tile in [2, 4] {
                for chunk in [1, winogradChunkFloats] {
                    let (n, c, o) = (2, 16, 19)
                    let g = Conv2dGeometry(kernel: 3, padding: 1)
                    let x = rng.tensor([n, c, h, w]).map { $0 * 4 }, wt = rng.tensor([o, c, 3, 3])
                    let bias = (0..<o).map { _ in Float.random(in: -3...3, using: &rng) }
                    let act = acts[(trial + tile + chunk) % acts.count]
                    assertWinogradMatchesPlainLoop(x, wt, bias, ConvShape(n: n, c: c, h: h, w: w, o: o, oh: h, ow: w), g, act,
                                                   tile: tile, chunk: chunk,
                                                   "winograd F(\(tile)x\(tile)) with \(path) \(h)x\(w) \(act) chunk \(chunk)")
                }
            }
        }
        }
    }

    /// Narrow planes with many channels (ResNet's 7x7 stage from batch 2 on) go through conv2d to F(4x4),
    /// in chunks of at least 48 tiles that cross images; a single image keeps the matrix product.
    func testNarrowWinogradThroughConv2dMatchesPlainLoop() {
        let g = Conv2dGeometry(kernel: 3, padding: 1)
        forEachGemmPath { path in
        var rng = SeededRandom(state: 21)
        for (n, h, w, act) in [(4, 7, 7, Activation.relu), (5, 9, 11, .none), (2, 12, 10, .relu6), (2, 7, 7, .relu)] {
            let (c, o) = (128, 136)
            let s = ConvShape(n: n, c: c, h: h, w: w, o: o, oh: h, ow: w)
            XCTAssertTrue(winogradApplies(g, s), "\(n)x\(h)x\(w) takes Winograd")
            XCTAssertEqual(winogradTile(s), 4, "\(n)x\(h)x\(w) takes F(4x4)")
            let x = rng.tensor([n, c, h, w]), wt = rng.tensor([o, c, 3, 3])
            let bias = (0..<o).map { _ in Float.random(in: -1...1, using: &rng) }
            assertClose(conv2d(x, weight: wt, bias: bias, geometry: g, activation: act, cache: WeightCache()),
                        conv2dReference(x, weight: wt, bias: bias, geometry: g, activation: act),
                        "narrow winograd with \(path) \(n)x\(c)x\(h)x\(w)")
        }
        }
        XCTAssertFalse(winogradApplies(g, ConvShape(n: 1, c: 512, h: 7, w: 7, o: 512, oh: 7, ow: 7)), "batch 1 keeps conv_gemm")
        XCTAssertFalse(winogradApplies(g, ConvShape(n: 32, c: 128, h: 7, w: 7, o: 32, oh: 7, ow: 7)), "few output channels")
    }

    /// Strided convolutions whose kernel spans three strides go through conv2d by space to depth and
    /// Winograd (SpaceToDepth.swift): AlexNet's 11x11/4 stem, on one image (blocks and Winograd split
    /// across the workers) and several (whole images per worker); 5x5/2 with odd sizes and TF "same"
    /// padding; 9x9/3 whose padding leaves different first columns for different offsets in a block.
    func testSpaceToDepthThroughConv2dMatchesPlainLoop() {
        let cases: [(n: Int, c: Int, h: Int, w: Int, o: Int, g: Conv2dGeometry, act: Activation)] = [
            (1, 3, 99, 99, 64, Conv2dGeometry(kernel: 11, stride: 4, padding: 2), .relu),
            (3, 3, 67, 70, 64, Conv2dGeometry(kernel: 11, stride: 4, padding: 2), .relu),
            (3, 4, 29, 27, 16, Conv2dGeometry(kernel: 5, stride: 2, padding: 2), .none),
            (2, 4, 30, 33, 24, .same(kernel: 5, stride: 2, inputSize: (30, 33)), .relu6),
            (2, 2, 50, 47, 16, Conv2dGeometry(kernel: 9, stride: 3, padding: 1), .none),
        ]
        forEachGemmPath { path in
            var rng = SeededRandom(state: 31)
            for t in cases {
                let (oh, ow) = t.g.outputSize(height: t.h, width: t.w)
                let s = ConvShape(n: t.n, c: t.c, h: t.h, w: t.w, o: t.o, oh: oh, ow: ow)
                XCTAssertNotNil(spaceToDepthShape(t.g, s), "\(t.g) on \(t.n)x\(t.c)x\(t.h)x\(t.w) takes space to depth")
                let x = rng.tensor([t.n, t.c, t.h, t.w]), wt = rng.tensor([t.o, t.c, t.g.kernel.h, t.g.kernel.w])
                let bias = (0..<t.o).map { _ in Float.random(in: -1...1, using: &rng) }
                assertClose(conv2d(x, weight: wt, bias: bias, geometry: t.g, activation: t.act, cache: WeightCache()),
                            conv2dReference(x, weight: wt, bias: bias, geometry: t.g, activation: t.act),
                            "space to depth with \(path) \(t.g) on \(t.n)x\(t.c)x\(t.h)x\(t.w)")
            }
        }
        let stem = ConvShape(n: 1, c: 3, h: 224, w: 224, o: 64, oh: 112, ow: 112)
        XCTAssertNil(spaceToDepthShape(Conv2dGeometry(kernel: 7, stride: 2, padding: 3), stem), "ResNet's 7x7/2 spans 4 strides")
        XCTAssertNil(spaceToDepthShape(Conv2dGeometry(kernel: 3, stride: 2, padding: 1), stem), "3x3/2 spans 2 strides")
    }

    /// The SIMD depthwise sweep on EfficientNet's geometries: widths across the 16-lane boundary,
    /// stride 2, TF "same" padding.
    func testDepthwiseMatchesPlainLoop() {
        var rng = SeededRandom(state: 6)
        for (k, stride, size) in [(3, 1, 17), (3, 2, 34), (5, 1, 14), (5, 2, 33), (3, 3, 20)] {
            let c = 5
            let g = Conv2dGeometry.same(kernel: k, stride: stride, inputSize: (size, size + 3), groups: c)
            let x = rng.tensor([2, c, size, size + 3]), wt = rng.tensor([c, 1, k, k])
            let bias = (0..<c).map { _ in Float.random(in: -1...1, using: &rng) }
            assertClose(conv2d(x, weight: wt, bias: bias, geometry: g, activation: .relu6),
                        conv2dReference(x, weight: wt, bias: bias, geometry: g, activation: .relu6), "depthwise k\(k) s\(stride) \(size)")
        }
    }

    /// im2col + sgemm with several images per sgemm (small planes) and with one (large planes),
    /// pointwise and strided, grouped and not.
    func testGemmConvOverImageChunksMatchesPlainLoop() {
        forEachGemmPath { path in
        var rng = SeededRandom(state: 7)
        for (k, stride, groups, size) in [(1, 1, 1, 5), (1, 2, 1, 9), (3, 2, 2, 11), (1, 1, 1, 40), (7, 2, 1, 45), (3, 1, 1, 4)] {
            let (c, o) = (4 * groups, 6 * groups)
            let g = Conv2dGeometry(kernel: k, stride: stride, padding: k / 2, groups: groups)
            let x = rng.tensor([5, c, size, size]), wt = rng.tensor([o, c / groups, k, k])
            let bias = (0..<o).map { _ in Float.random(in: -1...1, using: &rng) }
            assertClose(conv2d(x, weight: wt, bias: bias, geometry: g, activation: .relu),
                        conv2dReference(x, weight: wt, bias: bias, geometry: g, activation: .relu), "\(path) k\(k) s\(stride) g\(groups) \(size)")
        }
        }
    }

    func testInPlaceAddAndLinearSplitMatchPlainLoop() {
        var rng = SeededRandom(state: 8)
        let x = rng.tensor([3, 300]), w = rng.tensor([200, 300])
        let b = (0..<200).map { _ in Float.random(in: -1...1, using: &rng) }
        assertClose(linear(x, weight: w, bias: b, activation: .relu6),
                    linearReference(x, weight: w, bias: b, activation: .relu6), "linear split")
        let x1 = rng.tensor([1, 300])  // one image: the sgemv path
        assertClose(linear(x1, weight: w, bias: b, activation: .none),
                    linearReference(x1, weight: w, bias: b, activation: .none), "linear one image")
        let a = rng.tensor([2, 3, 4, 5]), c = rng.tensor([2, 3, 4, 5])
        var y = a
        add(into: &y, c, activation: .relu)
        XCTAssertEqual(y.data, zip(a.data, c.data).map { max($0 + $1, 0) })
        XCTAssertNotEqual(a.data, y.data, "a keeps its values")
    }

    /// The cache of derived weights follows a change of the layer's weights (as fine-tuning makes).
    func testWeightCacheSeesChangedWeights() {
        var rng = SeededRandom(state: 9)
        let cache = WeightCache()
        var w = rng.tensor([16, 16, 3, 3]).data
        let first = cache.winograd(w, o: 16, c: 16, tile: 2)
        let packed = cache.packed(w, o: 16, k: 144)
        XCTAssertEqual(cache.winograd(w, o: 16, c: 16, tile: 2), first)
        XCTAssertEqual(cache.winograd(w, o: 16, c: 16, tile: 4).count, 36 * 16 * 16)
        XCTAssertEqual(cache.packed(w, o: 16, k: 144), packed)
        w[0] += 1
        XCTAssertNotEqual(cache.winograd(w, o: 16, c: 16, tile: 2), first)
        XCTAssertNotEqual(cache.packed(w, o: 16, k: 144), packed)
    }

    /// Hardswish and Hardsigmoid fused into convolutions (im2col, depthwise, Winograd) and linear layers,
    /// and applied on their own, against the scalar definitions (torch's x * relu6(x + 3) / 6, relu6(x + 3) / 6).
    func testHardActivationsMatchPlainLoop() {
        var rng = SeededRandom(state: 10)
        for act in [Activation.hardswish, .hardsigmoid] {
            for (k, groups, c, size) in [(1, 1, 8, 9), (3, 8, 8, 17), (3, 1, 16, 16), (5, 1, 3, 7)] {
                let o = groups == c ? c : 18
                let g = Conv2dGeometry(kernel: k, padding: k / 2, groups: groups)
                let x = rng.tensor([2, c, size, size]).map { $0 * 6 }, wt = rng.tensor([o, c / groups, k, k])
                let bias = (0..<o).map { _ in Float.random(in: -3...3, using: &rng) }
                assertClose(conv2d(x, weight: wt, bias: bias, geometry: g, activation: act),
                            conv2dReference(x, weight: wt, bias: bias, geometry: g, activation: act), "conv k\(k) g\(groups) \(act)")
            }
            let x = rng.tensor([3, 40]).map { $0 * 5 }, w = rng.tensor([20, 40])
            assertClose(linear(x, weight: w, bias: nil, activation: act), linearReference(x, weight: w, bias: nil, activation: act), "linear \(act)")
            var y = rng.tensor([2, 3, 50, 50]).map { $0 * 5 }
            let before = y
            apply(act, to: &y)
            XCTAssertEqual(y.data, before.data.map { act.apply($0) }, "\(act) on its own")
        }
        XCTAssertEqual([-4, -3, -1, 0, 1, 3, 4].map { Activation.hardswish.apply($0) }, [0, 0, -1.0 / 3, 0, 2.0 / 3, 3, 4])
        XCTAssertEqual([-4, -3, 0, 3, 4].map { Activation.hardsigmoid.apply($0) }, [0, 0, 0.5, 1, 1])
    }

    func testAvgPoolMatchesPlainLoop() {
        var rng = SeededRandom(state: 11)
        for (k, s, p, ceil, include) in [(2, 2, 0, false, true), (3, 1, 1, false, true), (3, 1, 1, false, false),
                                          (3, 2, 1, true, true), (3, 2, 0, true, false), (5, 3, 0, false, true)] {
            for size in [7, 8, 17] {
                let x = rng.tensor([2, 3, size, size + 1])
                assertClose(avgPool2d(x, kernel: k, stride: s, padding: p, ceilMode: ceil, countIncludePad: include),
                            avgPool2dReference(x, kernel: k, stride: s, padding: p, ceilMode: ceil, countIncludePad: include),
                            "avgpool k\(k) s\(s) p\(p) ceil \(ceil) include \(include) \(size)")
            }
        }
    }

    func testChannelOpsMatchPlainLoop() {
        var rng = SeededRandom(state: 12)
        let parts = [rng.tensor([3, 2, 5, 4]), rng.tensor([3, 7, 5, 4]), rng.tensor([3, 1, 5, 4])]
        let cat = concatChannels(parts)
        XCTAssertEqual(cat, concatChannelsReference(parts))
        XCTAssertEqual(sliceChannels(cat, 2..<9), parts[1])
        XCTAssertEqual(sliceChannels(cat, 0..<2), parts[0])
        let x = rng.tensor([2, 12, 3, 3])
        XCTAssertEqual(channelShuffle(x, groups: 2), channelShuffleReference(x, groups: 2))
        XCTAssertEqual(channelShuffle(x, groups: 3), channelShuffleReference(x, groups: 3))
        // groups 2 interleaves the halves: output channel 1 is input channel 6.
        XCTAssertEqual(Array(channelShuffle(x, groups: 2).data[9..<18]), Array(x.data[54..<63]))
        let s = rng.tensor([2, 12])
        XCTAssertEqual(scaleChannels(x, by: s), scaleChannelsReference(x, by: s))
        XCTAssertEqual(scaleChannels(x, by: s.reshaped([2, 12, 1, 1])), scaleChannelsReference(x, by: s))
    }

    /// conv_gemm's edges: output channels not a multiple of its 8-row panels, 48-column strips that
    /// end mid-image or hold several tiny images (planes under 16 pixels), strips split across the
    /// workers by columns (many) or by output channels (few), rectangular kernels, every activation.
    func testPackedConvEdgesMatchPlainLoop() throws {
        try XCTSkipIf(!packedGemmAvailable, "conv_gemm needs AVX-512")
        var rng = SeededRandom(state: 21)
        let cases: [(n: Int, c: Int, o: Int, kernel: (Int, Int), stride: Int, pad: Int, size: (Int, Int))] = [
            (3, 5, 13, (3, 3), 1, 1, (9, 9)),      // 81-pixel planes: strips cross images
            (4, 7, 9, (1, 1), 1, 0, (3, 3)),       // 9-pixel planes: a vector spans several images
            (2, 3, 20, (3, 3), 2, 1, (4, 5)),      // 2x3 outputs
            (1, 16, 100, (1, 1), 1, 0, (7, 7)),    // few strips, many channels: split by channels
            (1, 4, 7, (3, 3), 1, 1, (30, 30)),     // fewer than 8 channels
            (2, 6, 24, (1, 7), 1, 0, (10, 12)),    // Inception's 1x7
            (2, 6, 24, (7, 1), 2, 0, (17, 12)),
            (1, 3, 64, (7, 7), 2, 3, (40, 36)),    // ResNet's stem
            (1, 3, 16, (11, 11), 4, 2, (63, 63)),  // AlexNet's stem
            (1, 3, 8, (11, 11), 4, 2, (40, 135)),  // rows of 33: strided gathers by whole vectors
            (1, 3, 8, (7, 7), 2, 3, (20, 101)),    // rows of 51
            // Few strips and more than 512 KB of weights a worker (conv_gemm_few): the weights pass over all
            // strips a block of k at a time.
            (1, 512, 64, (3, 3), 1, 1, (7, 7)),    // ResNet's 7x7 at batch 1: a strip and a 1-column one, 7 blocks of k
            (2, 400, 80, (3, 3), 2, 1, (15, 15)),  // 3 strips crossing images, 5 blocks
            (5, 3000, 96, (1, 1), 1, 0, (1, 1)),   // a linear layer's 1-pixel planes, 3 blocks
            (1, 2304, 64, (1, 1), 1, 0, (19, 20)), // 8 strips: split by columns, 4 each, 5 blocks
            // Narrow strips (at most 4 columns) by their own kernel.
            (2, 24, 30, (3, 3), 1, 1, (5, 5)),     // 50 columns: a strip, and 2 columns of the second image
            (3, 40, 20, (1, 1), 1, 0, (1, 1)),     // 3 one-pixel columns
            (1, 8, 8, (3, 3), 1, 1, (9, 43)),      // a last strip of 3 columns on the path without blocks of k
        ]
        for (i, t) in cases.enumerated() {
            var g = Conv2dGeometry(kernel: 1, stride: t.stride, padding: t.pad)
            g.kernel = t.kernel
            g.padding = (t.kernel.0 == 1 ? 0 : t.pad, t.kernel.1 == 1 ? 0 : t.pad, t.kernel.0 == 1 ? 0 : t.pad, t.kernel.1 == 1 ? 0 : t.pad)
            let x = rng.tensor([t.n, t.c, t.size.0, t.size.1]), wt = rng.tensor([t.o, t.c, t.kernel.0, t.kernel.1])
            let bias = (0..<t.o).map { _ in Float.random(in: -1...1, using: &rng) }
            // Sums of more than 1000 products, clamped by ReLU6 or Hardsigmoid to a scale of 6 or 1, carry
            // float32 rounding of the unclamped scale (about 40 here): 1e-4 of the clamped one.
            let k = t.c * t.kernel.0 * t.kernel.1
            let plain = conv2dReference(x, weight: wt, bias: bias, geometry: g, activation: .none)
            for act in [Activation.none, .relu, .relu6, .hardswish, .hardsigmoid] {
                assertClose(conv2d(x, weight: wt, bias: bias, geometry: g, activation: act), plain.map { act.apply($0) },
                            relative: k > 1000 ? 1e-4 : 1e-5, "conv_gemm case \(i) \(act)")
            }
        }
    }

    /// The channel-blocked depthwise kernel on EfficientNet-Lite0's and MobileNet's geometries: k 3 and 5,
    /// stride 1 and 2, TF "same" (extra padding bottom/right) and torch's symmetric k / 2 padding, planes
    /// from 224 (several bands of rows) down to 7 and odd sizes; channel counts that fill no block, one,
    /// or leave a partial block; batch 1 (few channels: the rows split across the workers) and 3; every
    /// activation over inputs that reach each one's corners. Tolerance 1e-5 of the output's scale.
    func testChannelBlockedDepthwiseMatchesPlainLoop() {
        var rng = SeededRandom(state: 13)
        let channels = [1, 6, 16, 24, 40, 33]
        let activations: [Activation] = [.none, .relu, .relu6, .hardswish, .hardsigmoid]
        var cases: [(size: Int, g: Conv2dGeometry, c: Int, n: Int)] = []
        for size in [224, 112, 56, 28, 14, 7, 13, 15, 9] {
            for k in [3, 5] {
                for stride in [1, 2] {
                    for same in [true, false] {
                        let i = cases.count
                        let c = size >= 112 ? [1, 6][i % 2] : channels[i % 6]   // the plain loop is slow
                        let g = same ? Conv2dGeometry.same(kernel: k, stride: stride, inputSize: (size, size), groups: c)
                                     : Conv2dGeometry(kernel: k, stride: stride, padding: k / 2, groups: c)
                        cases.append((size, g, c, [1, 3][(i / 3) % 2]))
                    }
                }
            }
        }
        var dilated = Conv2dGeometry(kernel: 3, padding: 2, dilation: 2, groups: 24)
        cases.append((15, dilated, 24, 3))
        dilated = Conv2dGeometry(kernel: 5, stride: 2, dilation: 2, groups: 33)
        dilated.padding = (3, 4, 5, 2)
        cases.append((14, dilated, 33, 1))
        for (i, (size, g, c, n)) in cases.enumerated() {
            let act = activations[i % activations.count]
            let x = rng.tensor([n, c, size, size]).map { $0 * 3 }, wt = rng.tensor([c, 1, g.kernel.h, g.kernel.w])
            let bias = (0..<c).map { _ in Float.random(in: -3...3, using: &rng) }
            let expected = conv2dReference(x, weight: wt, bias: bias, geometry: g, activation: act)
            // Weights arranged by each worker, and once, by a layer's cache.
            for cache in [nil, WeightCache()] {
                assertClose(conv2d(x, weight: wt, bias: bias, geometry: g, activation: act, cache: cache), expected, relative: 1e-5,
                            "depthwise \(size)x\(size) k\(g.kernel.h) s\(g.stride.h) d\(g.dilation.h) pad \(g.padding) c\(c) n\(n) \(act) cached \(cache != nil)")
            }
        }
    }
}
