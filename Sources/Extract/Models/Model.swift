// A model is a value built once from (architecture, weights); its forward pass returns the named
// layers asked for and stops at the deepest of them.
import Foundation

protocol Network {
    /// Runs the network on x: [N, 3, H, W], emitting every named node's output to `taps`.
    func forward(_ x: Tensor, _ taps: Taps) throws
}

public enum ModelError: Error, CustomStringConvertible {
    /// (layer, model name, the command that lists the model's layers)
    case unknownLayer(String, String, String)
    case inputShape([Int], String)
    case foldedConvolution(String, String)

    public var description: String {
        switch self {
        case let .unknownLayer(name, model, lister):
            return "unknown layer `\(name)` for \(model); `\(lister)` lists them"
        case let .foldedConvolution(name, model):
            return "layer `\(name)` of \(model) is a convolution whose BatchNorm was folded into it at load time; "
                + "name it in the layers the model is built for (Model(_:weights:layers:)) to get its own output"
        case let .inputShape(shape, model):
            return "\(model) takes images as [N, 3, H, W]; got \(shape)"
        }
    }
}

public final class Model {
    /// The built-in architecture; nil for a model read from an ONNX file.
    public let architecture: Architecture?
    /// The architecture's name, or the ONNX file's name.
    public let name: String
    /// The ONNX file the model was read from.
    public let onnxPath: String?
    /// Layer aliases: the architecture's Caffe-style names, or an ONNX file's slash-free names.
    public let aliases: [String: String]
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

    /// The network an ONNX file describes, weights included. `layers` are the taps that will be asked
    /// for: a Conv among them keeps the BatchNormalization after it apart; every other one is folded.
    /// The whole graph is checked here (operators, attributes, shapes), before any image is read.
    public init(onnx path: String, layers: [String] = []) throws {
        architecture = nil
        name = (path as NSString).lastPathComponent
        onnxPath = path
        let net = try ONNXNetwork(path: path, unfolded: Set(layers))
        network = net
        aliases = onnxAliases(try net.layers(height: net.declaredInputSize ?? 224, width: net.declaredInputSize ?? 224).map(\.name))
    }

    /// The layer whose codes `pipeline extract` writes when none is named: the architecture's, or an
    /// ONNX graph's first output.
    public var defaultLayer: String {
        if let architecture { return architecture.defaultLayer }
        guard let net = network as? ONNXNetwork else { return "" }
        let out = net.graphOutputs.first ?? net.steps.last?.outputs.first ?? net.inputName
        return onnxAlias(out) == out || aliases[onnxAlias(out)] != out ? out : onnxAlias(out)
    }

    /// Side of the square input an ONNX file declares, if it declares one.
    public var declaredInputSize: Int? { (network as? ONNXNetwork)?.declaredInputSize }

    /// The command that lists this model's layers, for hints.
    var layersCommand: String {
        if let onnxPath { return "pipeline layers --onnx \(onnxPath)" }
        return "pipeline layers --model \(name)"
    }

    init(_ architecture: Architecture, reader r: WeightReader) throws {
        self.architecture = architecture
        name = architecture.rawValue
        onnxPath = nil
        aliases = architecture.aliases
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
        if let node = aliases[layer], nodeNames?.contains(node) == true { return node }
        throw ModelError.unknownLayer(layer, name, layersCommand)
    }

