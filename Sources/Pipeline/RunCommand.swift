// `pipeline run CONFIG.yaml`: the cross product of models, layers, poolings, test-time augmentations
// and classifiers named in a YAML config, with codes cached across runs and results resumable,
// ending in a results table (Markdown, CSV, JSON) and an HTML report.
import ArgumentParser
import Classify
import Crypto
import Extract
import Foundation
import H5

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a batch of extractions and classifiers from a YAML config; write a results table and an HTML report.",
        discussion: """
            Keys (configs/README.md has the details; an unknown key is an error at its line and column):
              name, title                 run name (default: the file name) and report title
              data: train, val            ImageFolder directories; without val, stratified k-fold CV on train
                    folds (5), per_class  CV folds; at most N images per class from each folder (default: all)
              model, weights              one model (default weights: the cached torchvision file), or
              models: [{model, weights, layers, preprocessing}]
              layers                      layer names or aliases (default: the model's code layer); one forward pass
              pooling (avg), tta (none)   a value or a list each: avg|max|grid:K; none|flip|ten-crop
              relu (true), l2_normalize (false), background (R,G,B), preprocessing: {resize, crop, mean, std}
              classifiers: [{type: svm|softmax, name, C (1, or a list searched by CV), normalization (none|l2|standard),
                             solver (l2r_l2loss_svc_dual), bias (1), eps (liblinear's), class_weight (none|balanced), max_iterations (1000)}]
              output (runs/NAME), cache ({cache}/codes), batch (16), strict (false), quiet (false), finetune_per_class (1000)
            `{cache}` in a path is the pipeline cache folder. Relative paths are relative to the working directory.
            Codes are cached by weights hash, layer, pooling, preprocessing and a fingerprint of the images (paths,
            sizes, modification times): a re-run extracts only what changed. Results already computed are reused, so
            an interrupted run resumes; --rerun recomputes them.
            Example: pipeline run configs/digits-sweep.yaml --set data.per_class=20
            """)

    @Argument(help: ArgumentHelp("YAML config file.", valueName: "config.yaml"))
    var config: String

    @Option(name: .customLong("set"), help: ArgumentHelp(
        "Override a config value: a dotted key and a YAML value, e.g. data.per_class=20 or 'pooling=[avg,max]'; repeatable.",
        valueName: "key=value"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("Results folder (default: the config's `output`, else runs/NAME).", valueName: "dir"))
    var output: String?

    @Flag(help: "Recompute classifier results a previous run of this config already recorded (codes stay cached).")
    var rerun = false

    @Flag(name: .customLong("dry-run"), help: "Print the settings the config expands to, and stop.")
    var dryRun = false

    @Flag(help: "No progress output (default: the config's `quiet`, else false).")
    var quiet = false

    func run() throws {
        var config = try RunConfig.load(path: self.config, overrides: overrides)
        if let output { config.output = output }
        if quiet { config.quiet = true }
        let batch = BatchRun(config: config)
        batch.rerun = rerun
        if dryRun {
            for line in batch.plan { print(line) }
            return
        }
        try batch.run()
    }
}

/// One result: a (model, layer, pooling, tta, classifier) setting and its accuracy.
struct ResultRow: Codable, Equatable {
    var model: String
    var layer: String
    var node: String
    /// Position of the layer in the model's forward order (`pipeline layers`), 0 for the first.
    var depth: Int
    var pooling: String
    var tta: String
    var classifier: String
    var codeLength: Int
    var accuracy: Double
    /// "validation" or "5-fold CV".
    var evaluation: String
    /// The C trained with, and with a search, the cross-validated accuracy of each C tried.
    var C: Double
    var searched: [String: Double]?
    var trainImages: Int
    var testImages: Int
    /// Seconds to train and score the classifier (cross-validation included), codes already in memory.
    var seconds: Double
    var classes: [String]
    var confusion: [[Int]]
}

