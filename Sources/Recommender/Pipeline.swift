import Autograd
import Corpora
import Foundation
import IDGen
import Support
import TextEncoder
import T5
import Tokenizer

/// Sets up (or reopens) a recommender run folder and trains it: the glue behind
/// `idgenrec train`, also used by co-training and the demo.
public enum RecommenderPipeline {
    public struct Inputs {
        public var dataPath: String
        public var domain: Domain
        public var ids: IDTable
        public var idsSource: String
        /// A tokenizer to share (e.g. the generator's); nil trains one on the catalog text.
        public var tokenizer: Tokenizer?
        /// A Hugging Face T5 folder to start from; nil initialises from the preset.
        public var initFolder: URL?
        /// The sentence encoder, for `config.tokenInit == "encoder"`.
        public var encoder: SentenceEncoder?
        /// The semantic-code layout of `ids` (nil: textual IDs), from `SemanticIDs.read`.
        public var codes: SemanticCodeLayout?
        /// The file `ids` was read from: its `.json` and `.quantiser.safetensors` are copied into
        /// the run folder so the run is self-contained (zero-shot and `serve` code new items with it).
        public var idsURL: URL?
        /// The catalog's item embeddings, for `config.itemContent` (a new run copies them into
        /// its folder; a resumed run reads its copy).
        public var itemEmbeddings: ItemEmbeddings?
        public init(dataPath: String, domain: Domain, ids: IDTable, idsSource: String, tokenizer: Tokenizer? = nil, initFolder: URL? = nil,
                    encoder: SentenceEncoder? = nil, codes: SemanticCodeLayout? = nil, idsURL: URL? = nil, itemEmbeddings: ItemEmbeddings? = nil) {
            self.encoder = encoder
            self.codes = codes
            self.idsURL = idsURL
            self.itemEmbeddings = itemEmbeddings
            self.dataPath = dataPath
            self.domain = domain
            self.ids = ids
            self.idsSource = idsSource
            self.tokenizer = tokenizer
            self.initFolder = initFolder
        }
    }

