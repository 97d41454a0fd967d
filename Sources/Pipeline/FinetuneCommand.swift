// `pipeline finetune`: backpropagation through the later layers of a pretrained network with a new
// classifier head, on CPU; the best validation weights in safetensors with torchvision's keys.
import ArgumentParser
import Extract
import Foundation
import Train

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune a pretrained network on an image folder: a new classifier head, the later layers trained by SGD.",
        discussion: """
            Fine-tuning runs alexnet, vgg*, resnet* and efficientnet_lite0 (not the other families, nor --onnx files). \
            The head (fc, _fc, classifier.6) is replaced by one with an output per class of --data (torch's default \
            initialisation, seeded). Layers up to and including --freeze-until stay fixed: they run forward only and \
            their BatchNorm stays in evaluation mode, its running statistics untouched. Trained layers' BatchNorm \
            uses batch statistics and updates its running statistics (momentum 0.1; EfficientNet-Lite 0.01), as torch's train() mode does.
            Training images get torchvision's RandomResizedCrop(--size, --scale) and a horizontal flip with p = --hflip, \
            drawn from a generator seeded by --seed (not torch's generator: same seed, same crops, but not torch's \
            crops); validation images the evaluation transform (Resize, CenterCrop). SGD with momentum and weight \
            decay (torch.optim.SGD); the learning rate follows --schedule, stepped once per epoch.
            After every epoch a checkpoint (weights, momentum buffers, epochs done, settings) is written atomically \
            to --checkpoint-dir; re-running the same command resumes from it. The best validation accuracy's \
            weights are written to --out (safetensors, torchvision's key names, class names in its metadata) with \
            a JSON sidecar (--out with .json) of classes and per-epoch figures. extract and predict take --out \
            as --weights.
            Example: pipeline finetune --model resnet18 --weights resnet18-f37072fd.pth --data DIR/train \
            --val DIR/val --freeze-until layer3 --epochs 25 --out tuned.safetensors
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: ArgumentHelp("Training images in ImageFolder layout: DIR/<class>/<image>.", valueName: "dir"))
    var data: String

    @Option(help: ArgumentHelp("Validation images in ImageFolder layout, with the same classes.", valueName: "dir"))
    var val: String

    @Option(help: ArgumentHelp("Best-validation weights to write (safetensors); the sidecar JSON goes beside it.", valueName: "path"))
    var out: String

    @Option(help: "Passes over the training images.")
    var epochs: Int = 25

    @Option(name: .customLong("freeze-until"), help: ArgumentHelp(
        "Keep the layers up to and including this one fixed (a tap such as layer2, _blocks.10, features.7, or an alias such as stage5). Default: train every layer.",
        valueName: "layer"))
    var freezeUntil: String?

    @Option(help: "Base learning rate, for the pretrained layers.")
    var lr: Double = 0.001

    @Option(name: .customLong("head-lr-mult"), help: "The new head's learning rate as a multiple of --lr.")
    var headLRMult: Double = 10

    @Option(name: .customLong("stage-lr"), help: ArgumentHelp(
        "A stage's learning rate as a multiple of --lr, e.g. layer4=2 or _blocks.15=5 (repeatable; stages as torchvision's module names: conv1, layer1..layer4, _conv_stem, _blocks.N, _conv_head, features, classifier).",
        valueName: "stage=mult"))
    var stageLR: [String] = []

    @Option(help: "SGD momentum.")
    var momentum: Double = 0.9

    @Option(name: .customLong("weight-decay"), help: "SGD weight decay (L2), applied to every trained parameter as torch.optim.SGD does.")
    var weightDecay: Double = 1e-4

    @Option(help: "Learning-rate schedule per epoch: cosine (CosineAnnealingLR, T_max = --epochs), step (StepLR), or constant.")
    var schedule: String = "cosine"

    @Option(name: .customLong("step-size"), help: "StepLR: epochs between decays.")
    var stepSize: Int = 7

    @Option(help: "StepLR: the factor of each decay.")
    var gamma: Double = 0.1

    @Option(name: .customLong("eta-min"), help: "CosineAnnealingLR: eta_min, the rate it anneals to at T_max.")
    var etaMin: Double = 0

    @Option(name: .customLong("batch-size"), help: "Images per SGD step.")
    var batchSize: Int = 32

    @Option(help: "Seed of the head's initialisation, the shuffles, crops and flips.")
    var seed: UInt64 = 0

    @Option(help: "Side of the training crops (RandomResizedCrop); validation uses Resize(size * 256 / 224), CenterCrop(size). (default: the architecture's, 224)")
    var size: Int?

    @Option(help: ArgumentHelp("RandomResizedCrop's range of crop areas, as fractions of the image.", valueName: "min,max"))
    var scale: String = "0.08,1.0"

    @Option(help: "RandomHorizontalFlip's probability; 0 for images whose mirror image means something else (digits, text).")
    var hflip: Double = 0.5

    @Option(name: .customLong("checkpoint-dir"), help: ArgumentHelp("Where the resumable checkpoint goes. (default: beside --out)", valueName: "dir"))
    var checkpointDir: String?

    @Flag(help: "Start afresh, replacing a checkpoint made with other settings instead of refusing.")
    var overwrite = false

    @Flag(help: "No progress output (the per-epoch lines included).")
    var quiet = false

    func validate() throws {
        if model.onnx != nil {
            throw ValidationError("fine-tuning runs the built-in architectures (--model); an ONNX file can only be used to extract codes")
        }
        guard epochs > 0 else { throw ValidationError("--epochs must be positive") }
        guard batchSize > 1 else { throw ValidationError("--batch-size must be at least 2: BatchNorm in training mode needs more than one image") }
        guard lr > 0, headLRMult > 0 else { throw ValidationError("--lr and --head-lr-mult must be positive") }
        guard momentum >= 0, weightDecay >= 0 else { throw ValidationError("--momentum and --weight-decay must not be negative") }
        guard (size ?? 224) >= 16 else { throw ValidationError("--size must be at least 16") }
        _ = try parsedSchedule()
        _ = try stageMultipliers()
        _ = try scaleRange()
        guard (0...1).contains(hflip) else { throw ValidationError("--hflip takes a probability in 0...1; got \(hflip)") }
    }

    func parsedSchedule() throws -> Schedule {
        switch schedule {
        case "cosine": return .cosine(tMax: epochs, etaMin: etaMin)
        case "step":
            guard stepSize > 0, gamma > 0 else { throw ValidationError("--step-size and --gamma must be positive") }
            return .step(stepSize: stepSize, gamma: gamma)
        case "constant": return .constant
        default: throw ValidationError("--schedule takes cosine, step or constant; got `\(schedule)`")
        }
    }

    func stageMultipliers() throws -> [String: Double] {
        var out: [String: Double] = [:]
        for item in stageLR {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let m = Double(parts[1]), m > 0 else {
                throw ValidationError("--stage-lr takes STAGE=MULT with a positive multiplier, e.g. layer4=2; got `\(item)`")
            }
            out[parts[0]] = m
        }
        return out
    }

    func scaleRange() throws -> (Double, Double) {
        let v = scale.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard v.count == 2, v[0] > 0, v[0] <= v[1], v[1] <= 1 else {
            throw ValidationError("--scale takes MIN,MAX with 0 < MIN <= MAX <= 1; got `\(scale)`")
        }
        return (v[0], v[1])
    }

    /// The sidecar JSON: --out with its extension replaced by .json.
    var sidecarPath: String {
        let url = URL(fileURLWithPath: out)
        return url.pathExtension.isEmpty ? out + ".json" : url.deletingPathExtension().appendingPathExtension("json").path
    }

    var checkpointPath: String {
        let name = URL(fileURLWithPath: out).deletingPathExtension().lastPathComponent + ".checkpoint.safetensors"
        let dir = checkpointDir ?? URL(fileURLWithPath: out).deletingLastPathComponent().path
        return URL(fileURLWithPath: dir).appendingPathComponent(name).path
    }

    func run() throws {
        let arch = model.architecture
        let trainList = try ImageList.imageFolder(data)
        let valList = try ImageList.imageFolder(val)
        guard valList.classes == trainList.classes else {
            throw Failure("\(val) has classes \(valList.classes.joined(separator: ", ")), but \(data) has "
                + "\(trainList.classes.joined(separator: ", ")); both need the same class folders")
        }
        let side = size ?? arch.inputSize
        let weightsPath = try model.weightsPath()
        let weightsSHA256 = try sha256Hex(of: URL(fileURLWithPath: weightsPath))
        let schedule = try parsedSchedule()
        let rates = LearningRates(base: lr, headMultiplier: headLRMult, stageMultipliers: try stageMultipliers())
        let transform = TrainingTransform(size: side, mean: arch.mean, std: arch.std, flipProbability: hflip)
        var augmentation = transform
        augmentation.crop.scale = try scaleRange()
        let evaluation = Preprocessing(resize: side * arch.resizeSize / arch.inputSize, crop: side, mean: arch.mean, std: arch.std)

        let settings: [String: String] = [
            "architecture": arch.rawValue, "base_weights_sha256": weightsSHA256, "classes": try jsonText(trainList.classes),
            "train_images": "\(trainList.count)", "val_images": "\(valList.count)",
            "freeze_until": freezeUntil ?? "", "learning_rates": rates.description, "schedule": schedule.description,
            "momentum": "\(momentum)", "weight_decay": "\(weightDecay)", "epochs": "\(epochs)", "batch_size": "\(batchSize)",
            "seed": "\(seed)", "augmentation": augmentation.description, "validation": evaluation.description,
        ]

        // Resume from the checkpoint when it was made with these settings.
        let checkpointFile = checkpointPath
        var resumed: TrainingCheckpoint?
        if FileManager.default.fileExists(atPath: checkpointFile) {
            if overwrite {
                try FileManager.default.removeItem(atPath: checkpointFile)
            } else {
                let checkpoint = try TrainingCheckpoint.load(checkpointFile)
                let differing = Set(settings.keys).union(checkpoint.settings.keys).sorted()
                    .filter { settings[$0] != checkpoint.settings[$0] }
                guard differing.isEmpty else {
                    let shown = differing.prefix(4).map { "\($0): \(checkpoint.settings[$0] ?? "none") there, \(settings[$0] ?? "none") now" }
                    throw Failure("\(checkpointFile) was made with other settings (\(shown.joined(separator: "; "))); "
                        + "run the same command to resume it, choose another --out or --checkpoint-dir, or pass --overwrite to start afresh")
                }
                resumed = checkpoint
            }
        }
        if let done = resumed?.epochsDone, done >= epochs {
            if !quiet { FileHandle.standardError.write(Data("\(out): all \(epochs) epochs are done (\(checkpointFile)); nothing to do\n".utf8)) }
            return
        }

        let weights = try resumed.map { StateDict($0.weights) } ?? StateDict.load(path: weightsPath)
        // A resumed checkpoint carries the head being trained; base weights get a new one.
        let network = try TrainableNetwork(arch, weights: weights, classes: trainList.classes.count, freezeUntil: freezeUntil,
                                           seed: seed, keepHead: resumed != nil)
        let stages = Set(network.parameters.map(\.stage))
        for stage in rates.stageMultipliers.keys where !stages.contains(stage) {
            throw Failure("--stage-lr names `\(stage)`, which has no trained parameters; the trained stages are "
                + stages.sorted().joined(separator: ", "))
        }
        let optimizer = SGD(momentum: Float(momentum), weightDecay: Float(weightDecay))
        if let resumed {
            // A checkpoint is input: its momentum buffers must match the network's parameters.
            let shapes = Dictionary(uniqueKeysWithValues: network.parameters.map { ($0.name, $0.value.shape) })
            for (name, buffer) in resumed.momentum where shapes[name] != buffer.shape {
                throw Failure("\(checkpointFile): the momentum buffer of `\(name)` has shape \(buffer.shape), but the "
                    + (shapes[name].map { "parameter has \($0)" } ?? "network has no trained parameter of that name")
                    + "; pass --overwrite to start afresh")
            }
            optimizer.state = resumed.momentum
        }
        let run = FineTuning(
            network: network,
            train: try DataLoader(list: trainList, mode: .training(augmentation, seed: seed), batchSize: batchSize),
            validation: try DataLoader(list: valList, mode: .evaluation(evaluation), batchSize: batchSize),
            rates: rates, schedule: schedule, optimizer: optimizer)

        var history = resumed?.history ?? []
        var best = history.map(\.valAccuracy).max() ?? -1
        let start = resumed?.epochsDone ?? 0
        let display = { (label: String) in ProgressDisplay(label, quiet: quiet) }
        if !quiet {
            let trained = network.parameters.reduce(0) { $0 + $1.value.count }
            let frozen = network.frozenUntil.map { "frozen up to \($0)" } ?? "nothing frozen"
            message(start > 0 ? "resuming \(checkpointFile) after epoch \(start) of \(epochs)"
                : "fine-tuning \(arch.rawValue) on \(trainList.count) images of \(trainList.classes.count) classes, "
                    + "\(frozen), \(trained) trained parameters")
        }
        for epoch in start..<epochs {
            let trainBar = display("epoch \(epoch + 1)/\(epochs) train")
            let t = try run.trainEpoch(epoch) { trainBar.update(done: $0, total: $1) }
            let valStart = Date()
            let valBar = display("epoch \(epoch + 1)/\(epochs) val")
            let v = try run.evaluate { valBar.update(done: $0, total: $1) }
            let result = EpochResult(
                epoch: epoch + 1, learningRate: schedule.rate(base: lr, epoch: epoch), trainLoss: t.loss, trainAccuracy: t.accuracy,
                valLoss: v.loss, valAccuracy: v.accuracy, seconds: t.seconds, imagesPerSecond: Double(t.images) / max(t.seconds, 1e-9),
                validationSeconds: Date().timeIntervalSince(valStart))
            history.append(result)
            let improved = result.valAccuracy > best
            if improved {
                best = result.valAccuracy
                try writeOutput(network, classes: trainList.classes, weightsPath: weightsPath, sha256: weightsSHA256,
                                settings: settings, best: result, history: history)
            }
            try TrainingCheckpoint(weights: network.namedState, momentum: optimizer.state, epochsDone: epoch + 1,
                                   settings: settings, history: history).save(checkpointFile)
            if !improved { try writeSidecar(classes: trainList.classes, settings: settings, best: bestEpoch(history), history: history) }
            if !quiet {
                message(String(format: "epoch %d/%d  lr %.3g  train loss %.4f acc %.2f%%  val loss %.4f acc %.2f%%  %.1fs  %.1f images/s%@",
                               epoch + 1, epochs, result.learningRate, t.loss, 100 * t.accuracy, v.loss, 100 * v.accuracy,
                               t.seconds + result.validationSeconds, result.imagesPerSecond, improved ? "  (best, saved)" : ""))
            }
        }
        if !quiet, let b = bestEpoch(history) {
            message(String(format: "wrote %@: epoch %d, validation accuracy %.2f%%", out, b.epoch, 100 * b.valAccuracy))
        }
    }

    private func bestEpoch(_ history: [EpochResult]) -> EpochResult? {
        var best: EpochResult?
        for h in history where h.valAccuracy > (best?.valAccuracy ?? -1) { best = h }
        return best
    }

    /// The tuned weights with torchvision's keys; `__metadata__` says what they are.
    private func writeOutput(_ network: TrainableNetwork, classes: [String], weightsPath: String, sha256: String,
                             settings: [String: String], best: EpochResult, history: [EpochResult]) throws {
        let metadata = [
            "format": "pipeline-finetuned/1", "architecture": model.architecture.rawValue, "classes": try jsonText(classes),
            "base_weights": (weightsPath as NSString).lastPathComponent, "base_weights_sha256": sha256,
            "epoch": "\(best.epoch)", "val_accuracy": "\(best.valAccuracy)", "settings": try jsonText(settings),
        ]
        try StateDict(network.namedState).save(safetensors: out, metadata: metadata)
        try writeSidecar(classes: classes, settings: settings, best: best, history: history)
    }

    private struct Sidecar: Encodable {
        let format = "pipeline-finetuned/1"
        let weights: String
        let architecture: String
        let classes: [String]
        let bestEpoch: Int?
        let valAccuracy: Double?
        let settings: [String: String]
        let history: [EpochResult]
    }

    private func writeSidecar(classes: [String], settings: [String: String], best: EpochResult?, history: [EpochResult]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let sidecar = Sidecar(weights: (out as NSString).lastPathComponent, architecture: model.architecture.rawValue, classes: classes,
                              bestEpoch: best?.epoch, valAccuracy: best?.valAccuracy, settings: settings, history: history)
        try encoder.encode(sidecar).write(to: URL(fileURLWithPath: sidecarPath), options: .atomic)
    }

    private func message(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
