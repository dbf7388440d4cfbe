import ArgumentParser
import Corpora
import Foundation
import IDGen
import Recommender
import Support
import TensorCore
import TextEncoder

/// `train --scheme item-token` options (issue 20; docs/item-token.md). The values are optional
/// so that `--resume` can tell a flag given from a default: a resumed run keeps its own settings,
/// and a flag that contradicts them is an error.
struct ItemTokenOptions: ParsableArguments {
    @Option(name: .long, help: "textual-id (generate the item's textual ID under the trie) or item-token (one decoder step scores every item through an item output table). Default textual-id; --resume follows the run.")
    var scheme: String?
    @Option(name: .long, help: "Item-token rows: hybrid (default: content plus a learned per-item residual that starts at zero; new items get their content row), content (item embeddings through a learned projection), learned (a free vector per item) or id-mean (mean of the item's ID-token embeddings).")
    var itemRows: String?
    @Option(name: .long, help: "Item-token loss: ce (full softmax, default), sampled-softmax (logQ-corrected, in-batch + uniform negatives), warp or lambdarank (sampled, corrected rank estimates).")
    var loss: String?
    @Option(name: .long, help: "Uniform negatives per batch for the sampled losses (default 1000).") var negatives: Int?
    @Option(name: .long, help: "Item embeddings from 'idgenrec embed' for --item-rows content and hybrid (default: the catalog embedded with the sentence encoder, cached in the run folder).") var itemEmbeddings: String?
    @Option(name: .long, help: "Item-token input: add (each history item's output row, tied, is also added at its ID tokens; default), replace (each history item is one position: a marker token plus its row; the ID words are not read) or off (the encoder reads the history's ID words only).")
    var itemInput: String?
    @Option(name: .long, help: "Item-token history bias: 'learned' (default: one learned score offset for the items of the prompt's history; the model learns from the training targets whether users pick an item again) or 'off'.")
    var historyBias: String?
    @Option(name: .long, help: "Item-token label smoothing of the full-softmax loss (--loss ce): the target keeps 1 - e of the probability, e spread over the catalog (default 0).")
    var labelSmoothing: Float?

    static let textualScheme = "textual-id"

    func parsedScheme() throws -> String {
        let s = scheme ?? Self.textualScheme
        guard [Self.textualScheme, RecommenderConfig.itemTokenScheme].contains(s) else {
            throw ValidationErrorMessage(message: "--scheme: expected textual-id or item-token, found '\(s)'")
        }
        return s
    }

    /// The item-token settings the flags ask for, defaults where a flag is absent.
    func settings() throws -> ItemTokenSettings {
        let defaults = ItemTokenSettings()
        // Default hybrid: it beat content rows on Office and ml-100k, validation and test, by a
        // third or more (docs/item-token.md#hybrid-rows-measured---item-rows-hybrid-against-content-2026-12-07); the library's
        // default stays learned (run.json files always record their rows).
        guard let rows = itemRows.map({ ItemTokenSettings.Rows(rawValue: $0) }) ?? ItemTokenSettings.Rows.hybrid else {
            throw ValidationErrorMessage(message: "--item-rows: expected one of \(ItemTokenSettings.Rows.allCases.map(\.rawValue).joined(separator: ", ")), found '\(itemRows!)'")
        }
        guard let l = loss.map({ ItemTokenSettings.Loss(rawValue: $0) }) ?? defaults.loss else {
            throw ValidationErrorMessage(message: "--loss: expected one of \(ItemTokenSettings.Loss.allCases.map(\.rawValue).joined(separator: ", ")), found '\(loss!)'")
        }
        let n = negatives ?? defaults.negatives
        guard n > 0 else { throw ValidationErrorMessage(message: "--negatives must be positive") }
        // Default add: it beat off on Office and ml-100k, validation and test (docs/item-token.md#item-rows-in-the-input-measured---item-input-add-against-off-2026-12-07).
        guard let input = itemInput.map({ ItemTokenSettings.Input(rawValue: $0) }) ?? ItemTokenSettings.Input.add else {
            throw ValidationErrorMessage(message: "--item-input: expected one of \(ItemTokenSettings.Input.allCases.map(\.rawValue).joined(separator: ", ")), found '\(itemInput!)'")
        }
        var settings = ItemTokenSettings(rows: rows, loss: l, negatives: n, embeddings: itemEmbeddings.map { URL(fileURLWithPath: $0).standardizedFileURL.path },
                                         input: input)
        // Default learned: it raised validation and test R@10 / N@10 on Office, ml-100k and Beauty
        // (docs/item-token.md#a-learned-history-bias-measured-2026-12-08); the library's default stays off.
        let bias = historyBias ?? "learned"
        guard ["learned", "off"].contains(bias) else { throw ValidationErrorMessage(message: "--history-bias: expected learned or off, found '\(bias)'") }
        settings.historyBias = bias == "learned" ? true : nil
        if let e = labelSmoothing {
            guard e >= 0, e < 1 else { throw ValidationErrorMessage(message: "--label-smoothing must be in [0, 1), found \(e)") }
            guard l == .ce else { throw ValidationErrorMessage(message: "--label-smoothing applies to --loss ce only (this run's loss: \(l.rawValue))") }
            settings.labelSmoothing = e == 0 ? nil : e
        }
        return settings
    }

