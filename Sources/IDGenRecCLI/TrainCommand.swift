import ArgumentParser
import TextEncoder
import Corpora
import Foundation
import IDGen
import Recommender
import Support
import TensorCore
import T5

/// Options shared by `train` and `cotrain` for the recommender.
struct RecommenderOptions: ParsableArguments {
    // The values are optional so that `--resume` can tell a flag given from one left out (a
    // resumed run keeps its own settings, and a given flag that contradicts them is an error, even
    // one passed with the default value); `config()` fills the defaults (`RecommenderConfig()`'s).
    @Option(name: .long, help: "Model preset when not starting from --init: tiny, cpu, t5-small (default cpu).") var preset: String?
    @Option(name: .long, help: "Start from this Hugging Face T5 folder (config.json, model.safetensors, spiece.model).") var initFrom: String?
    @Option(name: .long, help: "Epochs (default 10; with --resume, the run's own, and a larger value extends it).") var epochs: Int?
    @Option(name: .long, help: "Batch size (default 64).") var batchSize: Int?
    @Option(name: .long, help: "Learning rate (AdamW, 5% warm-up, linear decay; default 0.001).") var lr: Float?
    @Option(name: .long, help: "Dropout (default 0.1).") var dropout: Float?
    @Option(name: .long, help: "AdamW decoupled weight decay, not on layer norms (default 0.01).") var weightDecay: Float?
    @Option(name: .long, help: "History items per prompt (default 20).") var history: Int?
    @Option(name: .long, help: "Templates drawn per training sample per epoch (default 1).") var templates: Int?
    @Option(name: .long, help: "SentencePiece vocabulary size, trained on the catalog text (default 8000).") var vocabularySize: Int?
    @Option(name: .long, help: "Validation users per epoch (seeded sample; 0 = all; default 1000).") var validationUsers: Int?
    @Option(name: .long, help: "Stop after this many epochs without a better validation NDCG@10.") var patience: Int?
    @Option(name: .long, help: "Beam size at evaluation (= ranked list length; default 10).") var beams: Int?
    @Option(name: .long, help: "Seed (data order, dropout, initialisation, user samples; default 0).") var seed: UInt64?
    @Option(name: .long, help: "Token embedding initialisation of a model from --preset: 'random' (default) or 'encoder' (each vocabulary piece through the sentence encoder, PCA to d_model).")
    var tokenInit: String?
    @Option(name: .long, help: "Keep the token embedding fixed for this many first epochs (default 0).") var freezeEmbeddingsEpochs: Int?
    @Option(name: .long, help: "Sentence-transformers BERT folder (default: $IDGENREC_ENCODER, else checkpoints/encoders/all-MiniLM-L6-v2).") var encoder: String?
    @Option(name: .long, help: "Prompt framing: 'paper' (ten paraphrased instruction templates) or 'short' (user : <history IDs>). Default: paper; short for --scheme item-token.") var prompt: String?
    @Option(name: .long, help: "Item content in the prompt: 'off' (default), 'add' (each history item's sentence embedding, through a learned projection, added to its ID tokens' embeddings) or 'token' (one extra input position per history item carrying it). Embeddings from --item-embeddings FILE or computed with the sentence encoder.")
    var itemContent: String?

    /// The seed, default 0 (for the commands that seed more than the recommender).
    var resolvedSeed: UInt64 { seed ?? RecommenderConfig().seed }

    /// The `--item-content` mode, nil for off.
    func itemContentMode() throws -> ItemContentSettings.Mode? {
        let itemContent = self.itemContent ?? "off"
        if itemContent == "off" { return nil }
        guard let mode = ItemContentSettings.Mode(rawValue: itemContent) else {
            throw ValidationErrorMessage(message: "--item-content: expected off, add or token, found '\(itemContent)'")
        }
        return mode
    }

    /// The sentence encoder when the options need it.
    func loadEncoder() throws -> SentenceEncoder? {
        tokenInit == "encoder" ? try LoadedEncoder(explicit: encoder).encoder : nil
    }

