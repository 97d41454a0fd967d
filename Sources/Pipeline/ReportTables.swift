// The results of `pipeline run` as tables: Markdown for the terminal, CSV and JSON files, and the
// recommendation the HTML report ends with.
import Foundation

struct Report {
    let config: RunConfig
    let rows: [ResultRow]
    /// Training images per class, for the fine-tuning advice.
    let trainCounts: [Int]

    /// The best setting: highest accuracy; ties go to the shorter code, then the earlier row.
    var best: ResultRow? {
        rows.enumerated().min { a, b in
            (a.element.accuracy, b.element.codeLength, b.offset) > (b.element.accuracy, a.element.codeLength, a.offset)
        }?.element
    }

    static let columns = ["model", "layer", "node", "depth", "pooling", "tta", "classifier", "code_length", "accuracy",
                          "evaluation", "C", "train_images", "test_images", "seconds"]

    private func fields(_ r: ResultRow) -> [String] {
        [r.model, r.layer, r.node, "\(r.depth)", r.pooling, r.tta, r.classifier, "\(r.codeLength)",
         String(format: "%.6f", r.accuracy), r.evaluation, short(r.C), "\(r.trainImages)", "\(r.testImages)",
         String(format: "%.3f", r.seconds)]
    }

    var markdown: String {
        let header = ["model", "layer", "depth", "pooling", "tta", "classifier", "code length", "accuracy %", "evaluation", "C", "time s"]
        var lines = ["| " + header.joined(separator: " | ") + " |",
                     "|" + header.map { h in ["depth", "code length", "accuracy %", "C", "time s"].contains(h) ? "---:|" : "---|" }.joined()]
        let top = best
        for r in rows {
            let acc = String(format: "%.2f", 100 * r.accuracy)
            let cells = [r.model, r.layer, "\(r.depth)", r.pooling, r.tta, r.classifier, "\(r.codeLength)",
                         r == top ? "**\(acc)**" : acc, r.evaluation, short(r.C), String(format: "%.2f", r.seconds)]
            lines.append("| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |")
        }
        lines.append("")
        lines.append(recommendation.joined(separator: "\n"))
        return lines.joined(separator: "\n") + "\n"
    }

    /// RFC 4180: fields holding a comma, quote or newline are quoted.
    var csv: String {
        func q(_ s: String) -> String {
            s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        return ([Self.columns.joined(separator: ",")] + rows.map { fields($0).map(q).joined(separator: ",") })
            .joined(separator: "\n") + "\n"
    }

    func json() throws -> String {
        struct Document: Encodable {
            let name: String, title: String, train: String, val: String?, folds: Int, perClass: Int?
            let trainImagesPerClass: [String: Int]
            let results: [ResultRow]
            let best: ResultRow?
            let recommendation: [String]
        }
        let classes = rows.first?.classes ?? []
        let doc = Document(name: config.name, title: config.title, train: config.data.train, val: config.data.val,
                           folds: config.data.folds, perClass: config.data.perClass,
                           trainImagesPerClass: Dictionary(zip(classes, trainCounts), uniquingKeysWith: { a, _ in a }),
                           results: rows, best: best, recommendation: recommendation)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try e.encode(doc), as: UTF8.self) + "\n"
    }

    /// Which layer and classifier to use, whether the top codes or an earlier layer transfer better, and
    /// whether the data set is large enough to fine-tune: the rule of thumb of Yosinski et al. (2014),
    /// "How transferable are features in deep neural networks?", measured on the user's data.
    var recommendation: [String] {
        guard let b = best else { return ["No results."] }
        var lines = [String(format: "Recommendation: %@ layer `%@` (%@ pooling%@) with %@: %.2f%% (%@).", b.model, b.layer, b.pooling,
                            b.tta == "none" ? "" : ", tta \(b.tta)", b.classifier, 100 * b.accuracy, b.evaluation)]
        // The deepest layer swept for the same model, pooling, tta and classifier: the "top codes".
        let peers = rows.filter { $0.model == b.model && $0.pooling == b.pooling && $0.tta == b.tta && $0.classifier == b.classifier }
        if let top = peers.max(by: { $0.depth < $1.depth }), peers.count > 1 {
            let gain = 100 * (b.accuracy - top.accuracy)
            if top.depth == b.depth || gain < 1 {
                lines.append(String(format: "The top codes (`%@`) are within a point of the best layer: the data behaves like ImageNet for this network, so a linear classifier on the top codes is the choice.", top.layer))
            } else {
                lines.append(String(format: "An earlier layer beats the top codes (`%@`, %.2f%%) by %.1f points: the data looks unlike ImageNet, and the more generic features of earlier layers transfer better.", top.layer, 100 * top.accuracy, gain))
            }
        }
        let sorted = trainCounts.sorted()
        let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        if median >= config.fineTunePerClass {
            lines.append("With about \(median) training images per class (at least \(config.fineTunePerClass), `finetune_per_class`), the data set is large enough for fine-tuning the network (`pipeline finetune`) to be likely to beat fixed codes.")
        } else {
            lines.append("With about \(median) training images per class (fewer than \(config.fineTunePerClass), `finetune_per_class`), fine-tuning much of the network would likely overfit: use these codes, or fine-tune only the last stage and a new head (`pipeline finetune --freeze-until` an earlier stage, strongly regularised) and compare on the validation set.")
        }
        return lines
    }
}
