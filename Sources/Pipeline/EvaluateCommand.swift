// `pipeline evaluate`: a saved classifier on labelled codes: accuracy, per-class precision, recall and
// F1, and the confusion matrix, as scikit-learn's classification_report and confusion_matrix give them.
import ArgumentParser
import Classify
import Foundation
import H5

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score a trained classifier on labelled codes: accuracy, per-class precision/recall/F1, confusion matrix.",
        discussion: """
            The codes must be made as the classifier's training codes were (same model, weights, layer, \
            preprocessing, pooling, ReLU, L2, TTA); a mismatch is refused, naming each differing field.
            Example: pipeline evaluate --classifier digits.svm --codes val.h5 --format json
            """)

    @Option(help: ArgumentHelp("Classifier from train-svm or train-softmax (its .json sidecar beside it).", valueName: "path"))
    var classifier: String

    @Option(help: ArgumentHelp("Labelled codes from `pipeline extract --data DIR`.", valueName: "path"))
    var codes: String

    @Option(help: ArgumentHelp("Layer of the codes file (default: the layer the classifier was trained on).", valueName: "name"))
    var layer: String?

    @Option(help: "Report format: table, json, or csv (per-class rows, then the confusion matrix).")
    var format: String = "table"

    @Option(help: ArgumentHelp("Write the report here instead of standard output.", valueName: "path"))
    var out: String?

    @Option(help: ArgumentHelp("Also write one CSV row per code: path,true class,predicted class.", valueName: "path"))
    var predictions: String?

    func validate() throws {
        guard ["table", "json", "csv"].contains(format) else { throw ValidationError("--format takes table, json or csv; got `\(format)`") }
    }

    func run() throws {
        let model = try Classifier.load(path: classifier)
        let info = model.info
        // The trained-on layer when the file holds it; otherwise the file's own, so the check below names the difference.
        let recorded = info.provenance["layer"].flatMap { l in (try? CodesFile(path: codes))?.layerNames.contains(l) == true ? l : nil }
        let input = try CodesInput(path: codes, layer: layer ?? recorded)
        try model.check(provenance: input.provenance, codes: codes)
        var features = try input.features()
        try features.check(dimension: info.dimension, what: "\(codes) layer `\(input.layer)` for \(classifier)")
        // The codes file numbers its own classes; the classifier's numbering is the one that counts.
        let index = Dictionary(uniqueKeysWithValues: info.classes.enumerated().map { ($1, Int32($0)) })
        var remap: [Int32] = []
        for name in features.classes {
            guard let i = index[name] else {
                throw Failure("\(codes): class `\(name)` is not one the classifier knows (\(info.classes.joined(separator: ", ")))")
            }
            remap.append(i)
        }
        features = FeatureSet(codes: features.codes, labels: features.labels.map { remap[Int($0)] }, classes: info.classes,
                              dimension: features.dimension)
        let predicted = try model.predict(features)
        let report = try ClassificationReport(truth: features.labels, predicted: predicted, classes: info.classes)
        switch format {
        case "json": try emit(try report.json() + "\n", to: out)
        case "csv": try emit(report.csv + "\n" + report.confusionCSV, to: out)
        default: try emit(report.table, to: out)
        }
        if let predictions {
            func q(_ s: String) -> String { s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
            var rows = ["path,true,predicted"]
            for (i, p) in predicted.enumerated() {
                rows.append("\(q(input.file.paths[i])),\(q(info.classes[Int(features.labels[i])])),\(q(info.classes[Int(p)]))")
            }
            try emit(rows.joined(separator: "\n") + "\n", to: predictions)
        }
    }
}