    func config() throws -> RecommenderConfig {
        var c = RecommenderConfig()
        let preset = self.preset ?? c.preset.rawValue
        guard let p = T5Config.Preset(rawValue: preset) else {
            throw ValidationErrorMessage(message: "--preset: expected one of \(T5Config.Preset.allCases.map(\.rawValue).joined(separator: ", ")), found '\(preset)'")
        }
        c.preset = p
        c.epochs = epochs ?? c.epochs
        c.batchSize = batchSize ?? c.batchSize
        c.historyCap = history ?? c.historyCap
        c.templatesPerSample = templates ?? c.templatesPerSample
        c.numBeams = beams ?? c.numBeams
        guard c.epochs > 0, c.batchSize > 0, c.historyCap > 0, c.templatesPerSample > 0, c.numBeams > 0 else {
            throw ValidationErrorMessage(message: "--epochs, --batch-size, --history, --templates and --beams must be positive")
        }
        c.learningRate = lr ?? c.learningRate
        c.dropout = dropout ?? c.dropout
        c.weightDecay = weightDecay ?? c.weightDecay
        guard c.weightDecay >= 0, c.weightDecay.isFinite else { throw ValidationErrorMessage(message: "--weight-decay must be 0 or more, found \(c.weightDecay)") }
        c.vocabularySize = vocabularySize ?? c.vocabularySize
        c.validationUsers = validationUsers ?? c.validationUsers
        c.patience = patience
        c.seed = seed ?? c.seed
        let tokenInit = self.tokenInit ?? "random"
        guard ["random", "encoder"].contains(tokenInit) else {
            throw ValidationErrorMessage(message: "--token-init: expected 'random' or 'encoder', found '\(tokenInit)'")
        }
        let frozen = freezeEmbeddingsEpochs ?? 0
        guard frozen >= 0 else { throw ValidationErrorMessage(message: "--freeze-embeddings-epochs must be 0 or more") }
        c.tokenInit = tokenInit == "random" ? nil : tokenInit
        c.frozenEmbeddingEpochs = frozen == 0 ? nil : frozen
        let framing = prompt ?? "paper"
        guard PromptTemplates.framings.contains(framing) else {
            throw ValidationErrorMessage(message: "--prompt: expected one of \(PromptTemplates.framings.joined(separator: ", ")), found '\(framing)'")
        }
        c.promptFraming = framing == "paper" ? nil : framing
        return c
    }

    /// On `--resume`: the flags given whose value differs from the run's `saved` config (a
    /// resumed run keeps its own settings, so such a flag would be silently ignored). A flag left
    /// out never conflicts; one given with the default value does when the run used another.
    /// `--epochs` may extend the run and is not compared.
    func resumeConflicts(saved: RecommenderConfig) throws -> [String] {
        let given = try config()
        let fields: [(flag: String, isGiven: Bool, value: (RecommenderConfig) -> String)] = [
            ("--preset", preset != nil, { $0.preset.rawValue }), ("--batch-size", batchSize != nil, { "\($0.batchSize)" }),
            ("--lr", lr != nil, { "\($0.learningRate)" }), ("--dropout", dropout != nil, { "\($0.dropout)" }),
            ("--weight-decay", weightDecay != nil, { "\($0.weightDecay)" }), ("--history", history != nil, { "\($0.historyCap)" }),
            ("--templates", templates != nil, { "\($0.templatesPerSample)" }), ("--vocabulary-size", vocabularySize != nil, { "\($0.vocabularySize)" }),
            ("--validation-users", validationUsers != nil, { "\($0.validationUsers)" }),
            ("--patience", patience != nil, { $0.patience.map(String.init) ?? "none" }), ("--beams", beams != nil, { "\($0.numBeams)" }),
            ("--seed", seed != nil, { "\($0.seed)" }), ("--token-init", tokenInit != nil, { $0.tokenInit ?? "random" }),
            ("--freeze-embeddings-epochs", freezeEmbeddingsEpochs != nil, { "\($0.frozenEmbeddingEpochs ?? 0)" }),
            ("--prompt", prompt != nil, { $0.promptFraming ?? "paper" }),
        ]
        return fields.compactMap { field in
            guard field.isGiven else { return nil }
            let value = field.value(given), run = field.value(saved)
            return value != run ? "\(field.flag) \(value) (the run's: \(run))" : nil
        }
    }
}

