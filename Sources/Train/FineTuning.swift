// One fine-tuning run's epochs: SGD over the trainable parameters with per-group learning rates
// on a schedule, training and validation passes, and the checkpoint a killed run resumes from.
import Extract
import Foundation

/// What one epoch measured.
public struct EpochResult: Codable, Equatable, Sendable {
    public var epoch: Int               // from 1, as printed
    public var learningRate: Double     // the base group's rate during the epoch
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var valLoss: Double
    public var valAccuracy: Double
    public var seconds: Double          // training pass only
    public var imagesPerSecond: Double  // training images per second
    public var validationSeconds: Double

    public init(epoch: Int, learningRate: Double, trainLoss: Double, trainAccuracy: Double, valLoss: Double, valAccuracy: Double,
                seconds: Double, imagesPerSecond: Double, validationSeconds: Double) {
        self.epoch = epoch
        self.learningRate = learningRate
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.valLoss = valLoss
        self.valAccuracy = valAccuracy
        self.seconds = seconds
        self.imagesPerSecond = imagesPerSecond
        self.validationSeconds = validationSeconds
    }
}

public final class FineTuning {
    public let network: TrainableNetwork
    public let train: DataLoader
    public let validation: DataLoader
    public let rates: LearningRates
    public let schedule: Schedule
    public let optimizer: SGD

    public init(network: TrainableNetwork, train: DataLoader, validation: DataLoader, rates: LearningRates,
                schedule: Schedule, optimizer: SGD) {
        self.network = network
        self.train = train
        self.validation = validation
        self.rates = rates
        self.schedule = schedule
        self.optimizer = optimizer
    }

    /// The parameter's learning rate during `epoch` (from 0).
    public func learningRate(_ p: Parameter, epoch: Int) -> Double {
        schedule.rate(base: rates.initial(stage: p.stage, isHead: p.isHead), epoch: epoch)
    }

    /// One pass over the shuffled, augmented training set (`epoch` from 0): forward in training
    /// mode, mean cross-entropy, backward, one SGD step per batch. Loss and accuracy are averaged
    /// over images, as torchvision's fine-tuning tutorial reports them (running_loss += loss * n).
    public func trainEpoch(_ epoch: Int, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in })
        throws -> (loss: Double, accuracy: Double, images: Int, seconds: Double) {
        let params = network.parameters
        var rate: [ObjectIdentifier: Float] = [:]
        for p in params { rate[ObjectIdentifier(p)] = Float(learningRate(p, epoch: epoch)) }
        let total = train.imagesPerEpoch(epoch: epoch)
        var lossSum = 0.0, correct = 0, seen = 0
        let start = Date()
        try train.forEachBatch(epoch: epoch) { batch in
            network.zeroGrad()
            let logits = try network.forward(batch.inputs, training: true)
            let (loss, grad, right) = crossEntropy(logits, labels: batch.labels)
            guard loss.isFinite else { throw FineTuningError.diverged(epoch: epoch + 1, loss: loss) }
            try network.backward(grad)
            optimizer.step(params) { rate[ObjectIdentifier($0)] ?? 0 }
            lossSum += loss * Double(batch.labels.count)
            correct += right
            seen += batch.labels.count
            progress(seen, total)
        }
        let seconds = Date().timeIntervalSince(start)
        return (lossSum / Double(max(seen, 1)), Double(correct) / Double(max(seen, 1)), seen, seconds)
    }

    /// Mean cross-entropy and accuracy over the validation set, evaluation transform, BatchNorm in evaluation mode.
    public func evaluate(progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> (loss: Double, accuracy: Double) {
        var lossSum = 0.0, correct = 0, seen = 0
        let total = validation.list.count
        try validation.forEachBatch(epoch: 0) { batch in
            let logits = try network.forward(batch.inputs, training: false)
            let (loss, _, right) = crossEntropy(logits, labels: batch.labels)
            lossSum += loss * Double(batch.labels.count)
            correct += right
            seen += batch.labels.count
            progress(seen, total)
        }
        return (lossSum / Double(max(seen, 1)), Double(correct) / Double(max(seen, 1)))
    }
}

public enum FineTuningError: Error, CustomStringConvertible {
    case diverged(epoch: Int, loss: Double)
    case notACheckpoint(String, reason: String)

    public var description: String {
        switch self {
        case let .diverged(epoch, loss):
            return "training diverged in epoch \(epoch) (loss \(loss)); lower --lr or --head-lr-mult"
        case let .notACheckpoint(path, reason):
            return "\(path) is not a fine-tuning checkpoint of this tool: \(reason); delete it or pass --overwrite"
        }
    }
}

/// The resumable state after an epoch: all weights (frozen ones included) and BatchNorm statistics,
/// SGD's momentum buffers, the epochs done, the best validation result so far, and the settings
/// that made it. The random state is (seed, epoch): every shuffle and crop is drawn from a
/// generator seeded by them, so nothing else needs saving. One safetensors file, written atomically.
public struct TrainingCheckpoint {
    public static let format = "pipeline-finetune-checkpoint/1"
    static let momentumPrefix = "optimizer.momentum_buffer."

    public var weights: [(String, Tensor)]
    public var momentum: [String: Tensor]
    public var epochsDone: Int
    public var settings: [String: String]
    public var history: [EpochResult]

    public init(weights: [(String, Tensor)], momentum: [String: Tensor], epochsDone: Int, settings: [String: String],
                history: [EpochResult]) {
        self.weights = weights
        self.momentum = momentum
        self.epochsDone = epochsDone
        self.settings = settings
        self.history = history
    }

    public func save(_ path: String) throws {
        var tensors = weights
        for (name, buffer) in momentum { tensors.append((Self.momentumPrefix + name, buffer)) }
        var metadata = ["format": Self.format, "epochs_done": "\(epochsDone)"]
        metadata["settings"] = try jsonText(settings)
        metadata["history"] = try jsonText(history)
        try StateDict(tensors).save(safetensors: path, metadata: metadata)
    }

    public static func load(_ path: String) throws -> TrainingCheckpoint {
        let metadata = try StateDict.safetensorsMetadata(path: path)
        guard metadata["format"] == format else {
            throw FineTuningError.notACheckpoint(path, reason: "its metadata format is \(metadata["format"] ?? "missing"), not \(format)")
        }
        guard let done = metadata["epochs_done"].flatMap(Int.init),
              let settings = try? JSONDecoder().decode([String: String].self, from: Data((metadata["settings"] ?? "").utf8)),
              let history = try? JSONDecoder().decode([EpochResult].self, from: Data((metadata["history"] ?? "").utf8)) else {
            throw FineTuningError.notACheckpoint(path, reason: "its metadata lacks epochs_done, settings or history")
        }
        let dict = try StateDict.load(path: path)
        var weights: [(String, Tensor)] = [], momentum: [String: Tensor] = [:]
        for key in dict.keys {
            guard let t = dict[key] else { continue }
            if key.hasPrefix(momentumPrefix) { momentum[String(key.dropFirst(momentumPrefix.count))] = t } else { weights.append((key, t)) }
        }
        return TrainingCheckpoint(weights: weights, momentum: momentum, epochsDone: done, settings: settings, history: history)
    }
}

/// Compact JSON with sorted keys: stable text for file metadata.
public func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
