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

func activate(_ x: Tensor, _ a: Activation) -> Tensor {
    if a == .none { return x }
    var y = x
    y.data.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = a.apply(p[i]) } }
    return y
}
