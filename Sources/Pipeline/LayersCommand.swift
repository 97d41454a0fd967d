// `pipeline layers`: every tap of a model with its output shape and code length.
import ArgumentParser
import Extract

struct LayersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layers",
        abstract: "List a model's layers (taps): node name, aliases, output shape, code length per pooling.")

    @Option(help: "Network architecture.")
    var model: Architecture = .efficientnet_lite0

    @Option(help: "Input side in pixels (default: the architecture's: 224; 299 for inception_v3).")
    var size: Int?

    @Option(help: "Pooling used for the code length column: avg, max or grid:K.")
    var pool: String = "avg"

    func run() throws {
        guard let pooling = Pooling(pool) else { throw ValidationError("--pool takes avg, max or grid:K; got `\(pool)`") }
        // Shapes do not depend on the weights: list them from a randomly initialised network.
        let net = try Model(random: model)
        let rows = try net.layers(size: size)
        let width = max(rows.map(\.name.count).max() ?? 0, 5)
        func pad(_ text: String, _ n: Int) -> String { text.padding(toLength: max(n, text.count), withPad: " ", startingAt: 0) }
        print("\(model.rawValue) at \(size ?? model.inputSize)x\(size ?? model.inputSize); default code layer: \(model.defaultLayer)")
        print(pad("layer", width) + "  " + pad("shape", 14) + "  " + pad("code", 6) + "  aliases")
        for row in rows {
            let shape = row.shape.map(String.init).joined(separator: "x")
            let code = String(pooling.length(of: row.shape))
            let line: String = pad(row.name, width) + "  " + pad(shape, 14) + "  " + pad(code, 6)
            print(line + "  " + row.aliases.joined(separator: ", "))
        }
    }
}
