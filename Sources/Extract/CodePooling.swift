// How a convolutional tap becomes a fixed-length code vector.

/// How a convolutional tap [C, H, W] becomes a vector. Fully connected taps are used as they are.
public enum Pooling: Equatable, Sendable, CustomStringConvertible {
    case avg, max
    /// K x K cells of adaptive average pooling, concatenated channel-major: C * K * K values.
    case grid(Int)

    public init?(_ text: String) {
        switch text {
        case "avg": self = .avg
        case "max": self = .max
        default:
            guard text.hasPrefix("grid:"), let k = Int(text.dropFirst(5)), k > 0 else { return nil }
            self = .grid(k)
        }
    }

    public var description: String {
        switch self {
        case .avg: return "avg"
        case .max: return "max"
        case .grid(let k): return "grid:\(k)"
        }
    }

    /// Code length for a tap of shape [C, H, W] (or [D]).
    public func length(of shape: [Int]) -> Int {
        guard shape.count == 3 else { return shape.reduce(1, *) }
        if case .grid(let k) = self { return shape[0] * k * k }
        return shape[0]
    }

    /// x: [N, C, H, W] -> [N, length]; x: [N, D] unchanged.
    func apply(_ x: Tensor) -> Tensor {
        guard x.rank == 4 else { return flatten(x) }
        if x.shape[2] == 1 && x.shape[3] == 1 { return flatten(x) }
        switch self {
        case .avg: return globalAvgPool(x)
        case .max: return globalMaxPool(x)
        case .grid(let k): return flatten(adaptiveAvgPool2d(x, outputHeight: k, outputWidth: k))
        }
    }
}