/// Executes a config. Counters and the row hook are for tests and the summary line.
final class BatchRun {
    let config: RunConfig
    var rerun = false
    /// Images run through a network by this run (0 when every code came from the cache).
    private(set) var extractedImages = 0
    /// Classifier results computed by this run (the rest came from an earlier, interrupted or complete, run).
    private(set) var rowsComputed = 0
    /// Called after each result is recorded, with the number recorded so far; throwing stops the run there.
    var afterRow: ((Int) throws -> Void)?
    private(set) var rows: [ResultRow] = []

    init(config: RunConfig) { self.config = config }

    private func log(_ s: String) {
        if !config.quiet { FileHandle.standardError.write(Data((s + "\n").utf8)) }
    }

    var plan: [String] {
        var lines = ["data: train \(config.data.train)" + (config.data.val.map { ", val \($0)" } ?? ", \(config.data.folds)-fold CV")
                     + (config.data.perClass.map { ", at most \($0) per class" } ?? "")]
        for m in config.models {
            for p in config.poolings {
                for t in config.tta {
                    for l in m.layers {
                        for c in config.classifiers { lines.append("\(m.architecture.rawValue)  \(l)  pool=\(p)  tta=\(t)  \(c.name)") }
                    }
                }
            }
        }
        lines.append("output: \(config.output), codes cache: \(config.cache)")
        return lines
    }

    func run() throws {
        let train = try imageList(config.data.train)
        let val = try config.data.val.map { try imageList($0) }
        if let val, val.classes != train.classes {
            throw ConfigError(file: config.file, mark: nil,
                              message: "data.val's classes \(val.classes) differ from data.train's \(train.classes)")
        }
        let splits = [("train", train)] + (val.map { [("val", $0)] } ?? [])
        let stateDir = URL(fileURLWithPath: config.output).appendingPathComponent(".rows")
        try FileManager.default.createDirectory(at: stateDir, withIntermediateDirectories: true)
        let total = config.models.reduce(0) { $0 + $1.layers.count } * config.poolings.count * config.tta.count * config.classifiers.count
        let started = Date()

        for spec in config.models {
            let model = ModelHandle(spec: spec, file: config.file)
            for pool in config.poolings {
                for tta in config.tta {
                    let setting = try model.setting(pool: pool, tta: tta, relu: config.relu, l2: config.l2Normalize,
                                                    background: config.background)
                    // Codes for every layer of this setting, extracted together for whatever is not cached.
                    var files: [String: [CodesFile]] = [:]
                    for (name, list) in splits {
                        files[name] = try codes(for: list, split: name, setting: setting, model: model)
                    }
                    for layer in spec.layers {
                        let trainSet = try featureSet(files["train"] ?? [], layer: layer, list: train)
                        let valSet = try val.map { try featureSet(files["val"] ?? [], layer: layer, list: $0) }
                        for classifier in config.classifiers {
                            let key = digest([setting.key, setting.dataKeys.joined(separator: ","), layer, classifier.key,
                                              "folds=\(config.data.folds)"].joined(separator: "\n"))
                            let state = stateDir.appendingPathComponent("\(key).json")
                            if !rerun, let data = FileManager.default.contents(atPath: state.path),
                               let row = try? JSONDecoder().decode(ResultRow.self, from: data) {
                                rows.append(row)
                                continue
                            }
                            let (node, depth) = try model.position(of: layer)
                            var row = try evaluate(classifier, train: trainSet, val: valSet)
                            row.model = spec.architecture.rawValue; row.layer = layer; row.node = node; row.depth = depth
                            row.pooling = pool; row.tta = tta; row.classifier = classifier.name
                            let e = JSONEncoder()
                            e.outputFormatting = [.sortedKeys]
                            try e.encode(row).write(to: state, options: .atomic)
                            rows.append(row)
                            rowsComputed += 1
                            log(String(format: "[%d/%d] %@ %@ pool=%@ tta=%@ %@: %.2f%% (%@, %.1fs)", rows.count, total,
                                       row.model, layer, pool, tta, classifier.name, 100 * row.accuracy, row.evaluation, row.seconds))
                            try afterRow?(rows.count)
                        }
                    }
                }
            }
        }

        let report = Report(config: config, rows: rows, trainCounts: classCounts(train))
        print(report.markdown, terminator: "")
        let out = URL(fileURLWithPath: config.output)
        try report.csv.write(to: out.appendingPathComponent("results.csv"), atomically: true, encoding: .utf8)
        try report.json().write(to: out.appendingPathComponent("results.json"), atomically: true, encoding: .utf8)
        try report.html.write(to: out.appendingPathComponent("report.html"), atomically: true, encoding: .utf8)
        log(String(format: "%d results (%d computed, %d images extracted) in %.1fs; wrote %@/results.csv, results.json, report.html",
                   rows.count, rowsComputed, extractedImages, Date().timeIntervalSince(started), config.output))
    }

