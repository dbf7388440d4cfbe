import ArgumentParser
import Baselines
import Corpora
import Foundation
import Support
import TensorCore

/// `idgenrec baseline sasrec --data PATH --loss ce|bce --out RUN_DIR`: trains SASRec with early
/// stopping on validation Recall@10 and tests it with full ranking (both history conventions).
struct BaselineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baseline",
        abstract: "Train and evaluate a learned baseline (SASRec) through the full-ranking harness.",
        subcommands: [SASRecCommand.self])

    struct SASRecCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sasrec",
            abstract: "SASRec with full-softmax cross-entropy (ce) or BCE with one sampled negative (bce).",
            discussion: """
            Writes RUN_DIR/checkpoint/ (resumable with --resume), log.json, curve.svg, model.safetensors, \
            metrics.json|md + ranks.tsv (test, history not filtered), filter-seen/ (RecBole convention), report.json|md.
            """)

        @Option(name: .long, help: "Dataset folder.") var data: String
        @OptionGroup var dataset: DatasetOptions
        @Option(name: .long, help: "Loss: ce (full softmax) or bce (one sampled negative).") var loss: SASRecLoss = .ce
        @Option(name: .long, help: "Run folder.") var out: String
        @Option(name: .long, help: "Maximum epochs (early stopping usually ends sooner).") var epochs: Int = 200
        @Option(name: .long, help: "User windows per step.") var batchSize: Int = 256
        @Option(name: .long, help: "Hidden size.") var dim: Int = 64
        @Option(name: .long, help: "Transformer blocks.") var blocks: Int = 2
        @Option(name: .long, help: "Attention heads.") var heads: Int = 2
        @Option(name: .long, help: "FFN inner size.") var inner: Int = 256
        @Option(name: .long, help: "Hidden and attention dropout.") var dropout: Float = 0.5
        @Option(name: .long, help: "Most recent items kept per history.") var maxLength: Int = 50
        @Option(name: .long, help: "Adam learning rate.") var lr: Float = 1e-3
        @Option(name: .long, help: "Epochs without a better validation Recall@10 before stopping.") var patience: Int = 5
        @Option(name: .long, help: "Seed (initialisation, shuffling, negatives, dropout, user samples).") var seed: UInt64 = 0
        @Option(name: .long, help: "Validate early stopping on a seeded random sample of this many users (default: all).") var evalUsers: Int?
        @Option(name: .long, help: "Test on a seeded random sample of this many users (default: all).") var testUsers: Int?
        @Flag(name: .long, help: "Continue from RUN_DIR/checkpoint.") var resume = false
        @Flag(name: .long, help: "No progress output.") var quiet = false

        func run() throws {
            try runReportingErrors {
                if !quiet { Log.info(BLAS.backend.description) }
                do {
                    let (domain, _) = try dataset.load(data)
                    var model = SASRecConfig(itemCount: domain.catalog.count)
                    model.hiddenSize = dim
                    model.blocks = blocks
                    model.heads = heads
                    model.innerSize = inner
                    model.hiddenDropout = dropout
                    model.attentionDropout = dropout
                    model.maxLength = maxLength
                    var training = SASRecTrainingConfig(loss: loss)
                    training.epochs = epochs
                    training.batchSize = batchSize
                    training.learningRate = lr
                    training.patience = patience
                    training.seed = seed
                    training.evalUsers = evalUsers
                    let report = try SASRecRun.run(domain: domain, data: data, model: model, training: training,
                                                   runDirectory: URL(fileURLWithPath: out), resume: resume,
                                                   progress: !quiet, testUsers: testUsers)
                    print(report.markdown, terminator: "")
                } catch let error as BaselinesError {
                    throw ValidationErrorMessage(message: error.description)
                }
            }
        }
    }
}

extension SASRecLoss: ExpressibleByArgument {}