    /// Records the scheme of a new run in `config`, with the scheme's defaults for what the flags
    /// leave open; true for item-token. `promptGiven`: `--prompt` was passed (else an item-token
    /// run gets the short framing).
    func apply(to config: inout RecommenderConfig, itemContent: Bool = false, promptGiven: Bool = false) throws -> Bool {
        switch try parsedScheme() {
        case Self.textualScheme:
            guard (itemRows ?? "learned") == "learned", (loss ?? "ce") == "ce", (itemInput ?? "off") == "off", itemEmbeddings == nil || itemContent,
                  labelSmoothing == nil, historyBias == nil else {
                throw ValidationErrorMessage(message: "--item-rows, --loss, --item-input, --label-smoothing, --history-bias and --item-embeddings need --scheme item-token")
            }
            return false
        default:
            guard !itemContent else { throw ValidationErrorMessage(message: "--item-content needs --scheme textual-id (the item-token scheme has no content slot yet)") }
            let settings = try settings()
            if !settings.rows.readsContent, itemEmbeddings != nil {
                throw ValidationErrorMessage(message: "--item-embeddings is read only by --item-rows content or hybrid (these rows are '\(settings.rows.rawValue)'); drop it or pass --item-rows content")
            }
            config.scheme = RecommenderConfig.itemTokenScheme
            config.itemToken = settings
            // Default framing short: it tied the paper's templates at equal epochs on three domains
            // and at equal CPU on Office and ml-100k, with a fifth to a third fewer tokens
            // (docs/item-token.md#other-settings-tried-office-ml-100k-the-prompt-also-on-beauty-2026-12-07).
            if !promptGiven { config.promptFraming = "short" }
            return true
        }
    }

    /// On `--resume` of the run whose config is `saved`: the flags given that contradict it (an
    /// absent flag never does). For an item-token run, `config` gets the run's scheme and settings.
    func resumeConflicts(saved: RecommenderConfig, config: inout RecommenderConfig) throws -> [String] {
        var conflicts: [String] = []
        let runScheme = saved.isItemToken ? RecommenderConfig.itemTokenScheme : Self.textualScheme
        if scheme != nil, try parsedScheme() != runScheme { conflicts.append("--scheme \(scheme!) (the run's: \(runScheme))") }
        guard saved.isItemToken else {
            for (flag, given) in [("--item-rows", itemRows), ("--loss", loss), ("--negatives", negatives.map(String.init)), ("--item-input", itemInput),
                                  ("--label-smoothing", labelSmoothing.map { "\($0)" }), ("--history-bias", historyBias)] where given != nil {
                conflicts.append("\(flag) \(given!) (the run is not an item-token run)")
            }
            return conflicts
        }
        let run = saved.itemToken ?? ItemTokenSettings()
        let given = try settings()
        if itemRows != nil, given.rows != run.rows { conflicts.append("--item-rows \(given.rows.rawValue) (the run's: \(run.rows.rawValue))") }
        if loss != nil, given.loss != run.loss { conflicts.append("--loss \(given.loss.rawValue) (the run's: \(run.loss.rawValue))") }
        if negatives != nil, given.negatives != run.negatives { conflicts.append("--negatives \(given.negatives) (the run's: \(run.negatives))") }
        if itemInput != nil, (given.input ?? .off) != (run.input ?? .off) {
            conflicts.append("--item-input \((given.input ?? .off).rawValue) (the run's: \((run.input ?? .off).rawValue))")
        }
        if labelSmoothing != nil, (given.labelSmoothing ?? 0) != (run.labelSmoothing ?? 0) {
            conflicts.append("--label-smoothing \(given.labelSmoothing ?? 0) (the run's: \(run.labelSmoothing ?? 0))")
        }
        if historyBias != nil, (given.historyBias ?? false) != (run.historyBias ?? false) {
            conflicts.append("--history-bias \(historyBias!) (the run's: \((run.historyBias ?? false) ? "learned" : "off"))")
        }
        if itemEmbeddings != nil, !run.rows.readsContent { conflicts.append("--item-embeddings (the run's rows are \(run.rows.rawValue), not content or hybrid)") }
        config.scheme = RecommenderConfig.itemTokenScheme
        config.itemToken = run
        return conflicts
    }
}

