// `pipeline layers`: every tap of a model with its output shape and code length.
import ArgumentParser
import Extract

struct LayersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layers",
        abstract: "List a model's layers (taps): node name, aliases, output shape, code length per pooling.")

    @Option(help: "Network architecture (default: efficientnet_lite0).")
    var model: Architecture?

    @Option(help: ArgumentHelp("An ONNX file instead of --model: lists every tensor name in the graph.", valueName: "path"))
    var onnx: String?

    @Option(help: "Input side in pixels (default: the architecture's: 224; 299 for inception_v3; for --onnx, the graph's input side, else 224).")
    var size: Int?

    func validate() throws {
        if onnx != nil && model != nil { throw ValidationError("give --model or --onnx, not both") }
    }

    @Option(help: "Pooling used for the code length column: avg, max or grid:K.")
    var pool: String = "avg"

    func run() throws {
        guard let pooling = Pooling(pool) else { throw ValidationError("--pool takes avg, max or grid:K; got `\(pool)`") }
        // Shapes do not depend on the weights: list them from a randomly initialised network.
        let net = try onnx.map { try Model(onnx: $0) } ?? Model(random: model ?? .efficientnet_lite0)
        if let declared = net.declaredInputSize, let size, size != declared {
            throw ValidationError("\(net.name) declares a \(declared)x\(declared) input; --size \(size) does not fit it")
        }
        let rows = try net.layers(size: size)
        let width = max(rows.map(\.name.count).max() ?? 0, 5)
        func pad(_ text: String, _ n: Int) -> String { text.padding(toLength: max(n, text.count), withPad: " ", startingAt: 0) }
        let side = size ?? net.defaultInputSize
        print("\(net.name) at \(side)x\(side); default code layer: \(net.defaultLayer)")
        print(pad("layer", width) + "  " + pad("shape", 14) + "  " + pad("code", 6) + "  aliases")
        for row in rows {
            let shape = row.shape.map(String.init).joined(separator: "x")
            let code = String(pooling.length(of: row.shape))
            let line: String = pad(row.name, width) + "  " + pad(shape, 14) + "  " + pad(code, 6)
            print(line + "  " + row.aliases.joined(separator: ", "))
        }
    }
}
