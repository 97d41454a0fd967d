// The `pipeline` command: one root, one file per subcommand.
import ArgumentParser

@main
struct Pipeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Transfer learning by CNN codes: extract codes from a frozen ConvNet, train linear classifiers on them.",
        version: "0.1.0",
        subcommands: [
            ExtractCommand.self,
            FinetuneCommand.self,
            TrainSVMCommand.self,
            TrainSoftmaxCommand.self,
            EvaluateCommand.self,
            PredictCommand.self,
            SimilarCommand.self,
            RunCommand.self,
            LayersCommand.self,
            FetchCommand.self,
            BenchCommand.self,
        ])
}
