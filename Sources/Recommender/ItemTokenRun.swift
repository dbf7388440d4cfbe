import Autograd
import Corpora
import Foundation
import Optim
import Support
import T5
import TensorCore
import TextEncoder
import Tokenizer
import IDGen

/// A run folder of the item-token scheme: the textual-ID run layout (`RunFolder`) plus
/// `item_head.safetensors` next to each saved model (best/, last/) and, for content rows,
/// `item_embeddings.safetensors` (the catalog's sentence embeddings the rows are made from).
public final class ItemTokenRunner {
    public let folder: URL
    public let trainer: RecommenderTrainer
    public let model: ItemTokenModel
    public var verbose = true

    public static let headFile = "item_head.safetensors"
    static let noOptimizerState = "has no optimizer state (an item-token run saved before --resume supported the scheme): it cannot continue exactly; evaluate it as it is, or train a new --out"

    public init(folder: URL, trainer: RecommenderTrainer, model: ItemTokenModel) {
        self.folder = folder
        self.trainer = trainer
        self.model = model
    }

    public var config: RecommenderConfig { trainer.config }
    public var settings: ItemTokenSettings { trainer.config.itemToken ?? ItemTokenSettings() }

    /// Item embeddings of `catalog`, in catalog order, L2-normalised rows; an item missing from
    /// the file is an error naming it.
    public static func contentMatrix(_ embeddings: ItemEmbeddings, catalog: Catalog, source: String) throws -> Tensor {
        var row: [String: Int] = [:]
        for (i, id) in embeddings.itemIDs.enumerated() { row[id] = i }
        let dim = embeddings.dimension
        let out = Tensor(zeros: [catalog.count, dim])
        for (i, id) in catalog.ids.enumerated() {
            guard let r = row[id] else {
                throw RecommenderError.invalidInput("\(source): no embedding for item '\(id)' (run idgenrec embed on this catalog)")
            }
            ItemHead.normalise(embeddings.vectors.pointer + r * dim, into: out.pointer + i * dim, count: dim)
        }
        return out
    }

    /// Sets up a new run (`config.scheme` = item-token): the textual-ID pipeline makes the
    /// tokenizer, IDs, prompts and T5; this adds the item head. `embeddings` is required for
    /// content rows of a new run.
    ///
    /// With `resume`, a folder holding an item-token run whose last/ has a completed epoch is
    /// reopened with its own config, tokenizer, IDs and (content rows) its copy of the item
    /// embeddings; `train(resume: true)` then restores the weights, the optimizer moments and
    /// the generators. `config.itemToken` must agree with the run's (rows, loss, negatives), and
    /// `embeddings`, when given, with its copy: a difference is an error naming it. A folder
    /// with no completed epoch starts afresh (nothing trained was saved).
    public static func open(folder: URL, inputs: RecommenderPipeline.Inputs, config: RecommenderConfig, embeddings: ItemEmbeddings?,
                            resume: Bool) throws -> ItemTokenRunner {
        let fm = FileManager.default
        var config = config
        config.scheme = RecommenderConfig.itemTokenScheme
        let settings = config.itemToken ?? ItemTokenSettings()
        config.itemToken = settings
        guard settings.negatives > 0 else { throw RecommenderError.invalidInput("negatives: expected a positive count, found \(settings.negatives)") }
        RunFolder.recover(RunFolder.lastURL(folder))
        if resume, fm.fileExists(atPath: RunFolder.manifestURL(folder).path) {
            let manifest = try JSONOutput.decode(RunManifest.self, from: RunFolder.manifestURL(folder))
            guard manifest.config.isItemToken else {
                throw RecommenderError.checkpoint(path: folder.path, message: "is a \(manifest.config.scheme ?? IDScheme.textual.rawValue) run, not an item-token one: resume it without --scheme item-token, or choose another --out")
            }
            if fm.fileExists(atPath: RunFolder.lastURL(folder).appendingPathComponent("state.json").path) {
                return try reopen(folder: folder, manifest: manifest, inputs: inputs, config: config, embeddings: embeddings)
            }
            guard !fm.fileExists(atPath: RunFolder.lastURL(folder).path) else {
                throw RecommenderError.checkpoint(path: RunFolder.lastURL(folder).path, message: "has no state.json: not a completed epoch to resume from; choose another --out")
            }
            Log.info("\(folder.path) has no completed epoch (no last/): starting the run afresh")
        }
        var content: Tensor?
        if settings.rows.readsContent {
            guard let embeddings else {
                throw RecommenderError.invalidInput("item rows '\(settings.rows.rawValue)' need item embeddings (idgenrec embed --data … --out FILE, then --item-embeddings FILE)")
            }
            content = try contentMatrix(embeddings, catalog: inputs.domain.catalog, source: settings.embeddings ?? "item embeddings")
        }
        let base = try RecommenderPipeline.open(folder: folder, inputs: inputs, config: config, resume: false)
        if let embeddings, settings.rows.readsContent {
            try embeddings.save(to: folder.appendingPathComponent(ItemEmbeddings.fileName))
        }
        var g = SeededGenerator(seed: config.seed &+ 0x17E4)
        let head = try ItemHead(kind: settings.rows, model: base.model, itemTokens: base.trainer.data.itemTokens, content: content,
                                historyBias: settings.historyBias ?? false, generator: &g)
        return ItemTokenRunner(folder: folder, trainer: base.trainer, model: ItemTokenModel(t5: base.model, head: head, input: settings.input))
    }