    // MARK: data

    private func imageList(_ folder: String) throws -> ImageList {
        var list = try ImageList.imageFolder(folder)
        if let limit = config.data.perClass {
            var seen: [Int32: Int] = [:]
            let keep = list.labels.indices.filter { i in
                seen[list.labels[i], default: 0] += 1
                return seen[list.labels[i]]! <= limit
            }
            list.paths = keep.map { list.paths[$0] }
            list.labels = keep.map { list.labels[$0] }
        }
        return list
    }

    private func classCounts(_ list: ImageList) -> [Int] {
        list.classes.indices.map { c in list.labels.filter { $0 == Int32(c) }.count }
    }

    /// The cached codes files holding every layer of `setting` for `list`, extracting the missing layers
    /// in one pass into a new file of the cache (which resumes if an earlier run was interrupted).
    private func codes(for list: ImageList, split: String, setting: CodeSetting, model: ModelHandle) throws -> [CodesFile] {
        let dataKey = try fingerprint(list)
        setting.dataKeys.append(dataKey)
        let dir = URL(fileURLWithPath: config.cache).appendingPathComponent(setting.key)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try setting.description.write(to: dir.appendingPathComponent("settings.txt"), atomically: true, encoding: .utf8)
        var found: [CodesFile] = []
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        for name in names.sorted() where name.hasPrefix(dataKey + "-") && name.hasSuffix(".h5") {
            if let f = try? CodesFile(path: dir.appendingPathComponent(name).path), f.complete { found.append(f) }
        }
        let have = Set(found.flatMap(\.layerNames))
        let missing = model.spec.layers.filter { !have.contains($0) }
        guard !missing.isEmpty else { return found }

        let path = dir.appendingPathComponent("\(dataKey)-\(missing.joined(separator: "+")).h5").path
        let job = try model.job(setting: setting, layers: missing, quiet: config.quiet)
        let before = (try? CodesFile(path: path)).map { $0.count + $0.skipped.count } ?? 0
        log("\(split): extracting \(missing.joined(separator: ", ")) (\(setting.pooling), tta \(setting.tta)) for \(list.count - before) images into \(path)")
        try job.extract(list, to: path, batch: config.batch, strict: config.strict, overwrite: false, source: list.root)
        extractedImages += list.count - before
        return found + [try CodesFile(path: path)]
    }

    /// The images' identity: root, relative paths, labels, sizes and modification times.
    private func fingerprint(_ list: ImageList) throws -> String {
        var text = "root=\((list.root as NSString).standardizingPath)\nclasses=\(list.classes.joined(separator: "/"))\n"
        for i in 0..<list.count {
            var st = stat()
            guard stat(list.absolutePath(i), &st) == 0 else {
                throw ConfigError(file: config.file, mark: nil, message: "cannot stat \(list.absolutePath(i))")
            }
            text += "\(list.paths[i])\t\(list.labels[i])\t\(st.st_size)\t\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)\n"
        }
        return digest(text)
    }

    /// Codes of `layer` for the images of `list`, in list order (images skipped as unreadable are left out).
    /// Private to the runner until Classify's CodesInput offers the same.
    private func featureSet(_ files: [CodesFile], layer: String, list: ImageList) throws -> FeatureSet {
        guard let file = files.first(where: { $0.layerNames.contains(layer) }) else {
            throw ConfigError(file: config.file, mark: nil, message: "no cached codes for layer `\(layer)`")
        }
        return try FeatureSet(file: file, layer: layer, paths: list.paths, labels: list.labels, classes: list.classes)
    }

