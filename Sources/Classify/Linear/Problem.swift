// liblinear's `problem` in its sparse form: each row lists only its nonzero features, which for
// ReLU'd CNN codes is typically well under half of them.
import CLinear

extension Linear {
    /// Owns the feature_node rows handed to train, cross_validation and find_parameters.
    public final class Problem {
        public let count: Int
        public let dimension: Int
        public let bias: Double
        public let labels: [Int32]
        /// Nonzero features stored (not counting bias nodes and terminators).
        public let nonzeros: Int
        private let nodes: UnsafeMutablePointer<feature_node>
        private let nodeCount: Int
        private let rows: UnsafeMutablePointer<UnsafeMutablePointer<feature_node>?>
        private let y: UnsafeMutablePointer<Double>

        /// Codes as given (normalise first); `bias >= 0` appends feature `dimension + 1` of that value.
        public init(_ features: FeatureSet, bias: Double) throws {
            try features.validate(training: true)
            let n = features.count, d = features.dimension
            count = n; dimension = d; self.bias = bias; labels = features.labels
            let nnz = features.codes.reduce(0) { $1 != 0 ? $0 + 1 : $0 }
            nonzeros = nnz
            nodeCount = nnz + n * (bias >= 0 ? 2 : 1)
            nodes = .allocate(capacity: nodeCount)
            rows = .allocate(capacity: n)
            y = .allocate(capacity: n)
            var k = 0
            features.codes.withUnsafeBufferPointer { c in
                for i in 0..<n {
                    rows[i] = nodes + k
                    y[i] = Double(features.labels[i])
                    k = Problem.fill(nodes + k, c[(i * d)..<(i * d + d)], bias: bias) + k
                }
            }
        }

        deinit {
            nodes.deallocate(); rows.deallocate(); y.deallocate()
        }

        /// Writes the nonzeros of `row` (1-based indices), the bias node and the -1 terminator at `out`;
        /// returns how many nodes it wrote. Shared with prediction, which must see the same layout.
        static func fill(_ out: UnsafeMutablePointer<feature_node>, _ row: Slice<UnsafeBufferPointer<Float>>,
                         bias: Double) -> Int {
            var k = 0
            for (j, v) in zip(0..., row) where v != 0 {
                out[k] = feature_node(index: Int32(j + 1), value: Double(v)); k += 1
            }
            if bias >= 0 { out[k] = feature_node(index: Int32(row.count + 1), value: bias); k += 1 }
            out[k] = feature_node(index: -1, value: 0)
            return k + 1
        }

        /// Bytes liblinear reads: the nodes (16 bytes each) and the row pointers.
        public var sparseBytes: Int { nodeCount * MemoryLayout<feature_node>.stride + count * MemoryLayout<UnsafeRawPointer>.stride }
        /// Bytes the same problem would take with every feature stored as a node.
        public var denseBytes: Int {
            (count * (dimension + (bias >= 0 ? 2 : 1))) * MemoryLayout<feature_node>.stride
                + count * MemoryLayout<UnsafeRawPointer>.stride
        }

        func withC<R>(_ body: (UnsafePointer<problem>) throws -> R) rethrows -> R {
            var p = problem(l: Int32(count), n: Int32(dimension + (bias >= 0 ? 1 : 0)), y: y, x: rows, bias: bias)
            return try withUnsafePointer(to: &p, body)
        }
    }
}