    /// The resume half of `open`: the run's own settings (checked against the requested ones),
    /// data and content; weights and optimizer state are read by `train(resume: true)`.
    static func reopen(folder: URL, manifest: RunManifest, inputs: RecommenderPipeline.Inputs, config: RecommenderConfig,
                       embeddings: ItemEmbeddings?) throws -> ItemTokenRunner {
        let saved = manifest.config.itemToken ?? ItemTokenSettings()
        let requested = config.itemToken ?? ItemTokenSettings()
        var differences: [String] = []
        if requested.rows != saved.rows { differences.append("item rows '\(requested.rows.rawValue)' (the run's: '\(saved.rows.rawValue)')") }
        if requested.loss != saved.loss { differences.append("loss '\(requested.loss.rawValue)' (the run's: '\(saved.loss.rawValue)')") }
        if requested.negatives != saved.negatives { differences.append("negatives \(requested.negatives) (the run's: \(saved.negatives))") }
        if (requested.input ?? .off) != (saved.input ?? .off) {
            differences.append("item input '\((requested.input ?? .off).rawValue)' (the run's: '\((saved.input ?? .off).rawValue)')")
        }
        if (requested.historyBias ?? false) != (saved.historyBias ?? false) {
            differences.append("history bias \((requested.historyBias ?? false) ? "learned" : "off") (the run's: \((saved.historyBias ?? false) ? "learned" : "off"))")
        }
        if (requested.labelSmoothing ?? 0) != (saved.labelSmoothing ?? 0) {
            differences.append("label smoothing \(requested.labelSmoothing ?? 0) (the run's: \(saved.labelSmoothing ?? 0))")
        }
        guard differences.isEmpty else {
            throw RecommenderError.checkpoint(path: folder.path, message: "--resume continues the run with its own settings (run.json), but these differ: \(differences.joined(separator: ", ")); pass the run's settings or none, or choose another --out")
        }
        guard inputs.domain.catalog.count == manifest.items else {
            throw RecommenderError.checkpoint(path: folder.path, message: "was trained on \(manifest.items) items (\(manifest.data)), but the data given has \(inputs.domain.catalog.count); resume with the run's data and options")
        }
        let users = try Split.leaveOneOut(inputs.domain, historyCap: manifest.config.historyCap).users.count
        guard users == manifest.users else {
            throw RecommenderError.checkpoint(path: folder.path, message: "was trained on \(manifest.users) users (\(manifest.data)), but the data given has \(users); resume with the run's data and options")
        }
        // Checked here too (train checks it for any caller) so that a refused resume leaves
        // run.json as it was: RecommenderPipeline.open rewrites it.
        let last = RunFolder.lastURL(folder)
        guard FileManager.default.fileExists(atPath: last.appendingPathComponent("optimizer.json").path) else {
            throw RecommenderError.checkpoint(path: last.path, message: Self.noOptimizerState)
        }
        var content: Tensor?
        if saved.rows.readsContent {
            let url = folder.appendingPathComponent(ItemEmbeddings.fileName)
            let stored = try ItemEmbeddings.load(url)
            if let embeddings, embeddings.itemIDs != stored.itemIDs || embeddings.vectors.shape != stored.vectors.shape || embeddings.vectors.scalars != stored.vectors.scalars {
                throw RecommenderError.checkpoint(path: folder.path, message: "the item embeddings given differ from the run's copy (\(url.lastPathComponent), from \(saved.embeddings ?? "?")); resume without --item-embeddings (the run uses its copy), or choose another --out")
            }
            content = try contentMatrix(stored, catalog: inputs.domain.catalog, source: url.path)
        }
        let base = try RecommenderPipeline.open(folder: folder, inputs: inputs, config: config, resume: true)
        // Initial values are overwritten by last/ in `train(resume: true)`.
        var g = SeededGenerator(seed: base.trainer.config.seed &+ 0x17E4)
        let head = try ItemHead(kind: saved.rows, model: base.model, itemTokens: base.trainer.data.itemTokens, content: content,
                                historyBias: saved.historyBias ?? false, generator: &g)
        return ItemTokenRunner(folder: folder, trainer: base.trainer, model: ItemTokenModel(t5: base.model, head: head, input: saved.input))
    }

