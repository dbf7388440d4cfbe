import Autograd
import Corpora
import Foundation
import IDGen
import Optim
import Support
import T5
import Tokenizer

/// Resumable training state, saved after every completed epoch.
public struct RunState: Codable, Sendable {
    public var completedEpochs = 0
    public var globalStep = 0
    public var dropout: SeededGenerator
    public var bestScore: Double?
    public var bestEpoch: Int?
    public var epochsWithoutImprovement = 0
    public var log: [EpochLog] = []
    /// The item-token scheme's sampled-loss generator (uniform negatives) after the last
    /// completed epoch, so a resumed run draws the same negatives; nil for other runs.
    public var negatives: SeededGenerator?
}

/// What a run folder records about its inputs (besides the config).
public struct RunManifest: Codable, Sendable {
    public var data: String
    public var idsSource: String
    public var tokenizerHash: String
    public var items: Int
    public var users: Int
    public var trainingSamples: Int
    public var config: RecommenderConfig
    public var model: T5Config

    public init(data: String, idsSource: String, tokenizerHash: String, items: Int, users: Int, trainingSamples: Int,
                config: RecommenderConfig, model: T5Config) {
        self.data = data
        self.idsSource = idsSource
        self.tokenizerHash = tokenizerHash
        self.items = items
        self.users = users
        self.trainingSamples = trainingSamples
        self.config = config
        self.model = model
    }
}

/// A run folder:
/// ```
/// run.json         manifest + resolved config
/// spiece.model     the shared SentencePiece vocabulary
/// ids.tsv          the item ID table the run trains on
/// ids.tsv.json     its metadata, when the table had one (ids generate's FILE.json)
/// ids.tsv.quantiser.safetensors   a semantic-ID run's quantiser (codes new items)
/// user_ids.tsv     user IDs from training items only (runs with user IDs)
/// content_embeddings.safetensors   the item vectors of `--item-content` runs (best/ and last/
///                  then also hold content_projection.safetensors)
/// last/            model (HF folder), optimizer state, state.json — after each completed epoch
/// best/            model with the best validation NDCG@10
/// log.json, curve.svg, metrics.json, metrics.md, ranks.tsv
/// ```
/// Every file is written atomically; `last/` is replaced by renaming a completed folder, so a
/// killed run resumes from the last completed epoch with the same result.
public enum RunFolder {
    public static func manifestURL(_ run: URL) -> URL { run.appendingPathComponent("run.json") }
    public static func tokenizerURL(_ run: URL) -> URL { run.appendingPathComponent("spiece.model") }
    public static func idsURL(_ run: URL) -> URL { run.appendingPathComponent("ids.tsv") }
    /// The ID table's metadata (`ids generate`'s `FILE.json`), copied when the table had one.
    public static func idsMetadataURL(_ run: URL) -> URL { SemanticIDs.metadataURL(table: idsURL(run)) }
    /// A semantic-ID run's trained quantiser (`FILE.quantiser.safetensors` of its table), copied
    /// so zero-shot and `serve` code new items with it.
    public static func quantiserURL(_ run: URL) -> URL { SemanticIDs.quantiserURL(table: idsURL(run)) }

    /// Copies the files that travel with an ID table (`FILE.json`, and for semantic IDs
    /// `FILE.quantiser.safetensors`) into the run folder; a semantic table without its quantiser
    /// is noted in the log (the run trains, but cannot code new items).
    public static func copyIDFiles(from table: URL, to run: URL, semantic: Bool) throws {
        let fm = FileManager.default
        var pairs = [(SemanticIDs.metadataURL(table: table), idsMetadataURL(run))]
        if semantic { pairs.append((SemanticIDs.quantiserURL(table: table), quantiserURL(run))) }
        for (from, to) in pairs {
            guard fm.fileExists(atPath: from.path) else {
                if semantic, to == quantiserURL(run) {
                    Log.info("note: no quantiser beside \(table.path) (\(from.lastPathComponent)); the run trains, but zeroshot and serve's POST /items cannot code new items")
                }
                continue
            }
            try AtomicFile.write(Data(contentsOf: from), to: to)
        }
    }
    /// Leak-free user IDs (runs with `useUserIDs` only), `user<TAB>ID` per line.
    public static func userIDsURL(_ run: URL) -> URL { run.appendingPathComponent("user_ids.tsv") }
    public static func lastURL(_ run: URL) -> URL { run.appendingPathComponent("last") }
    public static func bestURL(_ run: URL) -> URL { run.appendingPathComponent("best") }
    /// The model evaluation loads: best/ when it holds weights, else last/.
    public static func evaluatedModelURL(_ run: URL) -> URL {
        let best = bestURL(run)
        return FileManager.default.fileExists(atPath: best.appendingPathComponent("model.safetensors").path) ? best : lastURL(run)
    }

