// `pipeline similar`: image retrieval by CNN codes: the images of a codes file nearest to a query image
// by cosine similarity, the query's codes made as the file's were.
import ArgumentParser
import Classify
import Foundation

struct SimilarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "similar",
        abstract: "List the images of a codes file most similar to a query image (cosine similarity of L2-normalised codes).",
        discussion: """
            The query's codes are made with the model, weights, layer, preprocessing and pooling recorded in \
            the codes file. Example: pipeline similar --codes train.h5 --query photo.jpg -k 5
            """)

    @Option(help: ArgumentHelp("Codes file to search, from `pipeline extract`.", valueName: "path"))
    var codes: String

    @Option(help: ArgumentHelp("Layer of the codes file (default: the file's only layer).", valueName: "name"))
    var layer: String?

    @Option(help: ArgumentHelp("Query image; repeat for several.", valueName: "image"))
    var query: [String]

    @Option(name: .customShort("k"), help: "Neighbours listed per query, most similar first.")
    var k: Int = 5

    @Option(help: ArgumentHelp("Checkpoint the codes were made with (default: the recorded file name in the weights cache).", valueName: "path"))
    var weights: String?

    @Option(help: "Output format: text, or csv (query,rank,path,class,similarity).")
    var format: String = "text"

    @Option(help: ArgumentHelp("Write the neighbours here instead of standard output.", valueName: "path"))
    var out: String?

    func validate() throws {
        guard !query.isEmpty else { throw ValidationError("give --query IMAGE") }
        guard k > 0 else { throw ValidationError("-k must be positive, got \(k)") }
        guard ["text", "csv"].contains(format) else { throw ValidationError("--format takes text or csv; got `\(format)`") }
    }

    func run() throws {
        let input = try CodesInput(path: codes, layer: layer)
        let index = try Similarity(codes: input.codes, dimension: input.dimension)
        let recipe = Recipe(provenance: input.provenance)
        let extractor = try recipe.extractor(weights: weights)
        let queries = try recipe.codes(for: query, extractor: extractor)
        let neighbours = try index.nearest(queries: queries, k: k)
        let file = input.file
        func className(_ i: Int) -> String { file.labels[i] >= 0 && Int(file.labels[i]) < file.classes.count ? file.classes[Int(file.labels[i])] : "" }
        var lines = format == "csv" ? ["query,rank,path,class,similarity"] : []
        for (q, list) in zip(query, neighbours) {
            if format == "text" { lines.append(q) }
            for (rank, n) in list.enumerated() {
                if format == "csv" {
                    lines.append("\(q),\(rank + 1),\(file.paths[n.index]),\(className(n.index)),\(n.score)")
                } else {
                    let label = className(n.index).isEmpty ? "" : "  [\(className(n.index))]"
                    lines.append(String(format: "  %d. %.4f  %@%@", rank + 1, Double(n.score), file.paths[n.index], label))
                }
            }
        }
        try emit(lines.joined(separator: "\n") + "\n", to: out)
    }
}