    /// Reopens a trained run (best/ or last/).
    public static func load(folder: URL, domain: Domain, dataPath: String, checkpoint: RecommenderPipeline.Checkpoint = .best) throws -> ItemTokenRunner {
        let base = try RecommenderPipeline.load(folder: folder, domain: domain, dataPath: dataPath, checkpoint: checkpoint)
        let config = base.trainer.config
        guard config.isItemToken, let settings = config.itemToken else {
            throw RecommenderError.checkpoint(path: folder.path, message: "is not an item-token run (its run.json has no scheme 'item-token')")
        }
        var content: Tensor?
        if settings.rows.readsContent {
            let url = folder.appendingPathComponent(ItemEmbeddings.fileName)
            content = try contentMatrix(ItemEmbeddings.load(url), catalog: domain.catalog, source: url.path)
        }
        var g = SeededGenerator(seed: 0)
        let head = try ItemHead(kind: settings.rows, model: base.model, itemTokens: base.trainer.data.itemTokens, content: content,
                                historyBias: settings.historyBias ?? false, generator: &g)
        let modelURL = checkpoint == .last ? RunFolder.lastURL(folder) : RunFolder.evaluatedModelURL(folder)
        try head.load(from: modelURL.appendingPathComponent(headFile))
        return ItemTokenRunner(folder: folder, trainer: base.trainer, model: ItemTokenModel(t5: base.model, head: head, input: settings.input))
    }

    /// Training samples of an epoch: every training prefix with a freshly drawn template, in
    /// length-bucketed batches (the textual-ID scheme's order; targets are catalog indices).
    func batches(epoch: Int) -> [[(source: [Int32], spans: [EncodedPrompt.ItemSpan], target: Int)]] {
        let data = trainer.data
        let keepSpans = model.needsSpans
        var rng = SeededGenerator(seed: config.seed &+ 0x9E37_79B9 &* UInt64(epoch + 1))
        var samples: [(source: [Int32], spans: [EncodedPrompt.ItemSpan], target: Int)] = []
        for s in data.split.trainingSamples(historyCap: config.historyCap) {
            for _ in 0 ..< max(1, config.templatesPerSample) {
                let template = Int(rng.next() % UInt64(data.prompts.templates.count))
                let prompt = data.prompt(history: s.history, template: template, user: s.user)
                samples.append((prompt.tokens, keepSpans ? prompt.itemSpans : [], s.target))
            }
        }
        return LengthBuckets.batches(samples, batchSize: config.batchSize, window: config.batchSize * 50, length: { $0.source.count }, using: &rng)
    }

    /// Each item's share of the training targets (the in-batch sampling distribution).
    func popularity() -> [Double] {
        var counts = [Double](repeating: 0, count: model.head.itemCount)
        let samples = trainer.data.split.trainingSamples(historyCap: config.historyCap)
        for s in samples { counts[s.target] += 1 }
        return counts.map { $0 / Double(max(samples.count, 1)) }
    }

