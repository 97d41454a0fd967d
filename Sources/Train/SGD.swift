// Trainable parameters and torch.optim.SGD over them.
import Extract

/// A trainable tensor of the network, named by its checkpoint key, with its accumulated gradient.
public final class Parameter {
    /// torchvision's key, e.g. `layer4.1.conv2.weight`.
    public let name: String
    public var value: Tensor
    public var grad: Tensor
    /// Part of the new classifier head (its learning rate may be multiplied).
    public let isHead: Bool
    /// The module group it belongs to, for per-stage learning rates: `conv1`, `layer3`, `fc`;
    /// `_conv_stem`, `_blocks.12`, `_fc`; `features`, `classifier`.
    public let stage: String
    /// Whether weight decay applies; torch.optim.SGD decays every parameter it is given, BatchNorm and biases too.
    public let decays: Bool

    public init(name: String, value: Tensor, isHead: Bool = false, stage: String, decays: Bool = true) {
        self.name = name
        self.value = value
        self.grad = Tensor(zeros: value.shape)
        self.isHead = isHead
        self.stage = stage
        self.decays = decays
    }

    /// grad += g (gradients accumulate until zeroGrad, as in torch).
    func accumulate(_ g: [Float]) {
        precondition(g.count == grad.count, "\(name): gradient of \(g.count) values for \(grad.count)")
        grad.data.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] += g[i] }
        }
    }
}

/// torch.optim.SGD(params, lr, momentum, dampening=0, weight_decay, nesterov=False):
/// g = grad + weightDecay * p; buf = momentum * buf + g (buf = g on a parameter's first step); p -= lr * buf.
public final class SGD {
    public let momentum: Float
    public let weightDecay: Float
    /// Momentum buffers by parameter name (torch's optimizer state), for checkpoints and resuming.
    public var state: [String: Tensor] = [:]

    public init(momentum: Float, weightDecay: Float) {
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    /// One step over `params` with each one's learning rate (a base rate, or the head's multiple of it).
    public func step(_ params: [Parameter], learningRate: (Parameter) -> Float) {
        for p in params {
            let lr = learningRate(p)
            let wd = p.decays ? weightDecay : 0
            let count = p.value.count
            if momentum == 0 {
                p.value.data.withUnsafeMutableBufferPointer { v in
                    p.grad.data.withUnsafeBufferPointer { g in
                        for i in 0..<count { v[i] -= lr * (g[i] + wd * v[i]) }
                    }
                }
                continue
            }
            // Taken out of the dictionary so that it is updated in place, not copied.
            let buf = state.removeValue(forKey: p.name)
            precondition(buf == nil || buf?.shape == p.value.shape,
                         "SGD: the momentum buffer of \(p.name) has shape \(buf?.shape ?? []), the parameter \(p.value.shape)")
            var b = buf ?? Tensor(zeros: p.value.shape)
            let first = buf == nil
            let m = momentum
            p.value.data.withUnsafeMutableBufferPointer { v in
                p.grad.data.withUnsafeBufferPointer { g in
                    b.data.withUnsafeMutableBufferPointer { bp in
                        for i in 0..<count {
                            let d = g[i] + wd * v[i]
                            bp[i] = first ? d : m * bp[i] + d
                            v[i] -= lr * bp[i]
                        }
                    }
                }
            }
            state[p.name] = b
        }
    }
}
