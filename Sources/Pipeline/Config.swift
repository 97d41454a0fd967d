// The YAML config of `pipeline run`: data, models, layers, pooling, test-time augmentation and
// classifiers, whose cross product the runner executes. Every key is listed in `RunCommand`'s
// discussion and in configs/README.md; an unknown key is an error at its line and column.
import ArgumentParser
import Classify
import Extract
import Foundation
import Yams

struct RunConfig {
    struct DataSpec {
        var train: String
        /// Without a validation folder, classifiers are scored by stratified k-fold cross-validation on `train`.
        var val: String?
        var folds = 5
        /// At most this many images of each class, the first in ImageFolder order, from each folder.
        var perClass: Int?
    }

    struct ModelSpec {
        var architecture: Architecture
        var weights: String?
        var layers: [String]
        var resize: Int?, crop: Int?
        var mean: String?, std: String?
    }

    struct ClassifierSpec: Equatable {
        enum Kind: String { case svm, softmax }
        var kind: Kind
        var name: String
        /// One value: trained with it. Several: the best by cross-validation on the training codes.
        var C: [Double] = [1]
        var solver: Classify.Linear.Solver = .l2r_l2loss_svc_dual
        var bias: Double = 1
        /// liblinear's stopping tolerance (-e); nil: its default for the solver.
        var eps: Double?
        var classWeight = "none"
        var normalization: Normalization.Kind = .none
        var maxIterations = 1000

        /// Everything that changes the classifier's result, for resuming a batch.
        var key: String {
            "\(kind.rawValue) C=\(C) solver=\(solver.rawValue) bias=\(bias) eps=\(eps.map { "\($0)" } ?? "default") cw=\(classWeight) norm=\(normalization.rawValue) it=\(maxIterations)"
        }
    }

    var file: String
    var name: String
    var data: DataSpec
    var models: [ModelSpec]
    var poolings: [String] = ["avg"]
    var tta: [String] = ["none"]
    var relu = true
    var l2Normalize = false
    var background: String?
    var classifiers: [ClassifierSpec]
    var output: String
    var cache: String
    var batch = 16
    var strict = false
    var quiet = false
    var title: String
    /// Images per class from which the report suggests fine-tuning (Yosinski et al. 2014; the issue's rule of thumb).
    var fineTunePerClass = 1000

    static let topKeys = ["name", "title", "data", "model", "weights", "models", "layers", "pooling", "tta", "relu",
                          "l2_normalize", "background", "preprocessing", "classifiers", "output", "cache", "batch",
                          "strict", "quiet", "finetune_per_class"]