    func save(_ dir: URL) throws {
        try model.t5.save(folder: dir, tokenizer: trainer.data.tokenizer)
        try model.head.save(to: dir.appendingPathComponent(Self.headFile))
    }

    /// Trains up to `config.epochs` epochs with validation each epoch and the best checkpoint
    /// (validation NDCG@10), as the textual-ID runner does. With `resume`, continues from last/:
    /// T5 weights, item head, AdamW moments and step counts, the dropout and negative-sampling
    /// generators, the epoch and step counters, the log and the best score, so the result equals
    /// an uninterrupted run's. `stopAfter` ends this call after that many completed epochs in
    /// total, as a kill would (the schedule still spans `config.epochs`).
    @discardableResult
    public func train(resume: Bool = false, stopAfter: Int? = nil) throws -> RunState {
        let groups = ParameterGroup.split(model.namedParameters(), weightDecay: config.weightDecay) { $0.contains("layer_norm") }
        let optimizer = AdamW(groups: groups, learningRate: config.learningRate, eps: config.adamEpsilon)
        let perEpoch = trainer.batchesPerEpoch()
        let total = perEpoch * config.epochs
        let schedule = LinearWarmupSchedule(baseLearningRate: config.learningRate, warmupSteps: Int(Float(total) * config.warmupFraction), totalSteps: total)
        var state = RunState(dropout: SeededGenerator(seed: config.seed &+ 17))
        state.negatives = SeededGenerator(seed: config.seed &+ 0xBEEF)
        let last = RunFolder.lastURL(folder)
        RunFolder.recover(last)
        if resume, FileManager.default.fileExists(atPath: last.appendingPathComponent("state.json").path) {
            // Runs saved before item-token resume existed have no optimizer state: refuse rather
            // than continue with fresh moments (a different run under the same name).
            guard FileManager.default.fileExists(atPath: last.appendingPathComponent("optimizer.json").path) else {
                throw RecommenderError.checkpoint(path: last.path, message: Self.noOptimizerState)
            }
            state = try JSONOutput.decode(RunState.self, from: last.appendingPathComponent("state.json"))
            if self.settings.loss != .ce, state.negatives == nil {
                throw RecommenderError.checkpoint(path: last.path, message: "state.json has no negative-sampling generator for the '\(self.settings.loss.rawValue)' loss; it cannot continue exactly")
            }
            let saved = try T5Model.load(folder: last)
            guard saved.config == model.t5.config else {
                throw RecommenderError.checkpoint(path: last.path, message: "its model config differs from the run's")
            }
            for (a, b) in zip(model.t5.namedParameters(), saved.namedParameters()) { a.parameter.value.assign(b.parameter.value) }
            try model.head.load(from: last.appendingPathComponent(Self.headFile))
            try optimizer.loadState(from: last.appendingPathComponent("optimizer"))
            Log.info("resuming after epoch \(state.completedEpochs) (step \(state.globalStep))")
        }
        var negatives = state.negatives ?? SeededGenerator(seed: config.seed &+ 0xBEEF)
        let popularity = popularity()
        let settings = self.settings
        while state.completedEpochs < min(config.epochs, stopAfter ?? .max) {
            if let patience = config.patience, state.epochsWithoutImprovement >= patience {
                Log.info("early stop: no better validation NDCG@10 for \(patience) epochs")
                break
            }
            let epoch = state.completedEpochs + 1
            let batches = batches(epoch: epoch)
            let line = ProgressLine("epoch \(epoch)/\(config.epochs)", total: batches.count, unit: "batches", enabled: verbose)
            let start = Date()
            var lossSum = 0.0, samples = 0, tokens = 0
            for batch in batches {
                optimizer.zeroGrad()
                var dropout: SeededGenerator? = config.dropout > 0 ? state.dropout : nil
                let loss = model.loss(sources: batch.map(\.source), spans: model.needsSpans ? batch.map(\.spans) : nil, targets: batch.map(\.target), settings: settings, popularity: popularity,
                                      dropout: &dropout, rng: &negatives)
                if let dropout { state.dropout = dropout }
                let value = loss.value.item
                guard value.isFinite else {
                    throw RecommenderError.invalidInput("training diverged at step \(state.globalStep + 1) (loss \(value)); lower --lr")
                }
                loss.backward()
                if config.clipNorm > 0 { _ = clipGradNorm(optimizer.allParameters, maxNorm: config.clipNorm) }
                optimizer.learningRate = schedule.learningRate(step: state.globalStep)
                optimizer.step()
                state.globalStep += 1
                lossSum += Double(value) * Double(batch.count)
                samples += batch.count
                tokens += batch.reduce(0) { $0 + $1.source.count }
                line.advance(String(format: "loss %.4f | %.0f samples/s", lossSum / Double(samples), Double(samples) / Date().timeIntervalSince(start)))
            }
            let seconds = Date().timeIntervalSince(start)
            line.finish(String(format: "loss %.4f", lossSum / Double(max(samples, 1))))
            let evalStart = Date()
            let (validation, _) = try evaluate(part: .validation, users: config.validationUsers == 0 ? nil : config.validationUsers, progress: false)
            let score = validation.metrics["ndcg@10"] ?? 0
            state.log.append(EpochLog(epoch: epoch, loss: lossSum / Double(max(samples, 1)), samples: samples, seconds: seconds,
                                      tokensPerSecond: Double(tokens) / max(seconds, 1e-9), learningRate: schedule.learningRate(step: state.globalStep),
                                      validation: validation.metrics, validationSeconds: Date().timeIntervalSince(evalStart), validationPerDomain: nil))
            if verbose {
                Log.info(String(format: "epoch %d: loss %.4f, valid R@10 %.4f N@10 %.4f (%d users), %.0fs train + %.0fs eval",
                                epoch, lossSum / Double(max(samples, 1)), validation.metrics["recall@10"] ?? 0, score, validation.users,
                                seconds, Date().timeIntervalSince(evalStart)))
            }
            if state.bestScore.map({ score > $0 }) ?? true {
                state.bestScore = score
                state.bestEpoch = epoch
                state.epochsWithoutImprovement = 0
                try RunFolder.replaceFolder(RunFolder.bestURL(folder)) { try save($0) }
            } else {
                state.epochsWithoutImprovement += 1
            }
            state.completedEpochs = epoch
            state.negatives = negatives
            let snapshot = state
            try RunFolder.replaceFolder(last) { dir in
                try save(dir)
                try optimizer.saveState(to: dir.appendingPathComponent("optimizer"))
                try AtomicFile.writeJSON(snapshot, to: dir.appendingPathComponent("state.json"))
            }
            try AtomicFile.writeJSON(state.log, to: folder.appendingPathComponent("log.json"))
            let plot = SVGPlot(title: "item-token training", xLabel: "epoch", series: [
                .init(name: "training loss", points: state.log.map { (Double($0.epoch), $0.loss) }),
                .init(name: "validation recall@10", points: state.log.map { (Double($0.epoch), $0.validation["recall@10"] ?? .nan) }),
                .init(name: "validation ndcg@10", points: state.log.map { (Double($0.epoch), $0.validation["ndcg@10"] ?? .nan) }),
            ])
            try AtomicFile.write(plot.render(), to: folder.appendingPathComponent("curve.svg"))
        }
        return state
    }