    /// Opens a run: on resume, everything (config, tokenizer, IDs) comes from the folder and must
    /// match; otherwise the folder is created. Returns the runner ready to `train`.
    public static func open(folder: URL, inputs: Inputs, config: RecommenderConfig, resume: Bool) throws -> RecommenderRunner {
        let fm = FileManager.default
        let manifestURL = RunFolder.manifestURL(folder)
        var config = config
        let tokenizer: Tokenizer
        let ids: IDTable
        let model: T5Model
        if resume, fm.fileExists(atPath: manifestURL.path) {
            let manifest = try JSONOutput.decode(RunManifest.self, from: manifestURL)
            // An item-token run's last/ holds an item head and its optimizer moments: resuming it
            // as a textual-ID run (or the reverse) would train a different model on its weights.
            guard manifest.config.isItemToken == config.isItemToken else {
                throw RecommenderError.checkpoint(path: folder.path, message: manifest.config.isItemToken
                    ? "is an item-token run: resume it as one (ItemTokenRunner; train --resume follows run.json)"
                    : "is a \(manifest.config.scheme ?? IDScheme.textual.rawValue) run, not an item-token one: resume it without --scheme item-token, or choose another --out")
            }
            config.epochs = max(config.epochs, manifest.config.epochs)
            var stored = manifest.config
            stored.epochs = config.epochs
            config = stored
            tokenizer = try Tokenizer(contentsOf: RunFolder.tokenizerURL(folder))
            ids = try IDTable.read(RunFolder.idsURL(folder))
            if let codes = config.codes { try SemanticIDs.check(ids, layout: codes, file: RunFolder.idsURL(folder).path) }
            // No completed epoch (interrupted in epoch 1): nothing trained was saved, so the model
            // starts as the run first started it — from --init-from or the encoder's token
            // embeddings, not from the seed alone. Otherwise `train` loads last/ over it.
            let last = RunFolder.lastURL(folder)
            RunFolder.recover(last)
            let completed = fm.fileExists(atPath: last.appendingPathComponent("state.json").path)
            if !completed, let initFrom = config.initFrom {
                model = try T5Model.load(folder: URL(fileURLWithPath: initFrom))
                guard model.config == manifest.model else {
                    throw RecommenderError.checkpoint(path: initFrom, message: "is the run's --init-from folder, but its model config no longer matches run.json")
                }
            } else {
                var g = SeededGenerator(seed: config.seed)
                model = try T5Model(config: manifest.model, generator: &g)
                if !completed, config.tokenInit == "encoder" {
                    guard let encoder = inputs.encoder else {
                        throw RecommenderError.invalidInput("\(folder.path) has no completed epoch and was started with token initialisation 'encoder': resume it with --token-init encoder (the sentence encoder is needed again) or start it afresh")
                    }
                    _ = TokenEmbeddingInit.apply(to: model, tokenizer: tokenizer, encoder: encoder)
                }
            }
        } else {
            if fm.fileExists(atPath: RunFolder.lastURL(folder).path) {
                throw RecommenderError.checkpoint(path: folder.path, message: "holds a run already; pass --resume to continue it or choose another --out")
            }
            ids = inputs.ids
            config.codes = inputs.codes
            if config.scheme == nil { config.scheme = (inputs.codes == nil ? IDScheme.textual : .semantic).rawValue }
            if let codes = inputs.codes {
                try SemanticIDs.check(ids, layout: codes, file: inputs.idsURL?.path ?? inputs.idsSource)
                if config.useUserIDs {
                    throw RecommenderError.invalidInput("user IDs are made of the words of the user's item IDs; semantic IDs have no words (leave --user-ids off for a table of semantic codes)")
                }
            }
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            if let initFolder = inputs.initFolder {
                config.initFrom = initFolder.standardizedFileURL.path
                model = try T5Model.load(folder: initFolder)
                tokenizer = try inputs.tokenizer ?? Tokenizer(contentsOf: initFolder.appendingPathComponent("spiece.model"))
            } else {
                tokenizer = try inputs.tokenizer ?? SharedVocabulary.train(catalogs: [inputs.domain.catalog], size: config.vocabularySize,
                                                                                     framing: PromptTemplates.vocabularyFraming(PromptTemplates.named(config.promptFraming)),
                                                                                     symbols: inputs.codes.map(SemanticIDs.vocabularySymbols) ?? [])
                var t5 = T5Config.preset(config.preset, vocabularySize: tokenizer.vocabularySize)
                t5.dropout_rate = config.dropout
                var g = SeededGenerator(seed: config.seed)
                model = try T5Model(config: t5, generator: &g)
                if config.tokenInit == "encoder" {
                    guard let encoder = inputs.encoder else {
                        throw RecommenderError.invalidInput("token initialisation 'encoder' needs the sentence encoder (make setup, or --encoder DIR)")
                    }
                    let report = TokenEmbeddingInit.apply(to: model, tokenizer: tokenizer, encoder: encoder)
                    Log.info(String(format: "token embeddings from the encoder: %d of %d pieces, PCA to %d keeps %.1f%% of the variance (%.1fs)",
                                    report.covered, report.vocabulary, t5.d_model, report.explainedVariance * 100, report.seconds))
                    try AtomicFile.writeJSON(report, to: folder.appendingPathComponent("token_init.json"))
                } else if let other = config.tokenInit, other != "random" {
                    throw RecommenderError.invalidInput("token initialisation: expected 'random' or 'encoder', found '\(other)'")
                }
            }
            if config.tokenInit == "encoder", inputs.initFolder != nil {
                Log.info("--token-init encoder is ignored for a model started from --init-from (its embeddings are kept)")
            }
            guard tokenizer.vocabularySize <= model.config.vocab_size else {
                throw T5Error.tokenizerMismatch("the tokenizer has \(tokenizer.vocabularySize) pieces, the model's vocab_size is \(model.config.vocab_size)")
            }
            if let codes = inputs.codes { try SemanticIDs.checkVocabulary(tokenizer, layout: codes, source: inputs.initFolder?.path ?? "the run's tokenizer") }
            try tokenizer.save(to: RunFolder.tokenizerURL(folder))
            try ids.write(to: RunFolder.idsURL(folder))
            if let source = inputs.idsURL { try RunFolder.copyIDFiles(from: source, to: folder, semantic: inputs.codes != nil) }
        }
        let split = try Split.leaveOneOut(inputs.domain, historyCap: config.historyCap)
        try LeakChecks.checkSplit(split, against: inputs.domain)
        var userIDs: [String]?
        if config.useUserIDs {
            if resume, let stored = try storedUserIDs(folder, split: split) {
                userIDs = stored
            } else {
                let (made, report) = try UserIDs.assign(split: split, items: ids)
                Log.info("user IDs from training items only: \(made.count) users, mean \(String(format: "%.1f", report.meanWords)) words, \(report.lastResortWord + report.lastResortNumber) by last resort")
                try UserIDs.write(users: split.users, ids: made, to: RunFolder.userIDsURL(folder))
                userIDs = made
            }
        }
        var content: ItemContent?
        if let settings = config.itemContent {
            if resume, fm.fileExists(atPath: folder.appendingPathComponent(ItemContent.embeddingsFile).path) {
                content = try ItemContent.load(run: folder, settings: settings, catalog: inputs.domain.catalog, dModel: model.config.d_model, checkpoint: nil)
            } else {
                guard let embeddings = inputs.itemEmbeddings else {
                    throw RecommenderError.invalidInput("item content '\(settings.mode.rawValue)' needs the catalog's item embeddings (the sentence encoder, or --item-embeddings FILE from idgenrec embed)")
                }
                content = try ItemContent(mode: settings.mode, embeddings: embeddings, catalog: inputs.domain.catalog,
                                          source: settings.source ?? "item embeddings", dModel: model.config.d_model)
                try embeddings.save(to: folder.appendingPathComponent(ItemContent.embeddingsFile))
            }
        }
        let data = try RecommenderData(domain: inputs.domain, split: split, ids: ids, tokenizer: tokenizer, config: config, userIDs: userIDs)
        let manifest = RunManifest(data: inputs.dataPath, idsSource: inputs.idsSource, tokenizerHash: tokenizer.modelHash, items: inputs.domain.catalog.count,
                                   users: split.users.count, trainingSamples: split.trainingSamples(historyCap: config.historyCap).count,
                                   config: config, model: model.config)
        try AtomicFile.writeJSON(manifest, to: manifestURL)
        return RecommenderRunner(folder: folder, trainer: RecommenderTrainer(config: config, data: data, content: content), model: model)
    }