    // MARK: classifiers

    /// Accuracy on the validation codes, or from out-of-fold predictions of stratified k-fold CV.
    private func evaluate(_ spec: RunConfig.ClassifierSpec, train: FeatureSet, val: FeatureSet?) throws -> ResultRow {
        let start = Date()
        let folds = stratifiedFolds(labels: train.labels, k: config.data.folds)
        var searched: [String: Double]? = nil
        var C = spec.C[0]
        var truth: [Int32], predicted: [Int32]
        if spec.C.count > 1 {
            var scores: [String: Double] = [:]
            var best: (C: Double, acc: Double, pred: [Int32]) = (0, -1, [])
            for c in spec.C.sorted() {
                let p = try outOfFold(spec, C: c, train, folds)
                let acc = Classify.accuracy(truth: train.labels, predicted: p)
                scores[short(c)] = acc
                if acc > best.acc { best = (c, acc, p) }
            }
            searched = scores
            C = best.C
            (truth, predicted) = (train.labels, best.pred)
        } else {
            (truth, predicted) = (train.labels, [])
        }
        if let val {
            predicted = try fit(spec, C: C, train)(val)
            truth = val.labels
        } else if predicted.isEmpty {
            predicted = try outOfFold(spec, C: C, train, folds)
        }
        let report = try ClassificationReport(truth: truth, predicted: predicted, classes: train.classes)
        return ResultRow(model: "", layer: "", node: "", depth: 0, pooling: "", tta: "", classifier: spec.name,
                         codeLength: train.dimension, accuracy: report.accuracy,
                         evaluation: val == nil ? "\(config.data.folds)-fold CV" : "validation", C: C, searched: searched,
                         trainImages: train.count, testImages: val?.count ?? train.count,
                         seconds: Date().timeIntervalSince(start), classes: train.classes, confusion: report.confusion)
    }

    private func outOfFold(_ spec: RunConfig.ClassifierSpec, C: Double, _ set: FeatureSet, _ folds: [Int]) throws -> [Int32] {
        var predicted = [Int32](repeating: -1, count: set.count)
        for f in Set(folds).sorted() {
            let test = folds.indices.filter { folds[$0] == f }
            let trainRows = folds.indices.filter { folds[$0] != f }
            let p = try fit(spec, C: C, set.subset(trainRows))(set.subset(test))
            for (i, row) in test.enumerated() { predicted[row] = p[i] }
        }
        return predicted
    }

    /// Trains `spec` at `C`, returning its predictor.
    private func fit(_ spec: RunConfig.ClassifierSpec, C: Double, _ set: FeatureSet) throws -> (FeatureSet) throws -> [Int32] {
        switch spec.kind {
        case .svm:
            let p = Classify.Linear.Parameter(solver: spec.solver, C: C, bias: spec.bias, eps: spec.eps,
                                              classWeight: spec.classWeight == "balanced" ? .balanced : .none)
            // liblinear's solvers visit samples in an order drawn with the C library's rand(): seeding it
            // makes each result reproducible and independent of what was trained before it.
            srand(1)
            let m = try LinearClassifier.train(set, parameter: p, normalization: spec.normalization)
            return { try m.predict($0) }
        case .softmax:
            let m = try Softmax.train(set, C: C, normalization: spec.normalization, maxIterations: spec.maxIterations)
            return { try m.predict($0) }
        }
    }
}

/// How codes are made for one (model, pooling, tta): the cache key without the data.
final class CodeSetting {
    let pooling: String, tta: String
    let description: String
    let key: String
    let codeOptions: [String]
    /// The data fingerprints of the splits, in order, once known.
    var dataKeys: [String] = []

    init(pooling: String, tta: String, description: String, codeOptions: [String]) {
        self.pooling = pooling
        self.tta = tta
        self.description = description
        self.codeOptions = codeOptions
        key = String(digest(description).prefix(24))
    }
}