    /// Scores [targets, items] of the ranking prompts (template 0).
    public func scores(_ targets: [EvaluationTarget], snapshot: (weights: T5InferenceWeights, rows: Tensor)? = nil) -> Tensor {
        guard model.needsSpans else { return model.scores(trainer.rankingInputs(targets), weights: snapshot?.weights, rows: snapshot?.rows) }
        let prompts = targets.map { trainer.data.prompt(history: $0.history, template: 0, user: $0.user) }
        return model.scores(prompts.map(\.tokens), spans: prompts.map(\.itemSpans), weights: snapshot?.weights, rows: snapshot?.rows)
    }

    /// Exact top-k per target, best first.
    public func rank(_ targets: [EvaluationTarget], k: Int) -> [[(index: Int, score: Float)]] {
        var out: [[(index: Int, score: Float)]] = []
        let n = model.head.itemCount
        let snapshot = model.inferenceSnapshot()
        var start = 0
        while start < targets.count {
            let batch = Array(targets[start ..< min(targets.count, start + config.evaluationBatchSize * 4)])
            let s = scores(batch, snapshot: snapshot)
            for r in 0 ..< batch.count { out.append(topK(s.pointer + r * n, count: n, k: k)) }
            start += batch.count
        }
        return out
    }

    /// Full-catalog evaluation: every item's score, exact rank (`Ranking.scores`). `users`: a
    /// seeded sample of that many (`seed`, default the run's own).
    public func evaluate(part: EvaluationPart, users: Int?, seed: UInt64? = nil, progress: Bool) throws -> (report: MetricsReport, ranks: [UserRank]) {
        let split = trainer.data.split
        let evaluator = Evaluator(split: split, catalog: trainer.data.domain.catalog)
        // One seed for both draws: the scores are batched over this sample, and the evaluator
        // below draws the same one to rank (a different seed there misses every batch).
        let sampleSeed = seed ?? config.seed
        var expected = split.targets(part)
        if let users { expected = Evaluator.sample(expected, count: users, seed: sampleSeed) }
        let batch = config.evaluationBatchSize * 4
        var position: [Int: Int] = [:]
        for (i, t) in expected.enumerated() where position[t.user] == nil { position[t.user] = i }
        var cachedStart = -1
        var cached: Tensor?
        let n = model.head.itemCount
        let snapshot = model.inferenceSnapshot()
        let ranking = Ranking.scores { [self] target in
            if let p = position[target.user], expected[p] == target {
                if cached == nil || p < cachedStart || p >= cachedStart + batch {
                    cachedStart = p
                    cached = scores(Array(expected[p ..< min(expected.count, p + batch)]), snapshot: snapshot)
                }
                return Array(UnsafeBufferPointer(start: cached!.pointer + (p - cachedStart) * n, count: n))
            }
            // A named tensor kept alive while read: a temporary's storage may be freed once its
            // pointer is taken (serve's new rows read garbage that way before withExtendedLifetime).
            let row = scores([target], snapshot: snapshot)
            return withExtendedLifetime(row) { Array(UnsafeBufferPointer(start: row.pointer, count: n)) }
        }
        let s = settings
        var summary = ["scheme": "item-token", "item_rows": s.rows.rawValue, "item_input": (s.input ?? .off).rawValue, "loss": s.loss.rawValue, "negatives": "\(s.negatives)",
                       "preset": config.initFrom.map { "init from \($0)" } ?? config.preset.rawValue, "d_model": "\(model.t5.config.d_model)",
                       "epochs": "\(config.epochs)", "batch": "\(config.batchSize)", "lr": "\(config.learningRate)", "seed": "\(config.seed)",
                       "decoding": "one decoder step, exact scores over the catalog, template 0"]
        if let e = s.labelSmoothing { summary["label_smoothing"] = "\(e)" }
        if let bias = model.head.historyBias { summary["history_bias"] = String(format: "%.3f (learned)", bias.value.pointer[0]) }
        return try evaluator.evaluate(model: "idgenrec-t5-item-token", part: part, ranking: ranking, data: trainer.data.domain.name,
                                      config: summary, userSample: users, seed: sampleSeed, progress: progress)
    }

