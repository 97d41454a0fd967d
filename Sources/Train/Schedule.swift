// Learning rates per parameter group and per epoch: torch.optim.lr_scheduler.StepLR and
// CosineAnnealingLR in their closed forms (the formulas of torch's documentation), stepped once
// per epoch, over groups made of a base rate, a multiplier for the new head, and per-stage multipliers.
import Foundation

/// How the learning rate changes from epoch to epoch (epochs counted from 0).
public enum Schedule: Equatable, Sendable, CustomStringConvertible {
    /// The base rate throughout.
    case constant
    /// StepLR(step_size, gamma): `lr * gamma ^ floor(epoch / stepSize)`.
    case step(stepSize: Int, gamma: Double)
    /// CosineAnnealingLR(T_max, eta_min): `etaMin + (lr - etaMin) * (1 + cos(pi * epoch / tMax)) / 2`.
    case cosine(tMax: Int, etaMin: Double)

    /// The rate of a group whose initial rate is `base`, during `epoch`.
    public func rate(base: Double, epoch: Int) -> Double {
        switch self {
        case .constant:
            return base
        case let .step(stepSize, gamma):
            return base * pow(gamma, Double(epoch / stepSize))
        case let .cosine(tMax, etaMin):
            return etaMin + (base - etaMin) * (1 + cos(Double.pi * Double(epoch) / Double(tMax))) / 2
        }
    }

    public var description: String {
        switch self {
        case .constant: return "constant"
        case let .step(s, g): return "step(step_size=\(s),gamma=\(g))"
        case let .cosine(t, e): return "cosine(T_max=\(t),eta_min=\(e))"
        }
    }
}

/// Initial learning rates by parameter group: `base` for pretrained layers, `base * head` for the
/// new classifier head, `base * stages[stage]` for the stages given their own multiplier.
public struct LearningRates: Equatable, Sendable, CustomStringConvertible {
    public var base: Double
    public var headMultiplier: Double
    public var stageMultipliers: [String: Double]

    public init(base: Double, headMultiplier: Double = 1, stageMultipliers: [String: Double] = [:]) {
        self.base = base
        self.headMultiplier = headMultiplier
        self.stageMultipliers = stageMultipliers
    }

    /// The group's initial rate: the head's multiplier wins over a stage multiplier for head parameters.
    public func initial(stage: String, isHead: Bool) -> Double {
        if isHead { return base * headMultiplier }
        return base * (stageMultipliers[stage] ?? 1)
    }

    public var description: String {
        let stages = stageMultipliers.keys.sorted().map { "\($0)=\(stageMultipliers[$0] ?? 1)" }
        return "lr=\(base) head_lr_mult=\(headMultiplier)" + (stages.isEmpty ? "" : " stage_lr=" + stages.joined(separator: ","))
    }
}
