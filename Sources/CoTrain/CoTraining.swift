import Autograd
import Corpora
import Foundation
import IDGen
import Optim
import Recommender
import Support
import TextEncoder
import T5
import Tokenizer

/// The alternating schedule (METHOD.md §4), typed and saved with the run.
public struct CoTrainConfig: Codable, Sendable, Equatable {
    public enum Order: String, Codable, Sendable, CaseIterable { case generatorFirst = "generator-first", recommenderFirst = "recommender-first" }
    public var rounds = 3
    public var order: Order = .generatorFirst
    /// Generator-phase optimiser steps per round (batches of `generatorBatchSize` training samples
    /// drawn at random). The original ran one full epoch; on a CPU the budget is set in steps.
    public var generatorSteps = 200
    public var generatorBatchSize = 8
    /// A real learning rate (the original's 1e-8 left the generator untrained).
    public var generatorLearningRate: Float = 1e-4
    /// Weight of the cross-entropy toward the current IDs (keeps IDs readable and stable).
    public var regularizerWeight: Float = 0.5
    public var recommenderEpochsPerRound = 10
    /// Ablation: skip every generator phase (IDs stay the bootstrap IDs), same recommender epochs.
    public var fixedIDs = false
    /// Users per round for the validation and test reports (seeded samples; 0 = all).
    public var roundEvaluationUsers = 1000
    public var recommender = RecommenderConfig()
    public var generator = GeneratorConfig()
    public var ids = IDOptions()
    public init() {}
}

/// What one round did.
public struct RoundReport: Codable, Sendable {
    public var round: Int
    public var generatorSeconds: Double?
    public var generatorLoss: Double?
    public var generatorRegularizer: Double?
    public var idChurn: Double?
    public var assignment: AssignmentReport?
    public var examples: [[String]]
    public var recommenderSeconds: Double
    public var recommenderLoss: Double?
    public var validation: [String: Double]
    public var test: [String: Double]
}

/// Phase-level state: a killed run resumes at the last completed phase.
struct CoTrainState: Codable {
    var completedPhases = 0
    var rounds: [RoundReport] = []
    var pending: RoundReport?
    var rng: SeededGenerator
}

public enum CoTraining {
    enum Phase: Equatable { case generator(round: Int), recommender(round: Int) }

    /// The phase sequence. Recommender-first ends after the last recommender phase: a final
    /// generator phase would change IDs that no recommender is then trained on.
    static func phases(_ config: CoTrainConfig) -> [Phase] {
        let all = (1 ... max(1, config.rounds)).flatMap { r -> [Phase] in
            config.order == .generatorFirst ? [.generator(round: r), .recommender(round: r)] : [.recommender(round: r), .generator(round: r)]
        }
        return config.order == .recommenderFirst ? Array(all.dropLast()) : all
    }

