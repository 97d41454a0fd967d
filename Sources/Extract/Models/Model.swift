// A model is a value built once from (architecture, weights); its forward pass returns the named
// layers asked for and stops at the deepest of them.

protocol Network {
    /// Runs the network on x: [N, 3, H, W], emitting every named node's output to `taps`.
    func forward(_ x: Tensor, _ taps: Taps) throws
}

public enum ModelError: Error, CustomStringConvertible {
    case unknownLayer(String, Architecture)
    case inputShape([Int], Architecture)
    case foldedConvolution(String, Architecture)

    public var description: String {
        switch self {
        case let .unknownLayer(name, arch):
            return "unknown layer `\(name)` for \(arch.rawValue); `pipeline layers --model \(arch.rawValue)` lists them"
        case let .foldedConvolution(name, arch):
            return "layer `\(name)` of \(arch.rawValue) is a convolution whose BatchNorm was folded into it at load time; "
                + "name it in the layers the model is built for (Model(_:weights:layers:)) to get its own output"
        case let .inputShape(shape, arch):
            return "\(arch.rawValue) takes images as [N, 3, H, W]; got \(shape)"
        }
    }
}

public final class Model {
    public let architecture: Architecture
    let network: Network
    private var nodeNames: Set<String>?

    /// Builds `architecture` from a state dict with torchvision's (or efficientnet-lite-pytorch's) keys.
    /// Every key must be used: a leftover key means the checkpoint is not for this architecture.
    /// `layers` are the taps that will be asked for: a convolution among them keeps its BatchNorm
    /// apart (its own output exists only then); every other BatchNorm is folded.
    public convenience init(_ architecture: Architecture, weights: StateDict, layers: [String] = []) throws {
        let reader = WeightReader(weights)
        reader.unfolded = Set(layers + layers.compactMap { architecture.aliases[$0] })
        try self.init(architecture, reader: reader)
    }

    /// The architecture with seeded random weights: for speed measurements and layer listings.
    public convenience init(random architecture: Architecture) throws {
        try self.init(architecture, reader: .random())
    }

    init(_ architecture: Architecture, reader r: WeightReader) throws {
        self.architecture = architecture
        switch architecture.family {
        case .alexnet: network = try AlexNet(r)
        case .vgg: network = try VGG(r, config: VGG.config(architecture), batchNorm: VGG.batchNorm(architecture))
        case .resnet: network = try ResNet(r, architecture)
        case .efficientnetLite: network = try EfficientNetLite(r)
        case .squeezenet: network = try SqueezeNet(r, architecture)
        case .densenet: network = try DenseNet(r, architecture)
        case .googlenet: network = try GoogLeNet(r)
        case .inception: network = try Inception3(r)
        case .shufflenet: network = try ShuffleNetV2(r, architecture)
        case .mobilenetV2: network = try MobileNetV2(r)
        case .mobilenetV3: network = try MobileNetV3(r, architecture)
        }
        try r.finish(allowUnusedPrefixes: architecture.unusedCheckpointModules)
    }

    /// The node a layer name or alias refers to. torchvision's node names come first: an alias
    /// only stands for a name that is not a node.
    public func resolve(_ layer: String) throws -> String {
        if nodeNames == nil { nodeNames = Set(try layers().map(\.name)) }
        if nodeNames?.contains(layer) == true { return layer }
        if let node = architecture.aliases[layer], nodeNames?.contains(node) == true { return node }
        throw ModelError.unknownLayer(layer, architecture)
    }

    /// Outputs of `layers` (names or aliases) for x: [N, 3, H, W], keyed as asked.
    public func run(_ x: Tensor, layers: [String]) throws -> [String: Tensor] {
        guard x.rank == 4, x.shape[1] == 3 else { throw ModelError.inputShape(x.shape, architecture) }
        let nodes = try layers.map { try resolve($0) }
        let taps = Taps(wanted: Set(nodes))
        do {
            try network.forward(x, taps)
        } catch is ForwardComplete {}
        if let folded = taps.missing().sorted().first {
            throw ModelError.foldedConvolution(folded, architecture)
        }
        var result: [String: Tensor] = [:]
        for (name, node) in zip(layers, nodes) { result[name] = taps.outputs[node] }
        return result
    }

    /// Multiply-adds of one image's forward pass at `size` x `size`, up to `layers` (all when empty).
    public func multiplyAdds(size: Int? = nil, upTo layers: [String] = []) throws -> Int {
        let s = size ?? architecture.inputSize
        let nodes = try layers.map { try resolve($0) }
        multiplyAddCounter = 0
        defer { multiplyAddCounter = nil }
        do {
            try network.forward(Tensor(zeros: [1, 3, s, s]), Taps(wanted: Set(nodes), listing: nodes.isEmpty))
        } catch is ForwardComplete {}
        return multiplyAddCounter ?? 0
    }

    /// Every node in forward order, with its output shape for one image at `size` x `size` and its aliases.
    public func layers(size: Int? = nil) throws -> [(name: String, shape: [Int], aliases: [String])] {
        let s = size ?? architecture.inputSize
        let taps = Taps(wanted: [], listing: true)
        try network.forward(Tensor(zeros: [1, 3, s, s]), taps)
        let aliases = architecture.aliases
        return taps.shapes.map { node in
            (node.name, node.shape, aliases.filter { $0.value == node.name }.map(\.key).sorted())
        }
    }
}
