import ArgumentParser
import CoTrain
import Corpora
import Foundation
import IDGen
import Recommender
import Support
import TensorCore
import T5
import TextEncoder

/// `idgenrec cotrain`: alternating training of the ID generator and the recommender.
struct CotrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cotrain",
        abstract: "Co-train the ID generator and the recommender in alternating rounds, then evaluate on the test split.",
        discussion: """
        Rounds of [generator phase → regenerate all IDs (collision pass), rebuild the trie → recommender \
        phase]. The recommender is never reinitialised. --fixed-ids skips the generator phases (the \
        ablation at equal recommender epochs).
        """)

    @Option(name: .long, help: "Dataset folder.") var data: String
    @OptionGroup var dataset: DatasetOptions
    @Option(name: .long, help: "Run folder.") var out: String
    @Flag(name: .long, help: "Continue the run in --out from its last completed phase.") var resume = false
    @Option(name: .long, help: "Rounds.") var rounds: Int = 3
    @Option(name: .long, help: "generator-first or recommender-first.") var order: String = "generator-first"
    @Option(name: .long, help: "Recommender epochs per round.") var recommenderEpochs: Int = 10
    @Option(name: .long, help: "Generator optimiser steps per round.") var generatorSteps: Int = 200
    @Option(name: .long, help: "Training samples per generator step.") var generatorBatchSize: Int = 8
    @Option(name: .long, help: "Generator learning rate in its co-training phases.") var generatorLr: Float = 1e-4
    @Option(name: .long, help: "Weight of the regulariser toward the current IDs.") var regularizer: Float = 0.5
    @Option(name: .long, help: "Generator preset for the bootstrap (tiny, cpu, t5-small).") var generatorPreset: String = "tiny"
    @Option(name: .long, help: "Generator bootstrap epochs over the catalog.") var generatorEpochs: Int = 30
    @Option(name: .long, help: "Bootstrap the generator from this Hugging Face T5 folder (e.g. an 'idgenrec pretrain' output) instead of a random --generator-preset T5.") var generatorInitFrom: String?
    @Option(name: .long, help: "What the generator's bootstrap learns to write: 'keywords' (each item's IDF keywords) or 'semantic' (the words the sentence encoder finds most telling, as ids generate --generator semantic; needs the encoder).") var bootstrapTargets: String = "keywords"
    @Option(name: .long, help: "Item-embedding cache for --bootstrap-targets semantic (default: RUN/item-embeddings.safetensors).") var embeddings: String?
    @Option(name: .long, help: "Users in the per-round validation/test reports (0 = all).") var roundUsers: Int = 1000
    @Option(name: .long, help: "Test users in the final evaluation (seeded sample; default all).") var testUsers: Int?
    @Flag(name: .customLong("fixed-ids"), help: "Ablation: never train the generator (bootstrap IDs stay fixed).") var fixedIDs = false
    @Option(name: .long, help: "Start from the bootstrap (generator, vocabulary, IDs) of this earlier co-training run on the same data instead of bootstrapping anew: arms of an ablation share it exactly.") var bootstrapFrom: String?
    @Option(name: .long, help: "Not taken: co-training writes its own IDs with its generator. For a fixed table (semantic codes included) use 'idgenrec train --ids FILE'.")
    var ids: String?
    @OptionGroup var options: RecommenderOptions

    func run() throws {
        try runReportingErrors {
            if let ids {
                // The generator writes words; it cannot write or learn semantic codes, and a fixed
                // table of any kind is what `train` is for.
                let codes = try? SemanticIDs.read(URL(fileURLWithPath: ids)).codes
                if let codes {
                    throw ValidationErrorMessage(message: "--ids \(ids): a table of semantic codes (\(SemanticIDs.describe(codes))); co-training's ID generator writes words and cannot write codes. Train on the table with 'idgenrec train --data \(data) --ids \(ids) --out RUN'")
                }
                throw ValidationErrorMessage(message: "--ids: co-training writes its own IDs with its generator (--fixed-ids keeps its bootstrap IDs); to train on a fixed table use 'idgenrec train --data \(data) --ids \(ids) --out RUN'")
            }
            Log.info(BLAS.backend.description)
            let (domain, _) = try dataset.load(data)
            var config = CoTrainConfig()
            config.rounds = rounds
            guard let o = CoTrainConfig.Order(rawValue: order) else {
                throw ValidationErrorMessage(message: "--order: expected generator-first or recommender-first, found '\(order)'")
            }
            guard let gp = T5Config.Preset(rawValue: generatorPreset) else {
                throw ValidationErrorMessage(message: "--generator-preset: expected one of \(T5Config.Preset.allCases.map(\.rawValue).joined(separator: ", ")), found '\(generatorPreset)'")
            }
            guard rounds > 0, recommenderEpochs > 0, generatorSteps >= 0, generatorBatchSize > 0 else {
                throw ValidationErrorMessage(message: "--rounds, --recommender-epochs and --generator-batch-size must be positive, --generator-steps non-negative")
            }
            config.order = o
            config.recommenderEpochsPerRound = recommenderEpochs
            config.generatorSteps = generatorSteps
            config.generatorBatchSize = generatorBatchSize
            config.generatorLearningRate = generatorLr
            config.regularizerWeight = regularizer
            config.fixedIDs = fixedIDs
            config.roundEvaluationUsers = roundUsers
            config.recommender = try options.config()
            config.generator.preset = gp
            config.generator.epochs = generatorEpochs
            config.generator.seed = options.resolvedSeed
            guard ["keywords", "semantic"].contains(bootstrapTargets) else {
                throw ValidationErrorMessage(message: "--bootstrap-targets: expected 'keywords' or 'semantic', found '\(bootstrapTargets)'")
            }
            if bootstrapTargets == "semantic", bootstrapFrom != nil {
                throw ValidationErrorMessage(message: "--bootstrap-targets semantic trains a new bootstrap; --bootstrap-from reuses another run's (its targets are recorded there); pass one")
            }
            let contentMode = try options.itemContentMode()
            if bootstrapTargets == "keywords", embeddings != nil, contentMode == nil {
                throw ValidationErrorMessage(message: "--embeddings only applies to --bootstrap-targets semantic")
            }
            // Recorded in cotrain-config.json (so --resume refuses a change of targets); nil = keywords, as older runs.
            config.generator.bootstrapTargets = bootstrapTargets == "semantic" ? "semantic" : nil
            config.ids.seed = options.resolvedSeed
            let folder = URL(fileURLWithPath: out)
            // Item content: the catalog's embeddings (cached in --embeddings or RUN/item-embeddings.safetensors, shared
            // with semantic bootstrap targets), recorded in the recommender config (so --resume checks it).
            var contentEmbeddings: ItemEmbeddings?
            if let contentMode {
                let loaded: LoadedEncoder
                do {
                    loaded = try LoadedEncoder(explicit: options.encoder)
                } catch {
                    throw ValidationErrorMessage(message: "--item-content \(contentMode.rawValue) needs the sentence encoder to embed the catalog (make setup, --encoder DIR or $IDGENREC_ENCODER): \(error)")
                }
                let cache = URL(fileURLWithPath: embeddings ?? folder.appendingPathComponent("item-embeddings.safetensors").path)
                try FileManager.default.createDirectory(at: cache.deletingLastPathComponent(), withIntermediateDirectories: true)
                contentEmbeddings = try loaded.itemEmbeddings(domain.catalog, cache: cache)
                config.recommender.itemContent = ItemContent.settings(mode: contentMode, embeddings: contentEmbeddings!, source: nil)
            }
            let start = Date()
            let rounds = try CoTraining.run(folder: folder, dataPath: data, domain: domain, config: config, resume: resume,
                                            recommenderInit: options.initFrom.map { URL(fileURLWithPath: $0) },
                                            generatorInit: generatorInitFrom.map { URL(fileURLWithPath: $0) },
                                            bootstrapFrom: bootstrapFrom.map { URL(fileURLWithPath: $0) },
                                            bootstrapTargets: bootstrapTargets == "semantic" ? { [config] in try semanticTargets(domain.catalog, keywordCount: config.generator.keywordCount, fieldWeights: config.ids.fieldWeights) } : nil,
                                            itemEmbeddings: contentEmbeddings)
            let final = try RecommenderPipeline.load(folder: folder, domain: domain, dataPath: data)
            let report = try RecommenderPipeline.finalTest(final, dataPath: data, users: testUsers)
            print("# Co-training rounds (\(fixedIDs ? "fixed IDs" : "co-trained IDs"))\n")
            print(CoTraining.markdown(rounds))
            print(report.markdown, terminator: "")
            print(String(format: "total %.0fs; run folder %@ (try: idgenrec evaluate --run %@ --data %@)", Date().timeIntervalSince(start), out, out, data))
        }
    }

    /// Semantic ID words per item as the generator's bootstrap targets (what `ids generate
    /// --generator bootstrap --bootstrap-targets semantic` trains on): computed only when the run
    /// bootstraps (not on --resume after the bootstrap).
    private func semanticTargets(_ catalog: Catalog, keywordCount: Int, fieldWeights: FieldWeights) throws -> [[String]] {
        let loaded = try LoadedEncoder(explicit: options.encoder,
                                       missingHint: "--bootstrap-targets semantic needs the sentence encoder; without it, use --bootstrap-targets keywords")
        let cache = URL(fileURLWithPath: embeddings ?? URL(fileURLWithPath: out).appendingPathComponent("item-embeddings.safetensors").path)
        try FileManager.default.createDirectory(at: cache.deletingLastPathComponent(), withIntermediateDirectories: true)
        let vectors = try loaded.itemEmbeddings(catalog, cache: cache).vectors
        var semanticOptions = SemanticWordOptions()
        semanticOptions.targetUnits = min(keywordCount, 3)
        return try IDGeneration.semanticTargets(catalog: catalog, itemVectors: vectors, encoder: loaded.encoder,
                                                fieldWeights: fieldWeights, semanticOptions: semanticOptions)
    }
}