    /// Runs (or resumes) co-training in `folder`. The folder ends as a normal recommender run
    /// (`run.json`, `spiece.model`, `ids.tsv`, `best/`) plus `generator/`, `cotrain.json` and
    /// `cotrain.md`, so `evaluate`, `recommend` and `zeroshot` work on it.
    /// `recommenderInit` / `generatorInit`: Hugging Face T5 folders (e.g. `idgenrec pretrain`
    /// outputs) the recommender / the bootstrap generator start from; the vocabulary is then that
    /// folder's `spiece.model` (both folders must share it: the bridge needs one vocabulary).
    /// `bootstrapFrom`: another co-training run folder whose `bootstrap/` (generator, tokenizer
    /// and IDs as they were before any phase) this run starts from instead of bootstrapping its
    /// own — ablations (`--fixed-ids`, other learning rates) then share one bootstrap exactly and
    /// skip its cost. On resume the stored config must equal the requested one; a difference
    /// is an error naming the keys.
    @discardableResult
    public static func run(folder: URL, dataPath: String, domain: Domain, config: CoTrainConfig, resume: Bool,
                           recommenderInit: URL? = nil, generatorInit: URL? = nil, bootstrapFrom: URL? = nil,
                           bootstrapTargets: (() throws -> [[String]])? = nil,
                           itemEmbeddings: ItemEmbeddings? = nil,
                           verbose: Bool = true) throws -> [RoundReport] {
        let fm = FileManager.default
        let stateDir = folder.appendingPathComponent("state")
        let configURL = folder.appendingPathComponent("cotrain-config.json")
        RunFolder.recover(stateDir)
        RunFolder.recover(folder.appendingPathComponent("bootstrap"))
        if resume, fm.fileExists(atPath: stateDir.appendingPathComponent("state.json").path), fm.fileExists(atPath: configURL.path) {
            let stored = try JSONOutput.decode(CoTrainConfig.self, from: configURL)
            let changed = try changedKeys(stored: stored, requested: config)
            guard changed.isEmpty else {
                throw RecommenderError.checkpoint(path: folder.path, message: "--resume continues the run with its own settings, but these differ from \(configURL.lastPathComponent): \(changed.joined(separator: ", ")); pass the same options, or start a new run (--bootstrap-from \(folder.path) reuses its bootstrap)")
            }
        }
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        try AtomicFile.writeJSON(config, to: configURL)

        var state: CoTrainState
        var generator: GeneratorFolder
        var ids: IDTable
        let recommender: T5Model
        if resume, fm.fileExists(atPath: stateDir.appendingPathComponent("state.json").path) {
            state = try JSONOutput.decode(CoTrainState.self, from: stateDir.appendingPathComponent("state.json"))
            generator = try GeneratorFolder.load(stateDir.appendingPathComponent("generator"))
            recommender = try T5Model.load(folder: stateDir.appendingPathComponent("recommender"))
            ids = try IDTable.read(stateDir.appendingPathComponent("ids.tsv"))
            Log.info("resuming co-training after phase \(state.completedPhases)")
        } else {
            if fm.fileExists(atPath: stateDir.path) {
                throw RecommenderError.checkpoint(path: folder.path, message: "holds a co-training run already; pass --resume or choose another --out")
            }
            state = CoTrainState(rng: SeededGenerator(seed: config.recommender.seed &+ 4242))
            if let bootstrapFrom {
                guard generatorInit == nil else {
                    throw RecommenderError.invalidInput("--bootstrap-from and --generator-init-from both say where the generator comes from; pass one")
                }
                let source = bootstrapFrom.appendingPathComponent("bootstrap")
                guard fm.fileExists(atPath: source.appendingPathComponent("ids.tsv").path) else {
                    throw RecommenderError.checkpoint(path: bootstrapFrom.path, message: "has no bootstrap/ids.tsv: --bootstrap-from needs a co-training run folder that finished its bootstrap")
                }
                generator = try GeneratorFolder.load(source.appendingPathComponent("generator"))
                ids = try IDTable.read(source.appendingPathComponent("ids.tsv"))
                guard ids.itemIDs == domain.catalog.ids else {
                    throw RecommenderError.checkpoint(path: bootstrapFrom.path, message: "its bootstrap IDs name \(ids.count) items, not the \(domain.catalog.count) items of \(dataPath) in order: bootstrap from a run on the same data")
                }
                if verbose { Log.info("bootstrap: generator and \(ids.count) IDs from \(source.path)") }
            } else {
                (generator, ids) = try bootstrap(domain: domain, config: config, recommenderInit: recommenderInit,
                                                 generatorInit: generatorInit, targetWords: try bootstrapTargets?(), verbose: verbose)
            }
            try RunFolder.replaceFolder(folder.appendingPathComponent("bootstrap")) { tmp in
                try generator.save(tmp.appendingPathComponent("generator"))
                try ids.write(to: tmp.appendingPathComponent("ids.tsv"))
            }
            let tokenizer = generator.tokenizer
            if let recommenderInit {
                recommender = try T5Model.load(folder: recommenderInit)
                let other = try Tokenizer(contentsOf: recommenderInit.appendingPathComponent("spiece.model"))
                guard other.modelHash == tokenizer.modelHash else {
                    throw T5Error.tokenizerMismatch("the generator's spiece.model and \(recommenderInit.path)/spiece.model differ; the generator and the recommender need one vocabulary")
                }
            } else {
                var t5 = T5Config.preset(config.recommender.preset, vocabularySize: tokenizer.vocabularySize)
                t5.dropout_rate = config.recommender.dropout
                var g = SeededGenerator(seed: config.recommender.seed)
                recommender = try T5Model(config: t5, generator: &g)
            }
            guard recommender.config.vocab_size == generator.model.config.vocab_size, tokenizer.vocabularySize <= recommender.config.vocab_size else {
                throw T5Error.tokenizerMismatch("generator vocab_size \(generator.model.config.vocab_size), recommender vocab_size \(recommender.config.vocab_size), vocabulary \(tokenizer.vocabularySize) pieces: the bridge needs one vocabulary")
            }
            try saveState(stateDir, state: state, generator: generator, recommender: recommender, ids: ids)
        }
        let tokenizer = generator.tokenizer
        try tokenizer.save(to: RunFolder.tokenizerURL(folder))
        let split = try Split.leaveOneOut(domain, historyCap: config.recommender.historyCap)
        try LeakChecks.checkSplit(split, against: domain)
        let samples = split.trainingSamples(historyCap: config.recommender.historyCap)
        let sources = ItemText.all(domain.catalog).map { generatorSource($0, tokenizer: tokenizer, maximumTokens: config.generator.maximumSourceTokens) }
        // Item content (`config.recommender.itemContent`): one projection for the whole run, saved
        // with the recommender in state/ (resume) and best/.
        var content: ItemContent?
        if let settings = config.recommender.itemContent {
            guard let itemEmbeddings else {
                throw RecommenderError.invalidInput("item content '\(settings.mode.rawValue)' needs the catalog's item embeddings (the sentence encoder)")
            }
            content = try ItemContent(mode: settings.mode, embeddings: itemEmbeddings, catalog: domain.catalog, source: "item embeddings",
                                      dModel: recommender.config.d_model)
            let saved = stateDir.appendingPathComponent("recommender")
            if fm.fileExists(atPath: saved.appendingPathComponent(ItemContentProjection.fileName).path) { try content!.projection.load(from: saved) }
            try itemEmbeddings.save(to: folder.appendingPathComponent(ItemContent.embeddingsFile))
        }

        for (index, phase) in phases(config).enumerated() where index >= state.completedPhases {
            var data = try RecommenderData(domain: domain, split: split, ids: ids, tokenizer: tokenizer, config: config.recommender)
            switch phase {
            case let .generator(round):
                var report = state.pending ?? RoundReport(round: round, examples: [], recommenderSeconds: 0, validation: [:], test: [:])
                if !config.fixedIDs {
                    let start = Date()
                    var bridge = try Bridge(generator: generator.model, recommender: recommender, data: data, sources: sources,
                                            regularizerWeight: config.regularizerWeight)
                    bridge.content = content
                    let groups = ParameterGroup.split(generator.model.namedParameters(), weightDecay: 0.01) { $0.contains("layer_norm") }
                    let optimizer = AdamW(groups: groups, learningRate: config.generatorLearningRate, eps: 1e-6)
                    let line = ProgressLine("round \(round) generator", total: config.generatorSteps, unit: "steps", enabled: verbose)
                    var lossSum = 0.0, regSum = 0.0
                    for _ in 0 ..< config.generatorSteps {
                        let batch = (0 ..< config.generatorBatchSize).map { _ in samples[Int(state.rng.next() % UInt64(samples.count))] }
                        let templates = batch.map { _ in Int(state.rng.next() % UInt64(data.prompts.templates.count)) }
                        optimizer.zeroGrad()
                        let losses = try bridge.loss(samples: batch, templates: templates)
                        losses.total.backward()
                        for p in recommender.namedParameters() { p.parameter.zeroGrad() } // frozen: never stepped
                        content?.projection.weight.zeroGrad()
                        _ = clipGradNorm(optimizer.allParameters, maxNorm: 1.0)
                        optimizer.step()
                        lossSum += Double(losses.recommendation)
                        regSum += Double(losses.regularizer)
                        line.advance(String(format: "rec loss %.4f | reg %.4f", lossSum / Double(line.done + 1), regSum / Double(line.done + 1)))
                    }
                    line.finish()
                    // Regenerate every item's ID with the collision pass; rebuild the trie.
                    var candidates = generator.candidateGenerator(for: domain.catalog)
                    let (newIDs, assignment) = try IDGeneration.assign(catalog: domain.catalog, generator: &candidates, options: config.ids, progress: verbose)
                    report.idChurn = newIDs.churn(from: ids)
                    report.assignment = assignment
                    report.examples = stride(from: 0, to: ids.count, by: max(1, ids.count / 6)).prefix(6).map { i in
                        [ids.itemIDs[i], ids.textualIDs[i], newIDs.textualIDs[i]]
                    }
                    report.generatorLoss = lossSum / Double(max(config.generatorSteps, 1))
                    report.generatorRegularizer = regSum / Double(max(config.generatorSteps, 1))
                    report.generatorSeconds = Date().timeIntervalSince(start)
                    if verbose {
                        Log.info(String(format: "round %d generator: bridge loss %.4f, ID churn %.1f%%, %.0fs", round, report.generatorLoss!, 100 * report.idChurn!, report.generatorSeconds!))
                        for e in report.examples { Log.info("  \(e[0]): '\(e[1])' → '\(e[2])'") }
                    }
                    ids = newIDs
                    data = try RecommenderData(domain: domain, split: split, ids: ids, tokenizer: tokenizer, config: config.recommender)
                }
                if config.order == .recommenderFirst { state.rounds.append(report); state.pending = nil } else { state.pending = report }
            case let .recommender(round):
                var report = state.pending ?? RoundReport(round: round, examples: [], recommenderSeconds: 0, validation: [:], test: [:])
                var rc = config.recommender
                rc.epochs = config.recommenderEpochsPerRound
                rc.seed = config.recommender.seed &+ UInt64(round)
                rc.validationUsers = config.roundEvaluationUsers
                let phaseFolder = folder.appendingPathComponent("phases/round\(round)-recommender")
                try? fm.removeItem(at: phaseFolder) // a phase restarts whole after a kill
                try fm.createDirectory(at: phaseFolder, withIntermediateDirectories: true)
                let runner = RecommenderRunner(folder: phaseFolder, trainer: RecommenderTrainer(config: rc, data: data, content: content), model: recommender)
                runner.verbose = verbose
                let start = Date()
                let phaseState = try runner.train(resume: false)
                report.recommenderSeconds = Date().timeIntervalSince(start)
                report.recommenderLoss = phaseState.log.last?.loss
                let users = config.roundEvaluationUsers == 0 ? nil : config.roundEvaluationUsers
                report.validation = try runner.evaluate(part: .validation, users: users, progress: false).report.metrics
                report.test = try runner.evaluate(part: .test, users: users, progress: false).report.metrics
                if verbose {
                    Log.info(String(format: "round %d recommender: valid R@10 %.4f N@10 %.4f | test R@10 %.4f N@10 %.4f",
                                    round, report.validation["recall@10"] ?? 0, report.validation["ndcg@10"] ?? 0,
                                    report.test["recall@10"] ?? 0, report.test["ndcg@10"] ?? 0))
                }
                if config.order == .generatorFirst { state.rounds.append(report); state.pending = nil } else { state.pending = report }
            }
            state.completedPhases = index + 1
            try saveState(stateDir, state: state, generator: generator, recommender: recommender, ids: ids, content: content)
            try writeReports(folder, rounds: state.rounds, config: config)
        }

        if let pending = state.pending {
            state.rounds.append(pending)
            state.pending = nil
            try writeReports(folder, rounds: state.rounds, config: config)
        }
        // The folder as a normal run: final recommender, its IDs, the generator that wrote them.
        try ids.write(to: RunFolder.idsURL(folder))
        try RunFolder.replaceFolder(RunFolder.bestURL(folder)) { dir in
            try recommender.save(folder: dir, tokenizer: generator.tokenizer)
            try content?.projection.save(to: dir)
        }
        try RunFolder.replaceFolder(folder.appendingPathComponent("generator")) { try generator.save($0) }
        var manifestConfig = config.recommender
        manifestConfig.epochs = config.recommenderEpochsPerRound * config.rounds
        let manifest = RunManifest(data: dataPath, idsSource: config.fixedIDs ? "bootstrap generator (fixed)" : "co-trained generator",
                                   tokenizerHash: tokenizer.modelHash, items: domain.catalog.count, users: split.users.count,
                                   trainingSamples: samples.count, config: manifestConfig, model: recommender.config)
        try AtomicFile.writeJSON(manifest, to: RunFolder.manifestURL(folder))
        return state.rounds
    }

