// The sidecar every saved classifier carries: what it is, its class names, how codes are normalised,
// and where the codes came from (opaque here: Extract and the command line fill it).
import Foundation

public struct ClassifierInfo: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case svm, softmax }

    public var formatVersion: Int = 1
    public var kind: Kind
    /// Class names; liblinear's integer label `i` (and softmax row `i`) is `classes[i]`.
    public var classes: [String]
    public var dimension: Int
    public var normalization: Normalization
    /// liblinear's solver name, or "lbfgs" for softmax.
    public var solver: String
    public var C: Double
    /// liblinear's bias term (< 0: none); softmax always has an unpenalised intercept.
    public var bias: Double
    /// Where the codes came from: model, layer, weights sha256, preprocessing... set by the caller.
    public var provenance: [String: String]

    public init(kind: Kind, classes: [String], dimension: Int, normalization: Normalization, solver: String,
                C: Double, bias: Double, provenance: [String: String] = [:]) {
        self.kind = kind; self.classes = classes; self.dimension = dimension; self.normalization = normalization
        self.solver = solver; self.C = C; self.bias = bias; self.provenance = provenance
    }

    /// Throws naming every field of `provenance` (that of the codes about to be classified) that differs
    /// from what this classifier was trained on, including fields present on one side only.
    public func check(provenance other: [String: String]) throws {
        let keys = Set(provenance.keys).union(other.keys).sorted()
        let lines = keys.compactMap { k -> String? in
            let trained = provenance[k], given = other[k]
            guard trained != given else { return nil }
            return "\(k): classifier trained on `\(trained ?? "(absent)")`, codes have `\(given ?? "(absent)")`"
        }
        if !lines.isEmpty { throw ClassifyError.provenanceMismatch(lines) }
    }

    /// The sidecar path for a model file: `model.svm` -> `model.svm.json`.
    public static func sidecarPath(for modelPath: String) -> String { modelPath + ".json" }

    func write(path: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { try e.encode(self).write(to: URL(fileURLWithPath: path)) } catch {
            throw ClassifyError.file(path: path, reason: "cannot write: \(error)")
        }
    }

    static func read(path: String) throws -> ClassifierInfo {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ClassifyError.file(path: path, reason: "missing; a classifier is saved as a model file and this .json beside it")
        }
        do { return try JSONDecoder().decode(ClassifierInfo.self, from: data) } catch {
            throw ClassifyError.file(path: path, reason: "not a classifier description: \(error)")
        }
    }
}
