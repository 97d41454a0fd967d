// Options shared by several subcommands.
import ArgumentParser
import Extract
import Foundation


/// Which network, with which weights.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Network architecture.")
    var model: Architecture = .efficientnet_lite0

    @Option(name: .long, help: ArgumentHelp(
        "Checkpoint (.pth from torchvision or torch.save, or .safetensors). Default: the model's file in the weights cache (see `pipeline fetch weights`).",
        valueName: "path"))
    var weights: String?

    /// The checkpoint path: as given, or the cached file for the architecture.
    func weightsPath() throws -> String {
        if let weights { return weights }
        let file = model.torchvisionFile ?? "efficientnet-lite0-57934424.pth"
        let cached = Cache.weights.appendingPathComponent(file).path
        guard FileManager.default.fileExists(atPath: cached) else {
            throw ValidationError("no --weights given and \(cached) does not exist; run `pipeline fetch weights \(model.rawValue)` or pass --weights PATH")
        }
        return cached
    }

    /// The network, built for `layers` (a convolution among them keeps its BatchNorm apart).
    func load(layers: [String]) throws -> (model: Model, weightsPath: String) {
        let path = try weightsPath()
        let dict = try StateDict.load(path: path)
        return (try Model(model, weights: dict, layers: layers), path)
    }
}

/// Overrides of the architecture's evaluation transform.
struct PreprocessingOptions: ParsableArguments {
    @Option(help: "Shorter side after resizing (default: the architecture's: 256; 342 for inception_v3).")
    var resize: Int?
    @Option(help: "Side of the centre crop fed to the network (default: the architecture's: 224; 299 for inception_v3).")
    var crop: Int?
    @Option(help: ArgumentHelp("Per-channel mean, 0..1 units, as R,G,B (default: the architecture's).", valueName: "r,g,b"))
    var mean: String?
    @Option(help: ArgumentHelp("Per-channel standard deviation, 0..1 units, as R,G,B (default: the architecture's).", valueName: "r,g,b"))
    var std: String?

    func preprocessing(for arch: Architecture) throws -> Preprocessing {
        func triple(_ text: String?, _ fallback: [Float], _ name: String) throws -> [Float] {
            guard let text else { return fallback }
            let v = text.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard v.count == 3 else { throw ValidationError("--\(name) takes three numbers R,G,B; got `\(text)`") }
            return v
        }
        let p = Preprocessing(resize: resize ?? arch.resizeSize, crop: crop ?? arch.inputSize,
                              mean: try triple(mean, arch.mean, "mean"), std: try triple(std, arch.std, "std"))
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
