// Named layer outputs ("taps") collected during one forward pass, which stops at the deepest one asked for.

/// Thrown inside a forward pass once every requested tap has been recorded; caught by `Model.run`.
struct ForwardComplete: Error {}

/// Collects the outputs a caller asked for, by node name. In `listing` mode it records every
/// node's shape instead, for `pipeline layers`.
public final class Taps {
    let wanted: Set<String>
    let listing: Bool
    public private(set) var outputs: [String: Tensor] = [:]
    public private(set) var shapes: [(name: String, shape: [Int])] = []

    init(wanted: Set<String>, listing: Bool = false) {
        self.wanted = wanted
        self.listing = listing
    }

    /// Whether the output of `name` is needed as it is (not fused with what follows).
    func wants(_ name: String) -> Bool { listing || wanted.contains(name) }

    /// Records `x` as the output of node `name`; ends the pass when nothing more is needed.
    func emit(_ name: String, _ x: Tensor) throws {
        if listing {
            shapes.append((name, Array(x.shape.dropFirst())))
            return
        }
        if wanted.contains(name) {
            outputs[name] = x
            if outputs.count == wanted.count { throw ForwardComplete() }
        }
    }

    /// A convolution (or linear layer) named `name` followed by a ReLU-like activation named `after`:
    /// fused unless the pre-activation output itself is asked for.
    func layer(_ name: String, then after: String?, activation: Activation, _ f: (Activation) -> Tensor) throws -> Tensor {
        guard let after else {
            let y = f(.none)
            try emit(name, y)
            return y
        }
        if wants(name) {
            let y = f(.none)
            try emit(name, y)
            let z = activate(y, activation)
            try emit(after, z)
            return z
        }
        let z = f(activation)
        try emit(after, z)
        return z
    }
}

extension Taps {
    /// Runs `conv` (with its BatchNorm, folded or kept apart) and then `activation`, emitting the
    /// convolution's output (`conv.name`), its BatchNorm's (`conv.bnName`) and the activation's
    /// (`after`), fused where nobody asked for the intermediate outputs.
    func conv(_ conv: Conv2d, _ x: Tensor, activation: Activation = .none, then after: String? = nil) throws -> Tensor {
        if let bn = conv.separateBN, let bnName = conv.bnName {
            let raw = conv(x)
            try emit(conv.name, raw)
            let (scale, shift) = bn.scaleAndShift
            let y = affine(raw, scale: scale, shift: shift)
            try emit(bnName, y)
            guard let after else { return activate(y, activation) }
            let z = activate(y, activation)
            try emit(after, z)
            return z
        }
        // Folded: the convolution's own output does not exist; listing still names it, with its shape.
        if listing, conv.bnName != nil { try emit(conv.name, conv(x)) }
        let first = conv.bnName ?? conv.name
        guard let after else {
            if activation == .none || wants(first) {
                let y = conv(x)
                try emit(first, y)
                return activate(y, activation)
            }
            return conv(x, activation: activation)
        }
        return try layer(first, then: after, activation: activation) { conv(x, activation: $0) }
    }

    /// Whether every requested tap was reached by the pass (a folded convolution's is not).
    func missing() -> Set<String> { wanted.subtracting(outputs.keys) }
}

/// y[n, c] = scale[c] * x[n, c] + shift[c]: a BatchNorm at inference, when it is not folded.
func affine(_ x: Tensor, scale: [Float], shift: [Float]) -> Tensor {
    var y = x
    let c = x.shape[1], plane = x.count / max(x.shape[0] * c, 1)
    y.data.withUnsafeMutableBufferPointer { p in
        for i in 0..<(x.shape[0] * c) {
            let s = scale[i % c], t = shift[i % c]
            for j in i * plane..<(i + 1) * plane { p[j] = p[j] * s + t }
        }
    }
    return y
}

func activate(_ x: Tensor, _ a: Activation) -> Tensor {
    if a == .none { return x }
    var y = x
    apply(a, to: &y)
    return y
}