    /// Writes `body` into a fresh temporary folder, then swaps it in place of `destination`.
    public static func replaceFolder(_ destination: URL, _ body: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let temporary = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).tmp")
        let old = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).old")
        try? fm.removeItem(at: temporary)
        try? fm.removeItem(at: old)
        try fm.createDirectory(at: temporary, withIntermediateDirectories: true)
        try body(temporary)
        if fm.fileExists(atPath: destination.path) { try fm.moveItem(at: destination, to: old) }
        try fm.moveItem(at: temporary, to: destination)
        try? fm.removeItem(at: old)
    }

    /// Recovers from a kill between the two renames of `replaceFolder`.
    public static func recover(_ destination: URL) {
        let fm = FileManager.default
        let old = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).old")
        if !fm.fileExists(atPath: destination.path), fm.fileExists(atPath: old.path) {
            try? fm.moveItem(at: old, to: destination)
        }
    }
}

/// Trains a recommender in a run folder, with validation each epoch, best checkpoint, resume,
/// JSON log and SVG curve.
public final class RecommenderRunner {
    public let folder: URL
    public let trainer: RecommenderTrainer
    public let model: T5Model
    public var verbose = true

    public init(folder: URL, trainer: RecommenderTrainer, model: T5Model) {
        self.folder = folder
        self.trainer = trainer
        self.model = model
    }

    var config: RecommenderConfig { trainer.config }

    /// Trains up to `config.epochs` epochs (continuing from `last/` when `resume`).
    /// `stopAfter` ends this call after that many completed epochs in total, as a kill would
    /// (the schedule still spans `config.epochs`).
    @discardableResult
    public func train(resume: Bool, stopAfter: Int? = nil) throws -> RunState {
        let content = trainer.content
        let optimizer = RecommenderTrainer.makeOptimizer(model: model, config: config, content: content)
        let perEpoch = trainer.batchesPerEpoch()
        let total = perEpoch * config.epochs
        let schedule = LinearWarmupSchedule(baseLearningRate: config.learningRate, warmupSteps: Int(Float(total) * config.warmupFraction), totalSteps: total)
        var state = RunState(dropout: SeededGenerator(seed: config.seed &+ 17))
        let last = RunFolder.lastURL(folder)
        RunFolder.recover(last)
        if resume, FileManager.default.fileExists(atPath: last.appendingPathComponent("state.json").path) {
            state = try JSONOutput.decode(RunState.self, from: last.appendingPathComponent("state.json"))
            let saved = try T5Model.load(folder: last)
            guard saved.config == model.config else {
                throw RecommenderError.checkpoint(path: last.path, message: "its model config differs from the run's")
            }
            for (a, b) in zip(model.namedParameters(), saved.namedParameters()) { a.parameter.value.assign(b.parameter.value) }
            try content?.projection.load(from: last)
            try optimizer.loadState(from: last.appendingPathComponent("optimizer"))
            Log.info("resuming after epoch \(state.completedEpochs) (step \(state.globalStep))")
        }
        if state.completedEpochs == 0 {
            let c = trainer.promptComposition()
            Log.info(String(format: "prompts (%@ framing): %.1f tokens on average; %.0f%% item ID tokens, %.0f%% separators, %.0f%% template",
                            config.promptFraming ?? "paper", c.meanTokens, 100 * c.itemShare, 100 * c.separatorShare, 100 * c.templateShare))
        }
        while state.completedEpochs < min(config.epochs, stopAfter ?? .max) {
            if let patience = config.patience, state.epochsWithoutImprovement >= patience {
                Log.info("early stop: no better validation NDCG@10 for \(patience) epochs")
                break
            }
            let epoch = state.completedEpochs + 1
            let batches = trainer.batches(epoch: epoch)
            let line = ProgressLine("epoch \(epoch)/\(config.epochs)", total: batches.count, unit: "batches", enabled: verbose)
            let start = Date()
            var lossSum = 0.0, samples = 0, tokens = 0
            for batch in batches {
                let lr = schedule.learningRate(step: state.globalStep)
                let loss = RecommenderTrainer.step(model: model, batch: batch, optimizer: optimizer, learningRate: lr, clipNorm: config.clipNorm,
                                                   dropout: &state.dropout, useDropout: config.dropout > 0,
                                                   freezeEmbeddings: epoch <= (config.frozenEmbeddingEpochs ?? 0), content: content)
                guard loss.isFinite else {
                    throw RecommenderError.invalidInput("training diverged at step \(state.globalStep + 1) (loss \(loss)); lower --lr")
                }
                state.globalStep += 1
                lossSum += Double(loss) * Double(batch.count)
                samples += batch.count
                tokens += batch.reduce(0) { $0 + $1.source.count + $1.target.count }
                line.advance(String(format: "loss %.4f | %.0f tok/s", lossSum / Double(samples), Double(tokens) / Date().timeIntervalSince(start)))
            }
            let seconds = Date().timeIntervalSince(start)
            line.finish(String(format: "loss %.4f", lossSum / Double(max(samples, 1))))

            let evalStart = Date()
            let validation = try evaluatePerDomain(part: .validation, users: config.validationUsers == 0 ? nil : config.validationUsers, progress: false)
            let score = validation.report.metrics["ndcg@10"] ?? 0
            state.log.append(EpochLog(epoch: epoch, loss: lossSum / Double(max(samples, 1)), samples: samples, seconds: seconds,
                                      tokensPerSecond: Double(tokens) / max(seconds, 1e-9), learningRate: schedule.learningRate(step: state.globalStep),
                                      validation: validation.report.metrics, validationSeconds: Date().timeIntervalSince(evalStart),
                                      validationPerDomain: validation.domains.isEmpty ? nil : validation.domains))
            if verbose {
                Log.info(String(format: "epoch %d: loss %.4f, valid R@10 %.4f N@10 %.4f (%d users), %.0fs train + %.0fs eval",
                                epoch, lossSum / Double(max(samples, 1)), validation.report.metrics["recall@10"] ?? 0, score,
                                validation.report.users, seconds, Date().timeIntervalSince(evalStart)))
                for d in validation.domains {
                    Log.info(String(format: "  %@: valid R@10 %.4f N@10 %.4f (%d users)", d.domain, d.metrics["recall@10"] ?? 0, d.metrics["ndcg@10"] ?? 0, d.users))
                }
            }
            if state.bestScore.map({ score > $0 }) ?? true {
                state.bestScore = score
                state.bestEpoch = epoch
                state.epochsWithoutImprovement = 0
                try RunFolder.replaceFolder(RunFolder.bestURL(folder)) { dir in
                    try model.save(folder: dir, tokenizer: trainer.data.tokenizer)
                    try content?.projection.save(to: dir)
                }
            } else {
                state.epochsWithoutImprovement += 1
            }
            state.completedEpochs = epoch
            let snapshot = state
            try RunFolder.replaceFolder(last) { dir in
                try model.save(folder: dir, tokenizer: trainer.data.tokenizer)
                try content?.projection.save(to: dir)
                try optimizer.saveState(to: dir.appendingPathComponent("optimizer"))
                try AtomicFile.writeJSON(snapshot, to: dir.appendingPathComponent("state.json"))
            }
            try writeLog(state)
        }
        return state
    }

