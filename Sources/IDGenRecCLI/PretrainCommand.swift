import ArgumentParser
import Corpora
import Foundation
import Pretrain
import Support
import TensorCore
import T5

/// `idgenrec pretrain`: continued pre-training of a T5 with span corruption on catalog text
/// (and users' training histories), producing a Hugging Face T5 folder for `--init-from`.
struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Pre-train a T5 with span corruption on item text and training-part behaviour text.",
        discussion: """
        T5 span corruption (15% of tokens in spans of mean length 3, sentinels <extra_id_N>). The \
        corpus: each item's text, and with --behaviour titles each user's training part (never the \
        validation or test item) as item titles joined by ' ; '. --out becomes a Hugging Face T5 \
        folder (config.json, model.safetensors, spiece.model) plus pretrain.json, log.json and \
        curve.svg; use it with 'train --init-from', 'cotrain --init-from / --generator-init-from' \
        and 'ids generate --init-from'.
        """)

    @Option(name: .long, help: "Dataset folder, DIR1,DIR2,… or a folder of domain folders (every domain goes into the corpus).") var data: String
    @OptionGroup var dataset: DatasetOptions
    @Option(name: .long, help: "Output folder.") var out: String
    @Flag(name: .long, help: "Continue the run in --out from its last checkpoint (same options).") var resume = false
    @Option(name: .long, help: "Model preset: tiny, cpu, t5-small.") var preset: String = "cpu"
    @Option(name: .long, help: "Time budget in minutes (default 30 when neither --steps nor --epochs); the schedule is fitted to it.") var minutes: Double?
    @Option(name: .long, help: "Optimiser steps instead of a time budget.") var steps: Int?
    @Option(name: .long, help: "Epochs over the corpus instead of a time budget.") var epochs: Int?
    @Option(name: .long, help: "Behaviour text: titles (training histories as item titles) or none.") var behaviour: String = "titles"
    @Option(name: .long, help: "SentencePiece vocabulary size (100 sentinels included).") var vocabularySize: Int = 8000
    @Option(name: .long, help: "Encoder input length after corruption (eos included).") var sequenceLength: Int = 128
    @Option(name: .long, help: "Batch size (examples per step).") var batchSize: Int = 32
    @Option(name: .long, help: "Peak learning rate (AdamW, 5% warm-up, linear decay to 0).") var lr: Float = 1e-3
    @Option(name: .long, help: "Dropout while pre-training (0 = off, as T5 v1.1; config.json then says 0.1 for fine-tuning).") var dropout: Float = 0
    @Option(name: .long, help: "Checkpoint every this many steps.") var checkpointEvery: Int = 200
    @Option(name: .long, help: "Seed (vocabulary, initialisation, data order, masks).") var seed: UInt64 = 0

    func run() throws {
        try runReportingErrors {
            Log.info(BLAS.backend.description)
            let start = Date()
            var config = PretrainConfig()
            guard let p = T5Config.Preset(rawValue: preset) else {
                throw ValidationErrorMessage(message: "--preset: expected one of \(T5Config.Preset.allCases.map(\.rawValue).joined(separator: ", ")), found '\(preset)'")
            }
            guard let b = BehaviourText(rawValue: behaviour) else {
                throw ValidationErrorMessage(message: "--behaviour: expected titles or none, found '\(behaviour)'")
            }
            guard [minutes != nil, steps != nil, epochs != nil].filter({ $0 }).count <= 1 else {
                throw ValidationErrorMessage(message: "give at most one of --minutes, --steps, --epochs")
            }
            config.preset = p
            config.behaviour = b
            config.budget = steps.map { .steps($0) } ?? epochs.map { .epochs($0) } ?? .minutes(minutes ?? 30)
            config.vocabularySize = vocabularySize
            config.sequenceLength = sequenceLength
            config.batchSize = batchSize
            config.learningRate = lr
            config.dropout = dropout
            config.checkpointEvery = checkpointEvery
            config.seed = seed
            try config.validate()

            if let sampleUsers = dataset.sampleUsers, sampleUsers < 1 {
                throw ValidationErrorMessage(message: "--sample-users must be at least 1, got \(sampleUsers)")
            }
            var sources: [PretrainSource] = []
            for folder in try DatasetOptions.domainFolders(data, format: dataset.format) {
                var domain = try DatasetImporter.load(folder, options: dataset.importOptions)
                if let n = dataset.sampleUsers { domain = domain.sampledUsers(n, seed: dataset.sampleSeed) }
                for w in domain.report.warnings { Log.info("WARNING: \(folder.path): \(w)") }
                sources.append(PretrainSource(path: folder.path, domain: domain))
            }
            let corpus = try PretrainCorpus.build(sources, behaviour: b)
            for s in corpus.sources {
                Log.info("\(s.path): \(s.itemDocuments) item documents, \(s.behaviourDocuments) behaviour documents (training parts only)")
            }
            let trainer = Pretrainer(folder: URL(fileURLWithPath: out), config: config)
            let manifest = try trainer.run(corpus: corpus, resume: resume, budgetStart: start)
            print(String(format: "pretrain: %d steps (%.2f epochs), final loss %.4f, %.0f tokens/s, %.2f steps/s, training %.0fs, wall %.0fs",
                         manifest.stepsDone, manifest.epochsDone, manifest.finalLoss ?? .nan, manifest.tokensPerSecond, manifest.stepsPerSecond,
                         manifest.trainingSeconds, Date().timeIntervalSince(start)))
            print("wrote \(out) (config.json, model.safetensors, spiece.model, pretrain.json); use it with --init-from \(out)")
        }
    }
}
