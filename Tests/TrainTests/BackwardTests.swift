// Every op's backward pass: the plain-loop Double reference against central finite differences of
// its own forward pass, and the fast float32 backward against that reference.
import XCTest
import Extract
@testable import Train

/// Seeded values in [-1, 1) (plus `offset`), distinct with probability 1.
func randomDoubles(_ count: Int, seed: UInt64, scale: Double = 1) -> [Double] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in (rng.unit() * 2 - 1) * scale }
}

func random64(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor64 {
    Tensor64(shape: shape, data: randomDoubles(shape.reduce(1, *), seed: seed, scale: scale))
}

/// max |a - b|, and the largest |b| (the scale tolerances are relative to).
func maxDifference(_ a: [Double], _ b: [Double]) -> (diff: Double, scale: Double) {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
    return (zip(a, b).map { abs($0 - $1) }.max() ?? 0, b.map(abs).max() ?? 0)
}

final class BackwardTests: XCTestCase {
    /// Central differences of L(v) = sum(f(v) * r) for a fixed random r, so that dL/dy = r.
    func numericGradient(_ v: [Double], eps: Double = 1e-6, _ loss: ([Double]) -> Double) -> [Double] {
        var v = v
        return v.indices.map { i in
            let keep = v[i]
            v[i] = keep + eps
            let up = loss(v)
            v[i] = keep - eps
            let down = loss(v)
            v[i] = keep
            return (up - down) / (2 * eps)
        }
    }

    func dot(_ a: Tensor64, _ r: Tensor64) -> Double { zip(a.data, r.data).reduce(0) { $0 + $1.0 * $1.1 } }

    /// The reference gradient equals finite differences within 1e-6 of its scale.
    func assertMatchesFD(_ analytic: [Double], _ numeric: [Double], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let (d, s) = maxDifference(analytic, numeric)
        XCTAssertLessThanOrEqual(d, 1e-6 * max(s, 1), "\(what): reference vs finite differences, max |difference| \(d) (scale \(s))",
                                 file: file, line: line)
    }

    /// The fast float32 result equals the Double reference within `tol` of its scale.
    func assertClose(_ fast: [Float], _ reference: [Double], tol: Double = 1e-4, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let (d, s) = maxDifference(fast.map(Double.init), reference)
        XCTAssertLessThanOrEqual(d, tol * max(s, 1), "\(what): fast vs reference, max |difference| \(d) (scale \(s))", file: file, line: line)
    }

    // MARK: conv2d

    func testConv2dBackward() {
        // (label, in channels, out channels, size, geometry): fixed padding, strides, TF "same" with its
        // asymmetric padding, groups, depthwise (EfficientNet-Lite's 3x3 and 5x5, stride 1 and 2).
        let cases: [(String, Int, Int, Int, Conv2dGeometry)] = [
            ("3x3 s1 p1", 3, 5, 6, Conv2dGeometry(kernel: 3, stride: 1, padding: 1)),
            ("3x3 s2 p1", 4, 6, 7, Conv2dGeometry(kernel: 3, stride: 2, padding: 1)),
            ("7x7 s2 p3", 3, 4, 9, Conv2dGeometry(kernel: 7, stride: 2, padding: 3)),
            ("1x1 s2", 4, 8, 7, Conv2dGeometry(kernel: 1, stride: 2)),
            ("1x1 s1", 6, 3, 5, Conv2dGeometry(kernel: 1)),
            ("3x3 same s2 (asymmetric)", 3, 4, 8, .same(kernel: 3, stride: 2, inputSize: (8, 8))),
            ("5x5 same s1", 2, 3, 7, .same(kernel: 5, stride: 1, inputSize: (7, 7))),
            ("3x3 groups 2", 4, 6, 6, Conv2dGeometry(kernel: 3, stride: 1, padding: 1, groups: 2)),
            ("depthwise 3x3 same s1", 5, 5, 7, .same(kernel: 3, stride: 1, inputSize: (7, 7), groups: 5)),
            ("depthwise 5x5 same s2", 4, 4, 9, .same(kernel: 5, stride: 2, inputSize: (9, 9), groups: 4)),
            ("depthwise 3x3 same s2 even", 3, 3, 8, .same(kernel: 3, stride: 2, inputSize: (8, 8), groups: 3)),
            ("depthwise 5x5 same s1, rows of 16+ (vector lanes)", 2, 2, 18, .same(kernel: 5, stride: 1, inputSize: (18, 18), groups: 2)),
            ("depthwise 3x3 same s2, rows of 4+", 2, 2, 17, .same(kernel: 3, stride: 2, inputSize: (17, 17), groups: 2)),
        ]
        for (label, c, o, size, g) in cases {
            let n = 2
            let x = random64([n, c, size, size], seed: 1)
            let w = random64([o, c / g.groups, g.kernel.h, g.kernel.w], seed: 2, scale: 0.5)
            let b = randomDoubles(o, seed: 3)
            let y = Reference.conv2d(x, w, b, g)
            let r = random64(y.shape, seed: 4)
            let (dx, dw, db) = Reference.conv2dBackward(x, w, r, g)
            assertMatchesFD(dx.data, numericGradient(x.data) { dot(Reference.conv2d(Tensor64(shape: x.shape, data: $0), w, b, g), r) }, "\(label) dx")
            assertMatchesFD(dw.data, numericGradient(w.data) { dot(Reference.conv2d(x, Tensor64(shape: w.shape, data: $0), b, g), r) }, "\(label) dw")
            assertMatchesFD(db, numericGradient(b) { dot(Reference.conv2d(x, w, $0, g), r) }, "\(label) db")

            let fast = conv2dBackward(x.float, weight: w.float, dy: r.float, geometry: g, inputGrad: true, biasGrad: true)
            assertClose(fast.dx?.data ?? [], dx.data, "\(label) dx")
            assertClose(fast.dw.data, dw.data, "\(label) dw")
            assertClose(fast.db ?? [], db, "\(label) db")
            XCTAssertNil(conv2dBackward(x.float, weight: w.float, dy: r.float, geometry: g, inputGrad: false).dx)
        }
    }

    /// Batches larger than the workers, so that the per-worker weight gradients are summed.
    func testConv2dBackwardSplitsImagesAcrossWorkers() {
        let g = Conv2dGeometry(kernel: 3, stride: 1, padding: 1)
        let x = random64([5, 3, 5, 5], seed: 11), w = random64([4, 3, 3, 3], seed: 12)
        let r = random64([5, 4, 5, 5], seed: 13)
        let (dx, dw, _) = Reference.conv2dBackward(x, w, r, g)
        let fast = conv2dBackward(x.float, weight: w.float, dy: r.float, geometry: g)
        assertClose(fast.dx?.data ?? [], dx.data, "dx")
        assertClose(fast.dw.data, dw.data, "dw")
        let g2 = Conv2dGeometry(kernel: 3, stride: 2, padding: 1, groups: 2)
        let w2 = random64([6, 2, 3, 3], seed: 14), x2 = random64([5, 4, 5, 5], seed: 15), r2 = random64([5, 6, 3, 3], seed: 16)
        let ref2 = Reference.conv2dBackward(x2, w2, r2, g2)
        let fast2 = conv2dBackward(x2.float, weight: w2.float, dy: r2.float, geometry: g2)
        assertClose(fast2.dx?.data ?? [], ref2.dx.data, "groups 2, several images per sgemm: dx")
        assertClose(fast2.dw.data, ref2.dw.data, "groups 2, several images per sgemm: dw")
        // 3x3 stride 1 with 16+ channels and 14+ wide: dx goes through Extract's Winograd convolution.
        let g3 = Conv2dGeometry(kernel: 3, stride: 1, padding: 1)
        let w3 = random64([16, 16, 3, 3], seed: 17, scale: 0.3), x3 = random64([2, 16, 16, 16], seed: 18), r3 = random64([2, 16, 16, 16], seed: 19)
        let ref3 = Reference.conv2dBackward(x3, w3, r3, g3)
        let fast3 = conv2dBackward(x3.float, weight: w3.float, dy: r3.float, geometry: g3)
        assertClose(fast3.dx?.data ?? [], ref3.dx.data, "3x3 s1 16 channels 16x16 (Winograd): dx")
        assertClose(fast3.dw.data, ref3.dw.data, "3x3 s1 16 channels 16x16: dw")
    }

    // MARK: BatchNorm2d

    func testBatchNormTrainingBackward() {
        for (n, c, hw, eps) in [(2, 3, 4, 1e-5), (3, 2, 1, 1e-3), (1, 4, 5, 1e-5)] {
            let x = random64([n, c, hw, hw], seed: 21, scale: 2)
            let gamma = randomDoubles(c, seed: 22), beta = randomDoubles(c, seed: 23)
            let r = random64(x.shape, seed: 24)
            let ref = Reference.batchNormBackward(x, dy: r, gamma: gamma, eps: eps)
            let label = "BatchNorm [\(n), \(c), \(hw), \(hw)] eps \(eps)"
            assertMatchesFD(ref.dx.data, numericGradient(x.data) {
                dot(Reference.batchNorm(Tensor64(shape: x.shape, data: $0), gamma: gamma, beta: beta, eps: eps).y, r)
            }, "\(label) dx")
            assertMatchesFD(ref.dgamma, numericGradient(gamma) { dot(Reference.batchNorm(x, gamma: $0, beta: beta, eps: eps).y, r) },
                            "\(label) dgamma")
            assertMatchesFD(ref.dbeta, numericGradient(beta) { dot(Reference.batchNorm(x, gamma: gamma, beta: $0, eps: eps).y, r) },
                            "\(label) dbeta")

            let (y, stats) = batchNormTraining(x.float, gamma: gamma.map { Float($0) }, beta: beta.map { Float($0) }, eps: eps)
            let refForward = Reference.batchNorm(x, gamma: gamma, beta: beta, eps: eps)
            assertClose(y.data, refForward.y.data, "\(label) forward")
            assertClose(stats.mean, refForward.mean, "\(label) mean")
            let fast = batchNormTrainingBackward(x.float, dy: r.float, gamma: gamma.map { Float($0) }, stats: stats)
            assertClose(fast.dx.data, ref.dx.data, "\(label) dx")
            assertClose(fast.dgamma, ref.dgamma, "\(label) dgamma")
            assertClose(fast.dbeta, ref.dbeta, "\(label) dbeta")
        }
    }

    // MARK: activations, pooling, linear, loss

    func testActivationBackward() {
        // Values kept 0.05 away from the kinks at 0 and 6, where the derivative is not defined.
        let raw = randomDoubles(60, seed: 31, scale: 8)
        let x = Tensor64(shape: [2, 3, 2, 5], data: raw.map { v in [0.0, 6].contains(where: { abs(v - $0) < 0.05 }) ? v + 0.1 : v })
        for a in [Activation.relu, .relu6] {
            let r = random64(x.shape, seed: 32)
            let ref = Reference.activationBackward(x, r, a)
            assertMatchesFD(ref.data, numericGradient(x.data) { dot(Reference.activation(Tensor64(shape: x.shape, data: $0), a), r) }, "\(a)")
            let y = Reference.activation(x, a).float
            assertClose(activationBackward(a, y: y, dy: r.float).data, ref.data, "\(a)")
        }
    }

    func testMaxPoolBackward() {
        // ResNet's 3/2 pad 1; AlexNet's 3/2 in ceil mode on sizes where the last window hangs over; VGG's 2/2.
        for (k, s, p, ceil, size) in [(3, 2, 1, false, 8), (3, 2, 0, true, 8), (3, 2, 1, true, 6), (2, 2, 0, false, 6), (3, 2, 0, false, 7)] {
            let x = random64([2, 2, size, size], seed: 41)
            let y0 = Reference.maxPool(x, kernel: k, stride: s, padding: p, ceilMode: ceil).y
            let r = random64(y0.shape, seed: 42)
            let ref = Reference.maxPool(x, kernel: k, stride: s, padding: p, ceilMode: ceil, dy: r)
            let label = "max pool \(k)/\(s) pad \(p) ceil \(ceil) on \(size)"
            assertMatchesFD(ref.dx.data, numericGradient(x.data) {
                dot(Reference.maxPool(Tensor64(shape: x.shape, data: $0), kernel: k, stride: s, padding: p, ceilMode: ceil).y, r)
            }, label)
            let (y, indices) = maxPool2dWithIndices(x.float, kernel: k, stride: s, padding: p, ceilMode: ceil)
            assertClose(y.data, ref.y.data, tol: 1e-7, "\(label) forward (Double rounded to float)")
            XCTAssertEqual(y, maxPool2d(x.float, kernel: k, stride: s, padding: p, ceilMode: ceil), "\(label): Extract's forward")
            assertClose(maxPool2dBackward(dy: r.float, indices: indices, inputShape: x.shape).data, ref.dx.data, label)
        }
    }

    func testAveragePoolBackward() {
        for (size, out) in [(7, 3), (6, 6), (5, 1), (13, 6)] {
            let x = random64([2, 3, size, size], seed: 51)
            let r = random64([2, 3, out, out], seed: 52)
            let ref = Reference.adaptiveAvgPool(x, out, out, dy: r)
            assertMatchesFD(ref.dx.data, numericGradient(x.data) { dot(Reference.adaptiveAvgPool(Tensor64(shape: x.shape, data: $0), out, out).y, r) },
                            "adaptive avg pool \(size) -> \(out)")
            assertClose(adaptiveAvgPool2dBackward(dy: r.float, inputShape: x.shape).data, ref.dx.data, "adaptive avg pool \(size) -> \(out)")
            if out == 1 {
                assertClose(globalAvgPoolBackward(dy: r.float.reshaped([2, 3]), inputShape: x.shape).data, ref.dx.data, "global avg pool")
            }
        }
    }

    func testLinearBackward() {
        let x = random64([3, 7], seed: 61), w = random64([5, 7], seed: 62)
        let b = randomDoubles(5, seed: 63), r = random64([3, 5], seed: 64)
        let ref = Reference.linearBackward(x, w, r)
        assertMatchesFD(ref.dx.data, numericGradient(x.data) { dot(Reference.linear(Tensor64(shape: x.shape, data: $0), w, b), r) }, "linear dx")
        assertMatchesFD(ref.dw.data, numericGradient(w.data) { dot(Reference.linear(x, Tensor64(shape: w.shape, data: $0), b), r) }, "linear dw")
        assertMatchesFD(ref.db, numericGradient(b) { dot(Reference.linear(x, w, $0), r) }, "linear db")
        let fast = linearBackward(x.float, weight: w.float, dy: r.float)
        assertClose(fast.dx?.data ?? [], ref.dx.data, "linear dx")
        assertClose(fast.dw.data, ref.dw.data, "linear dw")
        assertClose(fast.db, ref.db, "linear db")
    }

    func testCrossEntropy() {
        let logits = random64([4, 6], seed: 71, scale: 3)
        let labels = [0, 5, 2, 2]
        let (loss, grad, correct) = crossEntropy(logits.float, labels: labels)
        let refLoss = Reference.crossEntropy(logits, labels)
        XCTAssertEqual(loss, refLoss, accuracy: 1e-6)
        let numeric = numericGradient(logits.data) { Reference.crossEntropy(Tensor64(shape: logits.shape, data: $0), labels) }
        assertClose(grad.data, numeric, tol: 1e-6, "cross-entropy gradient vs finite differences")
        let argmax = (0..<4).map { r in (0..<6).max { logits.data[r * 6 + $0] < logits.data[r * 6 + $1] } ?? 0 }
        XCTAssertEqual(correct, zip(argmax, labels).filter { $0 == $1 }.count)
    }

    func testDropoutKeepsAndScales() {
        var rng = SplitMix64(seed: 81)
        let x = Tensor(shape: [10, 1000], data: .init(repeating: 1, count: 10_000))
        let (y, mask) = dropout(x, p: 0.2, rng: &rng)
        let kept = y.data.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { abs($0 - 1.25) < 1e-6 }, "kept values are scaled by 1 / (1 - p)")
        XCTAssertEqual(Double(kept.count) / 10_000, 0.8, accuracy: 0.02, "fraction kept")
        let dy = Tensor(shape: x.shape, data: randomDoubles(10_000, seed: 82).map { Float($0) })
        let dx = scaled(dy, by: mask)
        XCTAssertEqual(dx.data, zip(dy.data, y.data).map { $0 * $1 }, "backward is dy times the mask")
    }
}