extension TrainCommand {
    func trainItemToken(domain: Domain, config: RecommenderConfig) throws {
        let (resolved, source) = try idTable(domain)
        // --resume on a folder without a completed epoch starts afresh (and may need the encoder).
        let resumes = resume && FileManager.default.fileExists(atPath: RunFolder.lastURL(URL(fileURLWithPath: out)).appendingPathComponent("state.json").path)
        var embeddings = try itemToken.itemEmbeddings.map { try ItemEmbeddings.load(URL(fileURLWithPath: $0)) }
        if embeddings == nil, !resumes, let rows = config.itemToken?.rows, rows.readsContent {
            // Under the name the run keeps its copy by, so the file is written once.
            embeddings = try embedCatalog(domain, as: ItemEmbeddings.fileName,
                                          need: "--item-rows \(rows.rawValue) embeds the catalog's texts with it (or train --item-rows learned)")
        }
        let runner = try ItemTokenRunner.open(
            folder: URL(fileURLWithPath: out),
            inputs: .init(dataPath: data, domain: domain, ids: resolved.table, idsSource: source, initFolder: options.initFrom.map { URL(fileURLWithPath: $0) },
                           encoder: resumes ? nil : try options.loadEncoder(), codes: resolved.codes, idsURL: resolved.url),
            config: config, embeddings: embeddings, resume: resume)
        let t5 = runner.model.t5.config
        Log.info("training \(t5.d_model)-d T5, item-token scheme (rows \(runner.settings.rows.rawValue), loss \(runner.settings.loss.rawValue)\(runner.settings.labelSmoothing.map { ", label smoothing \($0)" } ?? "")\(runner.settings.historyBias == true ? ", history bias learned" : ""), input \((runner.settings.input ?? .off).rawValue)) on \(runner.trainer.batchesPerEpoch()) batches per epoch")
        let start = Date()
        try runner.train(resume: resume)
        let trainSeconds = Date().timeIntervalSince(start)
        let final = try ItemTokenRunner.load(folder: runner.folder, domain: domain, dataPath: data)
        let report = try final.finalTest(dataPath: data, users: testUsers)
        print(report.markdown, terminator: "")
        print(String(format: "training %.0fs; run folder %@", trainSeconds, out))
    }
}

extension BenchRank {
    /// `bench rank` on an item-token run: one decoder step and exact top-`beams` over the whole
    /// catalog for the same seeded users, timed the same way (one untimed batch first).
    func benchItemToken(folder: URL, domain: Domain) throws {
        var runner = try ItemTokenRunner.load(folder: folder, domain: domain, dataPath: data)
        var config = runner.trainer.config
        config.evaluationBatchSize = max(1, batchSize / 4)
        runner = ItemTokenRunner(folder: folder, trainer: RecommenderTrainer(config: config, data: runner.trainer.data), model: runner.model)
        let targets = Evaluator.sample(runner.trainer.data.split.targets(.test), count: users, seed: seed)
        guard !targets.isEmpty else { throw ValidationErrorMessage(message: "\(self.data) has no test users") }
        _ = runner.rank(Array(targets.prefix(batchSize)), k: beams)
        let ((ranked, seconds), flops) = FlopCounter.measure { () -> ([[(index: Int, score: Float)]], Double) in
            let t0 = DispatchTime.now().uptimeNanoseconds
            let r = runner.rank(targets, k: beams)
            return (r, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        let hits = zip(targets, ranked).filter { t, r in r.contains { $0.index == t.target } }.count
        let parameters = runner.model.namedParameters().reduce(0) { $0 + $1.parameter.value.count }
        let result: [String: Any] = [
            "implementation": "swift", "scheme": "item-token", "users": targets.count, "seconds": seconds,
            "users_per_second": Double(targets.count) / seconds, "batch_size": batchSize, "top_k": beams, "threads": threads,
            "items": domain.catalog.count, "recall_at_k": Double(hits) / Double(targets.count), "parameters": parameters,
            "run": runFolder, "data": self.data, "seed": Int(seed), "load_average": Self.loadAverage() as Any,
            "matrix_gflop_per_user": Double(flops) / 1e9 / Double(targets.count),
            "blas_kernel": BLAS.backend.kernel, "openblas_coretype": BLAS.backend.forcedCoreType ?? NSNull(),
        ]
        let json = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: json, as: UTF8.self))
        if let path = self.json { try AtomicFile.write(json + Data("\n".utf8), to: URL(fileURLWithPath: path)) }
    }
}