    /// Which saved model `load` evaluates.
    public enum Checkpoint: String, CaseIterable, Sendable {
        /// `best/` (best validation NDCG@10), or `last/` when the run has no `best/`.
        case best
        /// `last/`: the model after the last completed epoch.
        case last
    }

    /// Reopens a finished (or interrupted) run for evaluation or recommendation, with the best
    /// checkpoint (or the last when no best exists), or the last one when asked.
    public static func load(folder: URL, domain: Domain, dataPath: String, checkpoint: Checkpoint = .best) throws -> RecommenderRunner {
        let manifest = try JSONOutput.decode(RunManifest.self, from: RunFolder.manifestURL(folder))
        let tokenizer = try Tokenizer(contentsOf: RunFolder.tokenizerURL(folder))
        var ids = try IDTable.read(RunFolder.idsURL(folder))
        let catalogCount = domain.catalog.count
        if ids.count > catalogCount, Array(ids.itemIDs.prefix(catalogCount)) == domain.catalog.ids {
            // Rows past the catalog are items added by `idgenrec serve` (docs/serve.md): they are
            // not in the dataset, so evaluation and `recommend` leave them out; serve reads them back.
            ids = try IDTable(itemIDs: Array(ids.itemIDs.prefix(catalogCount)), textualIDs: Array(ids.textualIDs.prefix(catalogCount)))
        }
        guard ids.itemIDs == domain.catalog.ids else {
            throw RecommenderError.checkpoint(path: folder.path, message: "its ID table does not match the catalog of \(dataPath) (\(ids.count) IDs, \(domain.catalog.count) items)")
        }
        if let codes = manifest.config.codes { try SemanticIDs.check(ids, layout: codes, file: RunFolder.idsURL(folder).path) }
        let modelURL = checkpoint == .last ? RunFolder.lastURL(folder) : RunFolder.evaluatedModelURL(folder)
        guard FileManager.default.fileExists(atPath: modelURL.appendingPathComponent("model.safetensors").path) else {
            throw RecommenderError.checkpoint(path: folder.path, message: "has no saved model in \(modelURL.lastPathComponent)/ (a run writes last/ after its first completed epoch)")
        }
        let model = try T5Model.load(folder: modelURL)
        let split = try Split.leaveOneOut(domain, historyCap: manifest.config.historyCap)
        var userIDs: [String]?
        if manifest.config.useUserIDs {
            guard let stored = try storedUserIDs(folder, split: split) else {
                throw RecommenderError.checkpoint(path: folder.path, message: "was trained with user IDs but has no \(RunFolder.userIDsURL(folder).lastPathComponent)")
            }
            userIDs = stored
        }
        let data = try RecommenderData(domain: domain, split: split, ids: ids, tokenizer: tokenizer, config: manifest.config, userIDs: userIDs)
        let content = try manifest.config.itemContent.map {
            try ItemContent.load(run: folder, settings: $0, catalog: domain.catalog, dModel: model.config.d_model, checkpoint: modelURL)
        }
        return RecommenderRunner(folder: folder, trainer: RecommenderTrainer(config: manifest.config, data: data, content: content), model: model)
    }

    /// The run's `user_ids.tsv` in `split.users` order, or nil when the folder has none.
    static func storedUserIDs(_ folder: URL, split: Split) throws -> [String]? {
        let url = RunFolder.userIDsURL(folder)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try UserIDs.read(url, users: split.users)
    }

    /// Test evaluation over all users, saved as metrics.json / metrics.md / ranks.tsv.
    public static func finalTest(_ runner: RecommenderRunner, dataPath: String, users: Int? = nil) throws -> MetricsReport {
        var (report, ranks) = try runner.evaluate(part: .test, users: users, progress: true)
        report.data = dataPath
        try EvaluationRun.save(report: report, ranks: ranks, folder: runner.folder)
        return report
    }
}