/// `idgenrec train`: the text-to-text recommender on fixed textual IDs.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train the T5 recommender on item IDs (textual, or semantic codes) and evaluate it on the test split.")

    @Option(name: .long, help: "Dataset folder, DIR1,DIR2,… or a folder of domain folders (several domains are merged: one model, one vocabulary).") var data: String
    @OptionGroup var dataset: DatasetOptions
    @Option(name: .long, help: "ID table from 'idgenrec ids generate' (default: keyword IDs made here); a table of semantic codes (--scheme semantic) trains a semantic-ID run.") var ids: String?
    @Option(name: .long, help: "Run folder.") var out: String
    @Flag(name: .long, help: "Continue the run in --out from its last completed epoch.") var resume = false
    @Option(name: .long, help: "Test users to evaluate at the end (seeded sample; default all).") var testUsers: Int?
    @Flag(name: .customLong("user-ids"), help: "Put a leak-free user ID in every prompt (words of the user's training items' IDs, most recent first; saved as user_ids.tsv).")
    var userIDs = false
    @OptionGroup var options: RecommenderOptions
    @OptionGroup var itemToken: ItemTokenOptions

    /// The ID table to train on and where it came from: `--ids` (textual IDs, or semantic codes
    /// when its `.json` records a code layout: `SemanticIDs.read`), else keyword IDs made here.
    func idTable(_ domain: Domain) throws -> (ResolvedIDTable, String) {
        if let ids { return (try SemanticIDs.read(URL(fileURLWithPath: ids)), ids) }
        return (ResolvedIDTable(table: try IDGeneration.keywords(catalog: domain.catalog).table), "keywords (4 most distinctive words)")
    }

    func run() throws {
        try runReportingErrors {
            Log.info(BLAS.backend.description)
            let (domain, _) = try dataset.load(data)
            var config = try options.config()
            config.useUserIDs = userIDs
            let contentMode = try options.itemContentMode()
            let manifestURL = RunFolder.manifestURL(URL(fileURLWithPath: out))
            if resume, FileManager.default.fileExists(atPath: manifestURL.path) {
                // The run keeps its own settings (run.json): refuse flags that contradict them
                // rather than ignore them, and follow the run's scheme without --scheme.
                let saved = try JSONOutput.decode(RunManifest.self, from: manifestURL).config
                // Without --epochs the run keeps its own count (the default 10 would extend a shorter run).
                if options.epochs == nil { config.epochs = saved.epochs }
                var conflicts = try options.resumeConflicts(saved: saved)
                conflicts += try itemToken.resumeConflicts(saved: saved, config: &config)
                if userIDs, !saved.useUserIDs { conflicts.append("--user-ids (the run has none)") }
                if options.itemContent != nil, contentMode != saved.itemContent?.mode {
                    conflicts.append("--item-content \(contentMode?.rawValue ?? "off") (the run's: \(saved.itemContent?.mode.rawValue ?? "off"))")
                }
                if let ids {
                    let given = try SemanticIDs.read(URL(fileURLWithPath: ids)).table
                    let stored = try IDTable.read(RunFolder.idsURL(URL(fileURLWithPath: out)))
                    if given.itemIDs != stored.itemIDs || given.textualIDs != stored.textualIDs { conflicts.append("--ids \(ids) (differs from the run's ids.tsv)") }
                }
                guard conflicts.isEmpty else {
                    throw ValidationErrorMessage(message: "--resume continues the run in \(out) with its own settings (run.json), but these flags contradict them: \(conflicts.joined(separator: "; ")). Omit them (or pass the run's values), or start a new --out")
                }
                if saved.isItemToken {
                    try trainItemToken(domain: domain, config: config)
                    return
                }
            } else if try itemToken.apply(to: &config, itemContent: contentMode != nil, promptGiven: options.prompt != nil) {
                try trainItemToken(domain: domain, config: config)
                return
            }
            let (resolved, source) = try idTable(domain)
            if let codes = resolved.codes { Log.info("semantic IDs: \(SemanticIDs.describe(codes)); their tokens join the vocabulary as whole pieces") }
            // A resumed run reads its item content from its folder; --resume on a new folder starts one.
            let resumesRun = resume && FileManager.default.fileExists(atPath: RunFolder.manifestURL(URL(fileURLWithPath: out)).path)
            let runner = try RecommenderPipeline.open(
                folder: URL(fileURLWithPath: out),
                inputs: .init(dataPath: data, domain: domain, ids: resolved.table, idsSource: source, initFolder: options.initFrom.map { URL(fileURLWithPath: $0) },
                               encoder: try options.loadEncoder(), codes: resolved.codes, idsURL: resolved.url,
                               itemEmbeddings: resumesRun ? nil : try itemContentEmbeddings(domain, mode: contentMode, config: &config)),
                config: config, resume: resume)
            Log.info("training \(runner.model.config.d_model)-d T5 (\(runner.model.config.num_layers)+\(runner.model.config.decoderLayers) layers, vocab \(runner.model.config.vocab_size)) on \(runner.trainer.batchesPerEpoch()) batches per epoch")
            let start = Date()
            try runner.train(resume: resume)
            let trainSeconds = Date().timeIntervalSince(start)
            let final = try RecommenderPipeline.load(folder: runner.folder, domain: domain, dataPath: data)
            let report = try RecommenderPipeline.finalTest(final, dataPath: data, users: testUsers)
            print(report.markdown, terminator: "")
            try printPerDomain(domain: domain, folder: runner.folder)
            print(String(format: "training %.0fs; run folder %@", trainSeconds, out))
        }
    }
}