    /// Test evaluation saved as metrics.json / metrics.md / ranks.tsv in the run folder.
    public func finalTest(dataPath: String, users: Int? = nil) throws -> MetricsReport {
        var (report, ranks) = try evaluate(part: .test, users: users, progress: true)
        report.data = dataPath
        try EvaluationRun.save(report: report, ranks: ranks, folder: folder)
        return report
    }
}

extension RecommenderPipeline {
    /// Whether the run in `folder` uses the item-token scheme (from its run.json), so commands
    /// follow the run without a flag.
    public static func isItemTokenRun(_ folder: URL) -> Bool {
        (try? JSONOutput.decode(RunManifest.self, from: RunFolder.manifestURL(folder)))?.config.isItemToken ?? false
    }
}

extension ItemTokenRunner {
    /// The next items for a history of catalog item ids (oldest first): exact top-`count` over
    /// the catalog (template 0; history items are not filtered, as in evaluation).
    public func recommend(history: [String], count: Int = 10) throws -> [Recommendation] {
        let data = trainer.data
        let catalog = data.domain.catalog
        let indices = try data.historyIndices(history)
        guard count >= 1 else { throw RecommenderError.invalidInput("count: expected at least 1, found \(count)") }
        guard !config.useUserIDs else { throw RecommenderError.invalidInput("user IDs are not supported by the item-token scheme's recommend yet") }
        let target = EvaluationTarget(user: 0, userID: "query", history: indices, target: indices[0])
        return rank([target], k: count)[0].map { item in
            Recommendation(itemID: catalog.ids[item.index], textualID: data.ids.textualIDs[item.index],
                           title: catalog.value("title", at: item.index) ?? catalog.text(at: item.index), score: item.score)
        }
    }
}