    /// The vocabulary (from an init folder, else trained on the catalog text), the bootstrapped
    /// generator and its IDs for the catalog.
    /// `targetWords`: the generator's bootstrap targets per catalog item (e.g. semantic ID words);
    /// nil = the items' IDF keywords.
    static func bootstrap(domain: Domain, config: CoTrainConfig, recommenderInit: URL?, generatorInit: URL?,
                          targetWords: [[String]]? = nil, verbose: Bool) throws -> (GeneratorFolder, IDTable) {
        let tokenizer: Tokenizer
        if let source = generatorInit ?? recommenderInit {
            tokenizer = try Tokenizer(contentsOf: source.appendingPathComponent("spiece.model"))
        } else {
            tokenizer = try SharedVocabulary.train(catalogs: [domain.catalog], size: config.recommender.vocabularySize,
                                                   framing: PromptTemplates.vocabularyFraming(PromptTemplates.named(config.recommender.promptFraming)))
        }
        if verbose {
            Log.info("vocabulary: \(tokenizer.vocabularySize) pieces; bootstrapping the ID generator from \(generatorInit?.path ?? "a random \(config.generator.preset.rawValue) T5")")
        }
        let generator = try GeneratorFolder.bootstrap(catalogs: [domain.catalog], tokenizer: tokenizer, config: config.generator,
                                                      fieldWeights: config.ids.fieldWeights, initFrom: generatorInit, targetWords: targetWords,
                                                      verbose: verbose)
        var candidates = generator.candidateGenerator(for: domain.catalog)
        let ids = try IDGeneration.assign(catalog: domain.catalog, generator: &candidates, options: config.ids, progress: verbose).table
        return (generator, ids)
    }