    /// Outputs of `layers` (names or aliases) for x: [N, 3, H, W], keyed as asked.
    /// Networks built of depthwise and 1x1 convolutions (EfficientNet-Lite, MobileNet, ShuffleNet) are
    /// limited by memory traffic, not arithmetic: given at least one image per worker, each worker runs
    /// whole images through them one at a time, so that an image's activations stay in cache from
    /// layer to layer where a batch's would go through memory (EfficientNet-Lite0 at batch 32: 1.2x).
    /// The others run the batch layer by layer, each op split across the workers: their late layers
    /// have small planes (7x7), which make matrix products too narrow one image at a time (ResNet-18
    /// at batch 32 is 1.2x faster so), and their linear layers want whole batches.
    public func run(_ x: Tensor, layers: [String]) throws -> [String: Tensor] {
        guard x.rank == 4, x.shape[1] == 3 else { throw ModelError.inputShape(x.shape, name) }
        let nodes = try layers.map { try resolve($0) }
        let n = x.shape[0]
        guard splitsBatch, n > 1, n >= Parallelism.threads, Parallelism.threads > 1, convProfile == nil else {
            return try run(x, layers: layers, nodes: nodes)
        }
        let size = x.count / n
        let lock = NSLock()
        var perImage = [[String: Tensor]](repeating: [:], count: n)
        var failure: Error?
        parallelChunks(n) { i in
            let xi = Tensor(shape: [1] + x.shape.dropFirst(), data: Array(x.data[i * size..<(i + 1) * size]))
            do {
                let out = try run(xi, layers: layers, nodes: nodes)
                lock.withLock { perImage[i] = out }
            } catch {
                lock.withLock { failure = failure ?? error }
            }
        }
        if let failure { throw failure }
        var result: [String: Tensor] = [:]
        for layer in layers {
            guard let first = perImage[0][layer] else { continue }
            result[layer] = Tensor(shape: [n] + first.shape.dropFirst(), data: perImage.flatMap { $0[layer]!.data })
        }
        return result
    }

    /// Whether `run` splits a batch into images (see there).
    private var splitsBatch: Bool {
        switch architecture?.family {
        case .efficientnetLite, .mobilenetV2, .mobilenetV3, .shufflenet: return true
        default: return false
        }
    }

    private func run(_ x: Tensor, layers: [String], nodes: [String]) throws -> [String: Tensor] {
        let taps = Taps(wanted: Set(nodes))
        do {
            try network.forward(x, taps)
        } catch is ForwardComplete {}
        if let folded = taps.missing().sorted().first {
            throw ModelError.foldedConvolution(folded, name)
        }
        var result: [String: Tensor] = [:]
        for (name, node) in zip(layers, nodes) { result[name] = taps.outputs[node] }
        return result
    }

    /// Multiply-adds of one image's forward pass at `size` x `size`, up to `layers` (all when empty).
    public func multiplyAdds(size: Int? = nil, upTo layers: [String] = []) throws -> Int {
        let s = size ?? defaultInputSize
        let nodes = try layers.map { try resolve($0) }
        multiplyAddCounter = 0
        defer { multiplyAddCounter = nil }
        do {
            try network.forward(Tensor(zeros: [1, 3, s, s]), Taps(wanted: Set(nodes), listing: nodes.isEmpty))
        } catch is ForwardComplete {}
        return multiplyAddCounter ?? 0
    }

    /// The input side used when none is given: the architecture's, or the ONNX file's (224 when it declares none).
    public var defaultInputSize: Int { architecture?.inputSize ?? declaredInputSize ?? 224 }

    /// Every node in forward order, with its output shape for one image at `size` x `size` and its aliases.
    public func layers(size: Int? = nil) throws -> [(name: String, shape: [Int], aliases: [String])] {
        let s = size ?? defaultInputSize
        let taps = Taps(wanted: [], listing: true)
        try network.forward(Tensor(zeros: [1, 3, s, s]), taps)
        return taps.shapes.map { node in
            (node.name, node.shape, aliases.filter { $0.value == node.name }.map(\.key).sorted())
        }
    }
}

/// A tap name as stored in a codes file, where '/' and ',' cannot appear: ONNX exporters name
/// tensors like `/features/features.0/Conv_output_0`; the alias is `features.features.0.Conv_output_0`.
public func onnxAlias(_ name: String) -> String {
    var s = name
    while s.hasPrefix("/") { s.removeFirst() }
    return String(s.map { $0 == "/" || $0 == "," ? "." : $0 })
}

/// Aliases for the names that need one, unless the alias is itself a name or stands for two names.
func onnxAliases(_ names: [String]) -> [String: String] {
    let all = Set(names)
    var byAlias: [String: [String]] = [:]
    for n in names where onnxAlias(n) != n { byAlias[onnxAlias(n), default: []].append(n) }
    var result: [String: String] = [:]
    for (alias, targets) in byAlias where targets.count == 1 && !all.contains(alias) { result[alias] = targets[0] }
    return result
}
