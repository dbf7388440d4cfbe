import ArgumentParser

/// `idgenrec`: textual item IDs, a T5 recommender trained with its ID generator, and
/// zero-shot evaluation. One file per subcommand.
@main
struct IDGenRec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idgenrec",
        abstract: "Generative recommendation with textual item IDs, on the CPU.",
        version: "0.1.0",
        subcommands: [
            // One entry per subcommand file; keep one per line.
            DataCommand.self,
            EvaluateBaselineCommand.self,
            CompareCommand.self,
            IDsCommand.self,
            TrainCommand.self,
            EvaluateCommand.self,
            RecommendCommand.self,
            CotrainCommand.self,
            GenerateCommand.self,
            BenchCommand.self,
            BaselineCommand.self,
            ZeroShotCommand.self,
            PretrainCommand.self,
            EmbedCommand.self,
            ServeCommand.self,
        ]
    )
}
