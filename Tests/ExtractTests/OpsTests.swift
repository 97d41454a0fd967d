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

func assertClose(_ a: Tensor, _ b: Tensor, relative tol: Float = 1e-4, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, b.shape, "\(what): shapes", file: file, line: line)
    guard a.shape == b.shape else { return }
    let scale = max(b.data.map(abs).max() ?? 0, 1e-6)
    let diff = zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0
    XCTAssertLessThanOrEqual(diff / scale, tol, "\(what): max abs diff \(diff), scale \(scale)", file: file, line: line)
}

final class OpsTests: XCTestCase {
    func testConvMatchesPlainLoopOnRandomGeometries() {
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
                        "conv trial \(trial) \(g) \(act)")
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
}