extension TrainCommand {
    /// For `--item-content add|token` on a new run: the catalog's item embeddings, from
    /// `--item-embeddings FILE` or computed with the sentence encoder (cached in the run folder
    /// as content_embeddings.safetensors), recorded in `config.itemContent`.
    func itemContentEmbeddings(_ domain: Domain, mode: ItemContentSettings.Mode?, config: inout RecommenderConfig) throws -> ItemEmbeddings? {
        guard let mode else { return nil }
        let embeddings: ItemEmbeddings
        var source: String?
        if let path = itemToken.itemEmbeddings {
            source = URL(fileURLWithPath: path).standardizedFileURL.path
            embeddings = try ItemEmbeddings.load(URL(fileURLWithPath: path))
        } else {
            embeddings = try embedCatalog(domain, as: ItemContent.embeddingsFile, need: "--item-content \(mode.rawValue) embeds the catalog's texts with it")
        }
        config.itemContent = ItemContent.settings(mode: mode, embeddings: embeddings, source: source)
        return embeddings
    }

    /// The catalog's item embeddings by the sentence encoder, cached in the run folder as `file`
    /// (a rerun reuses them). `need` says why, in the error for a missing encoder.
    func embedCatalog(_ domain: Domain, as file: String, need: String) throws -> ItemEmbeddings {
        let loaded = try LoadedEncoder(explicit: options.encoder, missingHint: "\(need); or pass --item-embeddings FILE from idgenrec embed")
        let folder = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return try loaded.itemEmbeddings(domain.catalog, cache: folder.appendingPathComponent(file))
    }
}