/// A model entry of the config: weights hashed at once, the network itself loaded only when needed.
final class ModelHandle {
    let spec: RunConfig.ModelSpec
    let file: String
    private var loaded: (model: Model, path: String)?
    private var layerList: [String]?
    private var hash: (path: String, sha: String)?

    init(spec: RunConfig.ModelSpec, file: String) {
        self.spec = spec
        self.file = file
    }

    private var modelOptions: ModelOptions {
        get throws {
            try wrap { try ModelOptions.parse(["--model", spec.architecture.rawValue] + (spec.weights.map { ["--weights", $0] } ?? [])) }
        }
    }

    /// ValidationErrors of the shared option groups, re-thrown as errors about this config.
    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ValidationError {
            throw ConfigError(file: file, mark: nil, message: "\(spec.architecture.rawValue): \(e.message)")
        } catch let e as ModelError {
            throw ConfigError(file: file, mark: nil, message: "\(spec.architecture.rawValue): \(e)")
        }
    }

    func setting(pool: String, tta: String, relu: Bool, l2: Bool, background: String?) throws -> CodeSetting {
        if hash == nil {
            let path = try modelOptions.weightsPath()
            hash = (path, try sha256Hex(of: URL(fileURLWithPath: path)))
        }
        let pre = try preprocessing()
        var options = ["--pool", pool, "--tta", tta]
        if !relu { options.append("--no-relu") }
        if l2 { options.append("--l2-normalize") }
        if let background { options += ["--background", background] }
        _ = try wrap { try CodeOptions.parse(options).backgroundColour() }
        let description = """
            format_version=\(CodesSchema.formatVersion)
            model=\(spec.architecture.rawValue)
            weights_sha256=\(hash?.sha ?? "")
            pooling=\(pool) relu=\(relu) l2=\(l2) tta=\(tta) background=\(background ?? "none")
            preprocessing=\(pre.description)

            """
        return CodeSetting(pooling: pool, tta: tta, description: description, codeOptions: options)
    }

    private func preprocessing() throws -> Preprocessing {
        var args: [String] = []
        if let r = spec.resize { args += ["--resize", "\(r)"] }
        if let c = spec.crop { args += ["--crop", "\(c)"] }
        if let m = spec.mean { args += ["--mean", m] }
        if let s = spec.std { args += ["--std", s] }
        return try wrap { try PreprocessingOptions.parse(args).preprocessing(for: spec.architecture) }
    }

    private func model() throws -> Model {
        if let loaded { return loaded.model }
        let l = try modelOptions.load(layers: spec.layers)
        loaded = (l.model, l.weightsPath)
        // Every layer of the config is checked once the network exists, before any work.
        for layer in spec.layers { _ = try wrap { try l.model.resolve(layer) } }
        return l.model
    }

    /// The layer's node name and its index in forward order.
    func position(of layer: String) throws -> (String, Int) {
        let m = try model()
        if layerList == nil { layerList = try m.layers(size: try preprocessing().crop).map(\.name) }
        let node = try wrap { try m.resolve(layer) }
        return (node, layerList?.firstIndex(of: node) ?? 0)
    }

    func job(setting: CodeSetting, layers: [String], quiet: Bool) throws -> ExtractionSetup {
        let m = try model()
        let codes = try wrap { try CodeOptions.parse(setting.codeOptions + ["--layer", layers.joined(separator: ",")]) }
        let extractor = try CodeExtractor(model: m, settings: try wrap { try codes.settings(for: spec.architecture) },
                                          preprocessing: try preprocessing())
        return ExtractionSetup(extractor: extractor, weightsPath: loaded?.path ?? "", weightsSHA256: hash?.sha ?? "",
                               background: try codes.backgroundColour(), quiet: quiet)
    }
}

extension ExtractionSetup {
    /// A setup around an already loaded model, so a batch loads each network once.
    init(extractor: CodeExtractor, weightsPath: String, weightsSHA256: String, background: (UInt8, UInt8, UInt8)?, quiet: Bool) {
        self.extractor = extractor
        self.weightsPath = weightsPath
        self.weightsSHA256 = weightsSHA256
        self.background = background
        self.quiet = quiet
    }
}

func digest(_ text: String) -> String {
    SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
}
