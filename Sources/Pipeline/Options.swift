// Options shared by several subcommands.
import ArgumentParser
import Extract
import Foundation


/// Which network, with which weights: a built-in architecture and its checkpoint, or an ONNX file.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Network architecture (default: efficientnet_lite0).")
    var model: Architecture?

    @Option(name: .long, help: ArgumentHelp(
        "Checkpoint (.pth from torchvision or torch.save, or .safetensors). Default: the model's file in the weights cache (see `pipeline fetch weights`).",
        valueName: "path"))
    var weights: String?

    @Option(name: .long, help: ArgumentHelp(
        "An ONNX file (graph and weights) instead of --model/--weights: every tensor name in the graph is a layer; `pipeline layers --onnx FILE` lists them.",
        valueName: "path"))
    var onnx: String?

    func validate() throws {
        if onnx != nil && (model != nil || weights != nil) {
            throw ValidationError("--onnx names the network and its weights; give it without --model or --weights")
        }
    }

    var architecture: Architecture { model ?? .efficientnet_lite0 }

    /// The checkpoint path: as given, or the cached file for the architecture.
    func weightsPath() throws -> String {
        if let onnx { return onnx }
        if let weights { return weights }
        let file = architecture.torchvisionFile ?? "efficientnet-lite0-57934424.pth"
        let cached = Cache.weights.appendingPathComponent(file).path
        guard FileManager.default.fileExists(atPath: cached) else {
            throw ValidationError("no --weights given and \(cached) does not exist; run `pipeline fetch weights \(architecture.rawValue)` or pass --weights PATH")
        }
        return cached
    }

    /// The network, built for `layers` (a convolution among them keeps its BatchNorm apart).
    /// An ONNX file is read and checked in full here, before any image.
    func load(layers: [String]) throws -> (model: Model, weightsPath: String) {
        Parallelism.prepare()   // before the loading, which OpenBLAS's idle threads would slow
        if let onnx { return (try Model(onnx: onnx, layers: layers), onnx) }
        let path = try weightsPath()
        let dict = try StateDict.load(path: path)
        return (try Model(architecture, weights: dict, layers: layers), path)
    }
}

/// Overrides of the architecture's evaluation transform.
struct PreprocessingOptions: ParsableArguments {
    @Option(help: "Shorter side after resizing (default: the architecture's: 256; 342 for inception_v3; for --onnx, crop * 256 / 224).")
    var resize: Int?
    @Option(help: "Side of the centre crop fed to the network (default: the architecture's: 224; 299 for inception_v3; for --onnx, the graph's input side, else 224).")
    var crop: Int?
    @Option(help: ArgumentHelp("Per-channel mean, 0..1 units, as R,G,B (default: the architecture's; for --onnx, ImageNet's).", valueName: "r,g,b"))
    var mean: String?
    @Option(help: ArgumentHelp("Per-channel standard deviation, 0..1 units, as R,G,B (default: the architecture's; for --onnx, ImageNet's).", valueName: "r,g,b"))
    var std: String?

    func preprocessing(for arch: Architecture) throws -> Preprocessing {
        try preprocessing(resize: arch.resizeSize, crop: arch.inputSize, mean: arch.mean, std: arch.std)
    }

    /// For an ONNX model: the crop is the graph's declared input side (224 when it declares none), the
    /// resize keeps torchvision's 256/224 ratio, and the normalisation is ImageNet's mean and std.
    func preprocessing(for model: Model) throws -> Preprocessing {
        if let arch = model.architecture { return try preprocessing(for: arch) }
        let side = crop ?? model.defaultInputSize
        if let declared = model.declaredInputSize, declared != side {
            throw ValidationError("\(model.name) declares a \(declared)x\(declared) input; --crop \(side) does not fit it")
        }
        return try preprocessing(resize: Int((Double(side) * 256 / 224).rounded()), crop: side,
                                 mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    }

    private func preprocessing(resize defaultResize: Int, crop defaultCrop: Int, mean defaultMean: [Float], std defaultStd: [Float]) throws -> Preprocessing {
        func triple(_ text: String?, _ fallback: [Float], _ name: String) throws -> [Float] {
            guard let text else { return fallback }
            let v = text.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard v.count == 3 else { throw ValidationError("--\(name) takes three numbers R,G,B; got `\(text)`") }
            return v
        }
        let p = Preprocessing(resize: resize ?? defaultResize, crop: crop ?? defaultCrop,
                              mean: try triple(mean, defaultMean, "mean"), std: try triple(std, defaultStd, "std"))
        guard p.crop > 0, p.resize >= 1 else { throw ValidationError("--resize and --crop must be positive") }
        return p
    }
}

/// Where fetched weights and data sets are kept: $PIPELINE_CACHE, else $XDG_CACHE_HOME/pipeline, else ~/.cache/pipeline.
enum Cache {
    static var root: URL {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["PIPELINE_CACHE"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { return URL(fileURLWithPath: xdg).appendingPathComponent("pipeline") }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/pipeline")
    }
    static var weights: URL { root.appendingPathComponent("weights") }
    static var data: URL { root.appendingPathComponent("data") }
}