/// `idgenrec evaluate --run DIR --data PATH`.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate", abstract: "Full-catalog evaluation of a trained recommender run.")

    @Option(name: .customLong("run"), help: "Run folder.") var runFolder: String
    @Option(name: .long, help: "Dataset folder (the run's).") var data: String
    @OptionGroup var dataset: DatasetOptions
    @Option(name: .long, help: "test or validation.") var split: EvaluationPart = .test
    @Option(name: .long, help: "Seeded random sample of users (default all).") var users: Int?
    @Option(name: .long, help: "Write the JSON report here.") var json: String?
    @Option(name: .long, help: "Model to evaluate: best (best validation NDCG@10; last/ when there is none) or last (after the last completed epoch).") var checkpoint: String = "best"

    func run() throws {
        try runReportingErrors {
            guard let which = RecommenderPipeline.Checkpoint(rawValue: checkpoint) else {
                throw ValidationErrorMessage(message: "--checkpoint: expected best or last, found '\(checkpoint)'")
            }
            let (domain, _) = try dataset.load(data)
            var (report, ranks): (MetricsReport, [UserRank])
            if RecommenderPipeline.isItemTokenRun(URL(fileURLWithPath: runFolder)) {
                let runner = try ItemTokenRunner.load(folder: URL(fileURLWithPath: runFolder), domain: domain, dataPath: data, checkpoint: which)
                (report, ranks) = try runner.evaluate(part: split, users: users, progress: true)
            } else {
                let runner = try RecommenderPipeline.load(folder: URL(fileURLWithPath: runFolder), domain: domain, dataPath: data, checkpoint: which)
                (report, ranks) = try runner.evaluate(part: split, users: users, progress: true)
            }
            report.config["checkpoint"] = which == .last ? "last" : RunFolder.evaluatedModelURL(URL(fileURLWithPath: runFolder)).lastPathComponent
            report.data = data
            if let json { try EvaluationRun.save(report: report, ranks: ranks, json: URL(fileURLWithPath: json)) }
            print(report.markdown, terminator: "")
            if MultiDomain.parts(ofName: domain.name).count > 1 {
                print("\nPer domain:\n\n" + Metrics.perDomainMarkdown(Metrics.perDomain(ranks)), terminator: "")
            }
        }
    }
}

/// `idgenrec recommend --run DIR --data PATH --history "a,b,c"`.
struct RecommendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recommend", abstract: "Recommend the next items for a history of item ids.")

    @Option(name: .customLong("run"), help: "Run folder.") var runFolder: String
    @Option(name: .long, help: "Dataset folder (the run's).") var data: String
    @OptionGroup var dataset: DatasetOptions
    @Option(name: .long, help: "Comma-separated item ids, oldest first.") var history: String
    @Option(name: .short, help: "How many items.") var k: Int = 10
    @Option(name: .long, help: "User id, for a run trained with --user-ids (its prompts hold the user's ID).") var user: String?

    func run() throws {
        try runReportingErrors {
            let (domain, _) = try dataset.load(data)
            let items = history.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let recommendations: [Recommendation]
            do {
                if RecommenderPipeline.isItemTokenRun(URL(fileURLWithPath: runFolder)) {
                    let runner = try ItemTokenRunner.load(folder: URL(fileURLWithPath: runFolder), domain: domain, dataPath: data)
                    recommendations = try runner.recommend(history: items, count: k)
                } else {
                    let runner = try RecommenderPipeline.load(folder: URL(fileURLWithPath: runFolder), domain: domain, dataPath: data)
                    recommendations = try runner.recommend(history: items, user: user, count: k)
                }
            } catch let RecommenderError.invalidInput(message) {
                // The library names the argument ("history: …", "user: …"); the CLI names the flag.
                throw ValidationErrorMessage(message: "--" + message)
            }
            print("rank\titem\ttextual id\ttitle")
            for (r, item) in recommendations.enumerated() {
                print("\(r + 1)\t\(item.itemID)\t\(item.textualID)\t\(item.title)")
            }
        }
    }
}

/// For a merged domain: the final test per domain (from the run's ranks.tsv), printed and saved
/// as `metrics.domains.json`.
func printPerDomain(domain: Domain, folder: URL) throws {
    guard MultiDomain.parts(ofName: domain.name).count > 1 else { return }
    let ranks = try RanksFile.read(folder.appendingPathComponent("ranks.tsv"))
    let parts = Metrics.perDomain(ranks)
    try AtomicFile.writeJSON(parts, to: folder.appendingPathComponent("metrics.domains.json"))
    print("\nPer domain (test):\n\n" + Metrics.perDomainMarkdown(parts), terminator: "")
}
