// Whole networks' gradients (all modules wired together: bottlenecks, downsampling, drop-connect
// masks, dropout, VGG's adaptive pool, AlexNet's ceil-free pools) against a central difference of
// the loss along a random direction: (L(p + e d) - L(p - e d)) / 2e = grad . d.
import XCTest
import Extract
@testable import Train

final class DirectionalDerivativeTests: XCTestCase {
    /// Resets every random stream (dropout, drop-connect) so that repeated passes draw the same masks.
    func reseed(_ m: Module) {
        if let d = m as? Dropout { d.rng = SplitMix64(seed: 5) }
        if let c = m as? Chain { c.modules.forEach(reseed) }
        if let r = m as? Residual {
            r.rng = SplitMix64(seed: 6)
            reseed(r.main)
            r.shortcut.map(reseed)
        }
    }

    func loss(_ net: TrainableNetwork, _ x: Tensor, _ labels: [Int]) throws -> (Double, Tensor) {
        net.units.forEach { reseed($0.module) }
        let r = crossEntropy(try net.forward(x, training: true), labels: labels)
        return (r.loss, r.grad)
    }

    func testNetworksGradientsAlongARandomDirection() throws {
        // Inputs large enough that the last BatchNorms see more than a couple of values per channel
        // (with two, the normalised values are +-1 whatever the input and the loss is ill-conditioned).
        let only = ProcessInfo.processInfo.environment["ARCH"]
        for (arch, freeze, size) in [(Architecture.resnet50, "layer1", 96), (.resnet18, nil, 64), (.efficientnet_lite0, "_blocks.2", 64),
                                     (.vgg11_bn, "features.3", 32), (.alexnet, nil, 64)] where only == nil || only == arch.rawValue {
            let net = try TrainableNetwork(random: arch, classes: 3, freezeUntil: freeze, seed: 2)
            let x = NetworkTests.input([4, 3, size, size], seed: 3)
            let labels = [0, 2, 1, 1]
            let (base, grad) = try loss(net, x, labels)
            net.zeroGrad()
            try net.backward(grad)
            var rng = SplitMix64(seed: 4)
            let params = net.parameters
            // The direction: the gradient itself plus a random part of the same length (so that a
            // parameter whose gradient is missing still shows), which keeps the loss's change well above
            // float32 noise; the step makes the loss move by about 0.1 %.
            let gradNorm = params.reduce(0.0) { $0 + $1.grad.data.reduce(0.0) { $0 + Double($1 * $1) } }.squareRoot()
            let noise = params.map { p in (0..<p.value.count).map { _ in rng.unit() * 2 - 1 } }
            let noiseNorm = noise.reduce(0.0) { $0 + $1.reduce(0.0) { $0 + $1 * $1 } }.squareRoot()
            let directions = zip(params, noise).map { p, r in
                p.grad.data.indices.map { Float(Double(p.grad.data[$0]) + r[$0] * gradNorm / noiseNorm) }
            }
            var analytic = 0.0
            for (p, d) in zip(params, directions) { for i in d.indices { analytic += Double(p.grad.data[i]) * Double(d[i]) } }
            let eps = Float(1e-3 * max(base, 1) / analytic)
            func shift(_ s: Float) { for (p, d) in zip(params, directions) { for i in d.indices { p.value.data[i] += s * d[i] } } }
            shift(eps)
            let (up, _) = try loss(net, x, labels)
            shift(-2 * eps)
            let (down, _) = try loss(net, x, labels)
            shift(eps)
            let numeric = (up - down) / (2 * Double(eps))
            XCTAssertEqual(numeric, analytic, accuracy: 0.01 * abs(analytic),
                           "\(arch) frozen up to \(freeze ?? "nothing"): central difference \(numeric), gradient . direction \(analytic)")
            print("\(arch): directional derivative \(analytic), central difference \(numeric)")
        }
    }
}
