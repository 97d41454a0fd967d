// `pipeline predict`: both stages end to end on image files: the network, layer, preprocessing and
// pooling recorded with the classifier make the codes, the classifier scores them.
import ArgumentParser
import Classify
import Foundation

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify images: extract their codes as the classifier's training codes were made, then score them.",
        discussion: """
            Scores are probabilities for train-softmax and liblinear's logistic solvers (l2r_lr, l1r_lr, \
            l2r_lr_dual), decision values for the SVM solvers.
            The weights are --weights, or the recorded file name in the weights cache; their SHA-256 must be \
            the one recorded with the classifier.
            Example: pipeline predict --classifier digits.svm photo1.png photo2.jpg --top-k 3
            """)

    @Option(help: ArgumentHelp("Classifier from train-svm or train-softmax (its .json sidecar beside it).", valueName: "path"))
    var classifier: String

    @Argument(help: ArgumentHelp("Image files (JPEG or PNG).", valueName: "image"))
    var images: [String]

    @Option(name: .customLong("top-k"), help: "Classes listed per image, best first.")
    var topK: Int = 5

    @Option(name: [.customLong("weights"), .customLong("onnx")], help: ArgumentHelp(
        "Checkpoint, or ONNX file, the codes were made with (default: the recorded file name in the weights cache).", valueName: "path"))
    var weights: String?

    @Option(help: "Output format: text, or csv (image,rank,class,score).")
    var format: String = "text"

    @Option(help: ArgumentHelp("Write the predictions here instead of standard output.", valueName: "path"))
    var out: String?

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("name at least one image") }
        guard topK > 0 else { throw ValidationError("--top-k must be positive, got \(topK)") }
        guard ["text", "csv"].contains(format) else { throw ValidationError("--format takes text or csv; got `\(format)`") }
    }

    func run() throws {
        let model = try Classifier.load(path: classifier)
        let info = model.info
        let recipe = Recipe(provenance: info.provenance)
        let extractor = try recipe.extractor(weights: weights)
        let codes = try recipe.codes(for: images, extractor: extractor)
        let dimension = codes.count / images.count
        guard dimension == info.dimension else {
            throw Failure("layer `\(extractor.settings.layers[0])` gives codes of dimension \(dimension), but \(classifier) expects \(info.dimension)")
        }
        // Labels are unused by scoring; FeatureSet wants valid ones.
        let features = FeatureSet(codes: codes, labels: Array(repeating: 0, count: images.count), classes: info.classes, dimension: dimension)
        let (kind, scores) = try model.scores(features)
        let k = min(topK, info.classes.count)
        var lines = format == "csv" ? ["image,rank,class,\(kind == "probability" ? "probability" : "decision_value")"] : []
        for (image, s) in zip(images, scores) {
            let order = s.indices.sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }.prefix(k)
            if format == "csv" {
                for (rank, c) in order.enumerated() { lines.append("\(image),\(rank + 1),\(info.classes[c]),\(s[c])") }
            } else {
                lines.append("\(image) (\(kind))")
                let width = order.map { info.classes[$0].count }.max() ?? 0
                for (rank, c) in order.enumerated() {
                    let name = info.classes[c].padding(toLength: width, withPad: " ", startingAt: 0)
                    lines.append(String(format: "  %d. %@  %.4f", rank + 1, name, s[c]))
                }
            }
        }
        try emit(lines.joined(separator: "\n") + "\n", to: out)
    }
}