    /// Reads `path`, applies `--set` overrides, and checks every key and value.
    static func load(path: String, overrides: [String] = []) throws -> RunConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(file: path, mark: nil, message: "cannot read the config file")
        }
        var root: Node
        do {
            root = try Yams.compose(yaml: text) ?? Node.mapping(Node.Mapping([]))
        } catch let e as YamlError {
            switch e {
            case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
                throw ConfigError(file: path, mark: mark, message: "not valid YAML: \(context.map { "\($0.description) " } ?? "")\(problem)")
            default:
                throw ConfigError(file: path, mark: nil, message: "not valid YAML: \(e)")
            }
        }
        for o in overrides { root = try override(root, o, file: path) }
        return try RunConfig(root, file: path)
    }

    init(_ root: Node, file: String) throws {
        let top = try ConfigMap(root, file: file, path: "")
        self.file = file
        let stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        name = try top.string("name") ?? stem
        title = try top.string("title") ?? name

        guard let d = try top.map("data") else { throw top.error(nil, "missing `data` (with at least `train: FOLDER`)") }
        guard let train = try d.string("train") else { throw d.error(nil, "missing `data.train`: an ImageFolder directory") }
        data = DataSpec(train: expand(train), val: try d.string("val").map(expand))
        data.folds = try d.int("folds") ?? 5
        if data.folds < 2 { throw d.error(d.node("folds"), "`data.folds` must be at least 2") }
        data.perClass = try d.int("per_class")
        if let p = data.perClass, p < 1 { throw d.error(d.node("per_class"), "`data.per_class` must be positive") }
        try d.finish(known: ["train", "val", "folds", "per_class"])

        // Settings shared by every model unless the model's entry gives its own.
        let defaultLayers = try top.strings("layers")
        let pre = try top.map("preprocessing")
        let shared = try Self.preprocessing(pre)
        if let m = try Self.modelSpecs(top, defaultLayers: defaultLayers, shared: shared) { models = m } else {
            throw top.error(nil, "missing `model` (e.g. `model: resnet18`) or `models` (a list of {model, weights, layers})")
        }

        poolings = try top.strings("pooling") ?? ["avg"]
        for (p, n) in zip(poolings, top.list("pooling") ?? []) where Pooling(p) == nil {
            throw top.error(n, "`pooling` takes avg, max or grid:K; got `\(p)`")
        }
        tta = try top.strings("tta") ?? ["none"]
        for (t, n) in zip(tta, top.list("tta") ?? []) where Augmentation(rawValue: t) == nil {
            throw top.error(n, "`tta` takes none, flip or ten-crop; got `\(t)`")
        }
        relu = try top.bool("relu") ?? true
        l2Normalize = try top.bool("l2_normalize") ?? false
        background = try top.string("background")

        classifiers = []
        if let nodes = top.list("classifiers") {
            for (i, n) in nodes.enumerated() { classifiers.append(try Self.classifier(n, file: file, index: i)) }
        } else {
            classifiers = [ClassifierSpec(kind: .svm, name: "svm")]
        }
        if let dup = Dictionary(grouping: classifiers, by: \.name).first(where: { $0.value.count > 1 }) {
            throw top.error(top.node("classifiers"), "two classifiers are named `\(dup.key)`; give each a distinct `name`")
        }

        output = try top.string("output").map(expand) ?? "runs/\(name)"
        cache = try top.string("cache").map(expand) ?? Cache.root.appendingPathComponent("codes").path
        batch = try top.int("batch") ?? 16
        if batch < 1 { throw top.error(top.node("batch"), "`batch` must be positive") }
        strict = try top.bool("strict") ?? false
        quiet = try top.bool("quiet") ?? false
        fineTunePerClass = try top.int("finetune_per_class") ?? 1000
        try top.finish(known: Self.topKeys)
    }

    /// `models: [...]`, or the one-model shorthand `model:` / `weights:` at the top.
    private static func modelSpecs(_ top: ConfigMap, defaultLayers: [String]?, shared: ModelSpec) throws -> [ModelSpec]? {
        func spec(_ archNode: Node?, _ arch: String, weights: String?, layers: [String]?, own: ModelSpec?) throws -> ModelSpec {
            guard let a = Architecture(rawValue: arch) else {
                throw top.error(archNode, "unknown model `\(arch)`; models: \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let p = own ?? shared
            return ModelSpec(architecture: a, weights: weights.map(expand), layers: layers ?? defaultLayers ?? [a.defaultLayer],
                             resize: p.resize, crop: p.crop, mean: p.mean, std: p.std)
        }
        if let nodes = top.list("models") {
            if top.contains("model") { throw top.error(top.node("model"), "give `model` or `models`, not both") }
            return try nodes.enumerated().map { i, n in
                let m = try ConfigMap(n, file: top.file, path: "models[\(i)]")
                guard let arch = try m.string("model") else { throw m.error(nil, "`models[\(i)]` needs `model`") }
                let own = try m.map("preprocessing").map { try preprocessing($0) }
                let s = try spec(m.node("model"), arch, weights: try m.string("weights"), layers: try m.strings("layers"), own: own)
                try m.finish(known: ["model", "weights", "layers", "preprocessing"])
                return s
            }
        }
        guard let arch = try top.string("model") else { return nil }
        return [try spec(top.node("model"), arch, weights: try top.string("weights"), layers: nil, own: nil)]
    }

    private static func preprocessing(_ m: ConfigMap?) throws -> ModelSpec {
        var s = ModelSpec(architecture: .efficientnet_lite0, weights: nil, layers: [])
        guard let m else { return s }
        s.resize = try m.int("resize")
        s.crop = try m.int("crop")
        s.mean = try m.strings("mean")?.joined(separator: ",")
        s.std = try m.strings("std")?.joined(separator: ",")
        try m.finish(known: ["resize", "crop", "mean", "std"])
        return s
    }

    private static func classifier(_ n: Node, file: String, index: Int) throws -> ClassifierSpec {
        let m = try ConfigMap(n, file: file, path: "classifiers[\(index)]")
        guard let type = try m.choice("type", ["svm", "softmax"]), let kind = ClassifierSpec.Kind(rawValue: type) else {
            throw m.error(nil, "`classifiers[\(index)]` needs `type: svm` or `type: softmax`")
        }
        var c = ClassifierSpec(kind: kind, name: kind.rawValue)
        if let cs = m.list("C") {
            c.C = try cs.map { try m.number($0, "C") }
            if c.C.isEmpty || c.C.contains(where: { $0 <= 0 }) { throw m.error(m.node("C"), "`\(m.qualified("C"))` must be positive") }
        }
        c.normalization = Normalization.Kind(rawValue: try m.choice("normalization", Normalization.Kind.allCases.map(\.rawValue)) ?? "none") ?? .none
        var known = ["type", "name", "C", "normalization"]
        switch kind {
        case .svm:
            known += ["solver", "bias", "eps", "class_weight"]
            if let s = try m.choice("solver", Classify.Linear.Solver.allCases.map(\.rawValue)) { c.solver = try Classify.Linear.Solver(name: s) }
            c.bias = try m.double("bias") ?? 1
            c.eps = try m.double("eps")
            if let e = c.eps, e <= 0 { throw m.error(m.node("eps"), "`\(m.qualified("eps"))` must be positive") }
            c.classWeight = try m.choice("class_weight", ["none", "balanced"]) ?? "none"
        case .softmax:
            known += ["max_iterations"]
            c.maxIterations = try m.int("max_iterations") ?? 1000
        }
        let cText = c.C.count == 1 ? "C=\(short(c.C[0]))" : "C∈{\(c.C.map(short).joined(separator: ","))}"
        c.name = try m.string("name") ?? ([kind.rawValue, cText] + (c.normalization == .none ? [] : [c.normalization.rawValue])).joined(separator: " ")
        try m.finish(known: known)
        return c
    }
}

/// `{cache}` in a path stands for the pipeline cache folder (where `pipeline fetch` puts data and weights).
private func expand(_ path: String) -> String {
    path.replacingOccurrences(of: "{cache}", with: Cache.root.path)
}

func short(_ v: Double) -> String {
    v == v.rounded() && abs(v) < 1e6 ? String(Int(v)) : String(format: "%g", v)
}
