// `pipeline extract`: images in, ReLU'd CNN codes out, in HDF5.
import ArgumentParser
import Extract
import Foundation
import H5

struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extract CNN codes from a frozen network's layers for a folder of images, into HDF5.",
        discussion: """
            Reads torchvision's ImageFolder layout (DIR/<class>/<image>) with --data, or an unlabelled list of \
            image paths (one per line) with --list. Images are preprocessed as torchvision's evaluation transform \
            (Resize, CenterCrop, ToTensor, Normalize) with Pillow-identical decoding and resizing.
            A killed run, re-run with the same command, resumes where it stopped.
            Example: pipeline extract --model alexnet --weights alexnet-owt-7be5be79.pth --layer fc7 \
            --data hymenoptera_data/train --out train.h5
            With --onnx FILE the network is an ONNX graph, its layers are its tensor names (`pipeline layers --onnx FILE`), \
            and preprocessing defaults to the graph's input size and ImageNet's mean and std.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var preprocessing: PreprocessingOptions
    @OptionGroup var codes: CodeOptions

    @Option(help: ArgumentHelp("Image folder in ImageFolder layout: DIR/<class>/<image>.", valueName: "dir"))
    var data: String?

    @Option(help: ArgumentHelp("Text file of image paths, one per line (unlabelled).", valueName: "file"))
    var list: String?

    @Option(help: ArgumentHelp("Output HDF5 file.", valueName: "path"))
    var out: String

    @Option(help: "Images per forward pass.")
    var batch: Int = 16

    @Flag(help: "Stop at the first unreadable image instead of skipping it with a warning.")
    var strict = false

    @Flag(help: "Replace an existing output made with other settings instead of refusing.")
    var overwrite = false

    @Flag(help: "No progress output.")
    var quiet = false

    func validate() throws {
        guard (data == nil) != (list == nil) else { throw ValidationError("give exactly one of --data DIR or --list FILE") }
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
    }

    func run() throws {
        // The network first: a bad model file (an ONNX operator the runner lacks) fails before any image is read.
        let job = try ExtractionSetup(model: model, preprocessing: preprocessing, codes: codes, quiet: quiet)
        let images = try data.map { try ImageList.imageFolder($0) } ?? ImageList.pathList(list ?? "")
        try job.extract(images, to: out, batch: batch, strict: strict, overwrite: overwrite, source: data ?? list ?? "")
    }
}

/// How codes are made from a layer's output: shared by extract, run and predict.
struct CodeOptions: ParsableArguments {
    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp(
        "Layer to take codes from: a node name (features.10, layer4, classifier.5) or an alias (fc7, pool5, conv5); repeat or separate with commas for several layers from one forward pass (default: the model's code layer, fc7 or avgpool). `pipeline layers` lists them.",
        valueName: "name"))
    var layer: [String] = []

    @Option(help: "Pooling of convolutional layers: avg, max, or grid:K (K x K cells, concatenated).")
    var pool: String = "avg"

    @Flag(name: .customLong("no-relu"), help: "Keep negative values (codes are thresholded at zero by default).")
    var noReLU = false

    @Flag(name: .customLong("l2-normalize"), help: "Scale each code to unit length.")
    var l2Normalize = false

    @Option(help: "Test-time augmentation, codes averaged over views: none, flip, ten-crop.")
    var tta: String = "none"

    @Option(help: ArgumentHelp("Composite transparent images on this colour (R,G,B in 0..255) instead of dropping alpha as PIL's convert(\"RGB\") does.", valueName: "r,g,b"))
    var background: String?

    func settings(for arch: Architecture) throws -> CodeSettings {
        try settings(defaultLayer: arch.defaultLayer)
    }

    func settings(defaultLayer: String) throws -> CodeSettings {
        guard let pooling = Pooling(pool) else { throw ValidationError("--pool takes avg, max or grid:K; got `\(pool)`") }
        guard let augmentation = Augmentation(rawValue: tta) else {
            throw ValidationError("--tta takes none, flip or ten-crop; got `\(tta)`")
        }
        let layers = layer.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        return CodeSettings(layers: layers.isEmpty ? [defaultLayer] : layers, pooling: pooling, relu: !noReLU,
                            l2Normalize: l2Normalize, augmentation: augmentation)
    }

    func backgroundColour() throws -> (UInt8, UInt8, UInt8)? {
        guard let background else { return nil }
        let v = background.split(separator: ",").compactMap { UInt8($0.trimmingCharacters(in: .whitespaces)) }
        guard v.count == 3 else { throw ValidationError("--background takes R,G,B in 0..255; got `\(background)`") }
        return (v[0], v[1], v[2])
    }
}

/// A loaded model with its code settings: everything needed to turn images into codes and say how.
struct ExtractionSetup {
    let extractor: CodeExtractor
    let weightsPath: String
    let weightsSHA256: String
    let background: (UInt8, UInt8, UInt8)?
    let quiet: Bool

    init(model: ModelOptions, preprocessing: PreprocessingOptions, codes: CodeOptions, quiet: Bool) throws {
        var settings = try codes.settings(for: model.architecture)
        if model.onnx != nil && codes.layer.isEmpty { settings.layers = [] }
        // The file's sha256, for the codes file, on another core while the model loads (AlexNet's
        // 233 MB: 0.1 s).
        let path = try model.weightsPath()
        let digest = OnThread { try sha256Hex(of: URL(fileURLWithPath: path)) }
        let net = try model.load(layers: settings.layers).model
        // An ONNX graph's default layer is its first output, which is never folded away.
        if settings.layers.isEmpty { settings.layers = [net.defaultLayer] }
        // A tensor name with '/' or ',' cannot name a dataset in the codes file: its alias stands for it.
        settings.layers = try settings.layers.map { layer in
            guard net.onnxPath != nil, layer.contains("/") || layer.contains(",") else { return layer }
            let alias = onnxAlias(layer)
            guard (try? net.resolve(alias)) == layer else {
                throw ValidationError("layer `\(layer)` holds '/' or ',', which a codes file cannot store, and has no unique alias; `\(net.onnxPath.map { "pipeline layers --onnx \($0)" } ?? "")` lists them")
            }
            return alias
        }
        extractor = try CodeExtractor(model: net, settings: settings, preprocessing: try preprocessing.preprocessing(for: net))
        weightsPath = path
        weightsSHA256 = try digest.value()
        background = try codes.backgroundColour()
        self.quiet = quiet
    }

    /// What the codes file records about how its codes were made; a classifier checks it at prediction time.
    var metadata: CodesMetadata {
        let s = extractor.settings
        var extra = ["relu": "\(s.relu)", "l2_normalize": "\(s.l2Normalize)", "tta": s.augmentation.rawValue]
        if extractor.model.onnxPath != nil { extra["model_format"] = "onnx" }
        if let b = background { extra["background"] = "\(b.0),\(b.1),\(b.2)" }
        return CodesMetadata(model: extractor.model.name, weightsFile: (weightsPath as NSString).lastPathComponent,
                             weightsSHA256: weightsSHA256, layers: s.layers, pooling: s.pooling.description,
                             preprocessing: extractor.preprocessing.description, toolVersion: Pipeline.configuration.version,
                             extra: extra)
    }

    func extract(_ images: ImageList, to out: String, batch: Int, strict: Bool, overwrite: Bool, source: String) throws {
        var meta = metadata
        meta.extra["source"] = source
        let writer = try CodesWriter(path: out, metadata: meta, layerDimensions: extractor.dimensions.map { ($0.layer, $0.length) },
                                     classes: images.classes, overwrite: overwrite)
        if let w = writer.warning { warn(w) }
        if writer.alreadyComplete {
            if !quiet { FileHandle.standardError.write(Data("\(out) is already complete with these settings; nothing to do\n".utf8)) }
            return
        }
        let display = ProgressDisplay("extract", quiet: quiet)
        if writer.rowsDone > 0 { display.message("resuming \(out): \(writer.rowsDone) images already done") }
        let run = Extraction(extractor: extractor, list: images)
        run.batchSize = batch
        run.strict = strict
        run.background = background
        run.onProgress = { display.update(done: $0.done, total: $0.total, resumed: $0.resumed) }
        run.onSkip = { warn("skipped \($0)") }
        try run.run(into: writer)
        let dims = extractor.dimensions.map { "\($0.layer) [\($0.length)]" }.joined(separator: ", ")
        if !quiet { FileHandle.standardError.write(Data("wrote \(out): \(images.count) images, codes \(dims)\n".utf8)) }
    }
}

/// `work` run on a thread of its own from the start; value() waits for its result.
final class OnThread<T>: @unchecked Sendable {
    private var result: Result<T, Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ work: @escaping () throws -> T) {
        nonisolated(unsafe) let work = work
        Thread { [self] in
            result = Result(catching: work)
            done.signal()
        }.start()
    }

    func value() throws -> T {
        done.wait()
        done.signal()
        return try result!.get()
    }
}