    /// The settings a resumed run would change: dotted keys whose values differ between the
    /// stored config and the requested one.
    static func changedKeys(stored: CoTrainConfig, requested: CoTrainConfig) throws -> [String] {
        func flatten(_ value: Any, _ prefix: String, into out: inout [String: String]) {
            if let dictionary = value as? [String: Any] {
                for (key, inner) in dictionary { flatten(inner, prefix.isEmpty ? key : "\(prefix).\(key)", into: &out) }
            } else {
                out[prefix] = "\(value)"
            }
        }
        func leaves(_ config: CoTrainConfig) throws -> [String: String] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            var out: [String: String] = [:]
            flatten(try JSONSerialization.jsonObject(with: try encoder.encode(config)), "", into: &out)
            return out
        }
        let a = try leaves(stored), b = try leaves(requested)
        return Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted().map { key in "\(key) (\(a[key] ?? "unset") → \(b[key] ?? "unset"))" }
    }

    static func saveState(_ dir: URL, state: CoTrainState, generator: GeneratorFolder, recommender: T5Model, ids: IDTable,
                          content: ItemContent? = nil) throws {
        try RunFolder.replaceFolder(dir) { tmp in
            try generator.save(tmp.appendingPathComponent("generator"))
            try recommender.save(folder: tmp.appendingPathComponent("recommender"), tokenizer: generator.tokenizer)
            try content?.projection.save(to: tmp.appendingPathComponent("recommender"))
            try ids.write(to: tmp.appendingPathComponent("ids.tsv"))
            try AtomicFile.writeJSON(state, to: tmp.appendingPathComponent("state.json"))
        }
    }

    public static func markdown(_ rounds: [RoundReport]) -> String {
        var out = "| round | generator loss | ID churn | retries / last resort | valid R@10 | valid N@10 | test R@10 | test N@10 | seconds |\n|---|---|---|---|---|---|---|---|---|\n"
        for r in rounds {
            let retries = r.assignment.map { a in
                "\(a.settledAtLevel.filter { $0.key != "0" }.values.reduce(0, +)) / \(a.lastResortWord + a.lastResortNumber)"
            } ?? "–"
            out += String(format: "| %d | %@ | %@ | %@ | %.4f | %.4f | %.4f | %.4f | %.0f |\n", r.round,
                          r.generatorLoss.map { String(format: "%.4f", $0) } ?? "–", r.idChurn.map { String(format: "%.1f%%", 100 * $0) } ?? "–",
                          retries, r.validation["recall@10"] ?? 0, r.validation["ndcg@10"] ?? 0, r.test["recall@10"] ?? 0, r.test["ndcg@10"] ?? 0,
                          (r.generatorSeconds ?? 0) + r.recommenderSeconds)
        }
        return out
    }

    static func writeReports(_ folder: URL, rounds: [RoundReport], config: CoTrainConfig) throws {
        try AtomicFile.writeJSON(rounds, to: folder.appendingPathComponent("cotrain.json"))
        try AtomicFile.write("# Co-training rounds\n\n" + markdown(rounds) + "\nRound metrics on seeded samples of \(config.roundEvaluationUsers == 0 ? "all" : String(config.roundEvaluationUsers)) users; fixed IDs: \(config.fixedIDs).\n",
                             to: folder.appendingPathComponent("cotrain.md"))
        let plot = SVGPlot(title: "co-training", xLabel: "round", series: [
            .init(name: "validation ndcg@10", points: rounds.map { (Double($0.round), $0.validation["ndcg@10"] ?? .nan) }),
            .init(name: "test ndcg@10", points: rounds.map { (Double($0.round), $0.test["ndcg@10"] ?? .nan) }),
            .init(name: "ID churn", points: rounds.compactMap { r in r.idChurn.map { (Double(r.round), $0) } }),
        ])
        try AtomicFile.write(plot.render(), to: folder.appendingPathComponent("cotrain.svg"))
    }
}