extension ItemTokenRunner {
    /// Zero-shot: the trained model on a catalog it never saw. Prompts use keyword IDs of the
    /// target catalog in the run's vocabulary; item rows come from the target's text (content
    /// rows: `embeddings` of the target catalog through the trained projection) or from its IDs
    /// (id-mean rows). Learned rows cannot move to another catalog (an error says so). Nothing
    /// of the target is trained on; evaluate the returned runner's test split.
    /// Also returns the report of the keyword IDs written for the target's catalog (the prompts'
    /// ID words, and id-mean rows).
    public static func zeroShot(folder: URL, target: Domain, embeddings: ItemEmbeddings?) throws -> (runner: ItemTokenRunner, idReport: AssignmentReport) {
        let manifest = try JSONOutput.decode(RunManifest.self, from: RunFolder.manifestURL(folder))
        guard manifest.config.isItemToken, let settings = manifest.config.itemToken else {
            throw RecommenderError.checkpoint(path: folder.path, message: "is not an item-token run")
        }
        // The prompts below are written with keyword IDs: a run trained on semantic codes never
        // saw those as history IDs (textual-ID runs code the target with the run's quantiser).
        guard manifest.config.codes == nil else {
            throw RecommenderError.invalidInput("zero-shot of an item-token run on semantic codes is not supported: its prompts would need the target's items coded by the run's quantiser, and this scheme writes keyword IDs; train the item-token run on textual IDs for zero-shot")
        }
        let tokenizer = try Tokenizer(contentsOf: RunFolder.tokenizerURL(folder))
        let modelURL = RunFolder.evaluatedModelURL(folder)
        let t5 = try T5Model.load(folder: modelURL)
        var config = manifest.config
        config.useUserIDs = false
        let (ids, idReport) = try IDGeneration.keywords(catalog: target.catalog)
        let split = try Split.leaveOneOut(target, historyCap: config.historyCap)
        let data = try RecommenderData(domain: target, split: split, ids: ids, tokenizer: tokenizer, config: config)
        var content: Tensor?
        if settings.rows.readsContent {
            guard let embeddings else {
                throw RecommenderError.invalidInput("\(settings.rows.rawValue) rows on a new catalog need its item embeddings (idgenrec embed --data TARGET --out FILE; --item-embeddings FILE)")
            }
            content = try contentMatrix(embeddings, catalog: target.catalog, source: "item embeddings of \(target.name)")
        }
        // The trained head (for its projection), then the same head over the target's items.
        var g = SeededGenerator(seed: 0)
        var sourceContent: Tensor?
        if settings.rows.readsContent { sourceContent = Tensor(zeros: [manifest.items, content!.shape[1]]) }
        let trained = try ItemHead(kind: settings.rows, model: t5, itemTokens: [[Int32]](repeating: [0], count: manifest.items),
                                   content: sourceContent, historyBias: settings.historyBias ?? false, generator: &g)
        try trained.load(from: modelURL.appendingPathComponent(headFile))
        let head = try trained.retargeted(itemTokens: data.itemTokens, content: content, model: t5)
        return (ItemTokenRunner(folder: folder, trainer: RecommenderTrainer(config: config, data: data), model: ItemTokenModel(t5: t5, head: head, input: settings.input)),
                idReport)
    }
}