    public func evaluate(part: EvaluationPart, users: Int?, progress: Bool) throws -> (report: MetricsReport, ranks: [UserRank]) {
        let evaluator = Evaluator(split: trainer.data.split, catalog: trainer.data.domain.catalog)
        return try GradMode.withoutGradients {
            try evaluator.evaluate(model: "idgenrec-t5", part: part, ranking: trainer.ranking(model: model), data: trainer.data.domain.name,
                                   config: configSummary(), userSample: users, seed: config.seed, progress: progress)
        }
    }

    /// Evaluation with a per-domain breakdown (by the `<domain>/` prefix of user ids) for runs
    /// on a merged domain; the breakdown is empty for a single domain.
    public func evaluatePerDomain(part: EvaluationPart, users: Int?, progress: Bool) throws -> (report: MetricsReport, ranks: [UserRank], domains: [DomainMetrics]) {
        let (report, ranks) = try evaluate(part: part, users: users, progress: progress)
        let merged = MultiDomain.parts(ofName: trainer.data.domain.name).count > 1
        return (report, ranks, merged ? Metrics.perDomain(ranks) : [])
    }

    func configSummary() -> [String: String] {
        let c = config
        return ["preset": c.initFrom.map { "init from \($0)" } ?? c.preset.rawValue, "d_model": "\(model.config.d_model)", "layers": "\(model.config.num_layers)+\(model.config.decoderLayers)",
                "vocab": "\(model.config.vocab_size)", "epochs": "\(c.epochs)", "batch": "\(c.batchSize)", "lr": "\(c.learningRate)",
                "beams": "\(c.numBeams)", "history": "\(c.historyCap)", "templates_per_sample": "\(c.templatesPerSample)",
                "user_ids": "\(c.useUserIDs)", "item_content": c.itemContent?.mode.rawValue ?? "off", "seed": "\(c.seed)", "decoding": "beam search under the ID trie, template 0",
                "ids": c.codes.map { "semantic codes (\(SemanticIDs.describe($0)))" } ?? (c.isItemToken ? "item-token" : "textual")]
    }

    func writeLog(_ state: RunState) throws {
        try AtomicFile.writeJSON(state.log, to: folder.appendingPathComponent("log.json"))
        var series: [SVGPlot.Series] = [
            .init(name: "training loss", points: state.log.map { (Double($0.epoch), $0.loss) }),
            .init(name: "validation recall@10", points: state.log.map { (Double($0.epoch), $0.validation["recall@10"] ?? .nan) }),
            .init(name: "validation ndcg@10", points: state.log.map { (Double($0.epoch), $0.validation["ndcg@10"] ?? .nan) }),
        ]
        for domain in state.log.last?.validationPerDomain?.map(\.domain) ?? [] {
            series.append(.init(name: "valid R@10 \(domain)", points: state.log.map { entry in
                (Double(entry.epoch), entry.validationPerDomain?.first { $0.domain == domain }?.metrics["recall@10"] ?? .nan)
            }))
        }
        let plot = SVGPlot(title: "recommender training", xLabel: "epoch", series: series)
        try AtomicFile.write(plot.render(), to: folder.appendingPathComponent("curve.svg"))
    }
}
