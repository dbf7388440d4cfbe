import ArgumentParser
import Corpora
import Foundation
import IDGen
import Recommender
import Support
import TextEncoder

/// `idgenrec zeroshot --run RUN --data TARGET[,TARGET2…]`: a frozen recommender on domains it
/// never saw (issue 9).
struct ZeroShotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zeroshot",
        abstract: "Evaluate a trained run on held-out domains with no training on them.",
        discussion: """
        For each target (evaluated separately, never merged): IDs for its catalog from the run's \
        generator (RUN/generator/) or keyword IDs, a trie over them, and the frozen recommender \
        (best/) on the target's leave-one-out test split with full ranking. Reported alongside: \
        vocabulary coverage of the target text by the run's tokenizer, identical titles between \
        the run's training data and the target, MostPop on the target (uses target data), the \
        in-domain result when given, and bad input (items without text, users too short for a \
        split, ids shared with the source).
        """)

    @Option(name: .customLong("run"), help: "Run folder (from 'idgenrec train' or 'cotrain').") var runFolder: String
    @Option(name: .long, help: "Target dataset folder(s), comma-separated; each is evaluated on its own.") var data: String
    @OptionGroup var dataset: DatasetOptions
    @Option(name: .long, help: """
        ID generator for the targets: a generator folder (default RUN/generator when it exists; its \
        spiece.model must be the run's), 'semantic' (the sentence encoder picks each item's words; the \
        default when the run was trained on semantic-word IDs and has no generator), or 'keywords' (the item's \
        most distinctive words), or 'codes' (the run's quantiser codes the target's item embeddings; the \
        default for a run on semantic codes).
        """)
    var generator: String?
    @Option(name: .long, help: "Sentence-transformers BERT folder for 'semantic' (default: $IDGENREC_ENCODER, else checkpoints/encoders/all-MiniLM-L6-v2).") var encoder: String?
    @Option(name: .long, help: "Write the JSON report here (per-target ranks beside it as NAME.TARGET.ranks.tsv).") var json: String?
    @Option(name: .long, help: "Seeded random sample of test users per target (default all).") var users: Int?
    @Option(name: .long, help: "Seed of the user sample.") var seed: UInt64 = 0
    @Option(name: .customLong("in-domain"), help: "In-domain reference: run folder(s) or report JSON(s), comma-separated, matched to targets by domain name.")
    var inDomain: String?
    @Flag(name: .long, help: "Skip reading the run's training data (no title overlap or id-collision counts).") var noSourceData = false
    @Option(name: .long, help: "The targets' item embeddings (idgenrec embed), one file per --data target, comma-separated in the same order, for item-token runs with content or hybrid rows and runs trained with --item-content (default for those: computed with the encoder and cached in RUN/zeroshot-content/).") var itemEmbeddings: String?

    /// Item-token runs: exact full-catalog scores of each target's test users, with MostPop, chance,
    /// the in-domain ratio, coverage and title overlap as for textual IDs (one table; `compare`
    /// reads the JSON). The target's rows come from its texts (content, hybrid) or its keyword IDs
    /// (id-mean); `--item-embeddings` gives one file per target, in order.
    func zeroShotItemToken(_ runURL: URL, targets: [String]) throws {
        let manifest = try JSONOutput.decode(RunManifest.self, from: RunFolder.manifestURL(runURL))
        let files = try embeddingFiles(targets: targets.count)
        let source = noSourceData ? nil : sourceDomain(manifest.data)
        let references = try loadReferences()
        var results: [ZeroShotResult] = []
        var usedReferences = Set<String>()
        for (t, path) in targets.enumerated() {
            let start = Date()
            let target = try singleTarget(path)
            var embeddings = try files.map { try ItemEmbeddings.load(URL(fileURLWithPath: $0[t])) }
            if embeddings == nil, let rows = manifest.config.itemToken?.rows, rows.readsContent {
                let own = try ItemEmbeddings.load(runURL.appendingPathComponent(ItemEmbeddings.fileName))
                embeddings = try embedTarget(target, run: runURL, encoderHash: own.encoderHash,
                                             need: "the run's \(rows.rawValue) rows score the target's items from their texts")
            }
            let (runner, idReport) = try ItemTokenRunner.zeroShot(folder: runURL, target: target, embeddings: embeddings)
            let replace = runner.settings.input == .replace
            let prompts = replace ? "one position per history item carrying its row (no IDs in prompts)" : "keyword IDs in prompts"
            Log.info("zero-shot (item-token, \(runner.settings.rows.rawValue) rows, input \((runner.settings.input ?? .off).rawValue)): \(target.name), \(target.catalog.count) items, \(target.interactions.userCount) users, \(prompts)")
            var (report, ranks) = try runner.evaluate(part: .test, users: users, seed: seed, progress: true)
            report.data = path
            report.config["zero_shot_from"] = runURL.path
            report.config["trained_on"] = manifest.data
            report.config["training_on_target"] = "none"
            let reference = references[target.name]
            if reference != nil { usedReferences.insert(target.name) }
            let idSource = replace ? "none in prompts (replace input); keyword IDs for the catalog table" : "keywords (4 most distinctive words)"
            // Where the top 10 go: the same users' lists, against MostPop's (timed with the rest).
            let split = runner.trainer.data.split
            var evaluated = split.targets(.test)
            if let users { evaluated = Evaluator.sample(evaluated, count: users, seed: seed) }
            let popular = try MostPop(split: split).top(10, catalog: target.catalog)
            let historyShare = [
                "zero_shot": ZeroShot.historyShare(runner.rank(evaluated, k: 10).map { $0.map(\.index) }, targets: evaluated),
                "mostpop": ZeroShot.historyShare([[Int]](repeating: popular, count: evaluated.count), targets: evaluated),
            ]
            var result = try ZeroShot.result(report: report, split: split, target: target, dataPath: path, runFolder: runURL,
                                             trainedOn: manifest.data, tokenizer: runner.trainer.data.tokenizer, idSource: idSource, idReport: idReport,
                                             tokenCollisionsResolved: 0, source: source, inDomain: reference, users: users, seed: seed, start: start)
            result.historyShareAtTen = historyShare
            if let json { result.zeroShot.ranksFile = try writeRanks(ranks, json: json, target: target.name) }
            results.append(result)
        }
        try finish(results, references: references, used: usedReferences)
    }

    /// One target's domain; a folder of several domains is refused (zero-shot never merges).
    func singleTarget(_ path: String) throws -> Domain {
        let folders = try DatasetOptions.domainFolders(path, format: dataset.format)
        guard folders.count == 1 else {
            throw ValidationErrorMessage(message: "--data \(path): a folder of \(folders.count) domains; zero-shot evaluates each target alone, list them comma-separated")
        }
        return try dataset.load(path).domain
    }

    /// The run's training data, for title overlap and id collisions; nil (with a warning) when unreadable.
    func sourceDomain(_ path: String) -> Domain? {
        do {
            return try dataset.load(path).domain
        } catch {
            Log.info("WARNING: cannot read the run's training data '\(path)' (\(error)); title overlap and id collisions are not measured")
            return nil
        }
    }

    /// Writes a target's ranks beside `--json` (JSON-STEM.TARGET.ranks.tsv) and returns the file name.
    func writeRanks(_ ranks: [UserRank], json: String, target: String) throws -> String {
        let url = URL(fileURLWithPath: json)
        let name = url.deletingPathExtension().lastPathComponent + ".\(target).ranks.tsv"
        try RanksFile.write(ranks, to: url.deletingLastPathComponent().appendingPathComponent(name))
        return name
    }

    /// Warns of unused --in-domain reports, writes --json and prints the table.
    func finish(_ results: [ZeroShotResult], references: [String: MetricsReport], used: Set<String>) throws {
        for name in references.keys.sorted() where !used.contains(name) {
            Log.info("WARNING: --in-domain report for '\(name)' matches no target (targets: \(results.map(\.target).joined(separator: ", ")))")
        }
        if let json { try AtomicFile.writeJSON(results, to: URL(fileURLWithPath: json)) }
        print(ZeroShot.markdown(results), terminator: "")
    }

    func run() throws {
        try runReportingErrors {
            let runURL = URL(fileURLWithPath: runFolder)
            let targets = data.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !targets.isEmpty else { throw ValidationErrorMessage(message: "--data: expected TARGET or TARGET1,TARGET2,…") }
            // The item-token scheme scores the target's items through rows made from their text
            // (content) or IDs (id-mean); its decoder never learned to write IDs.
            if RecommenderPipeline.isItemTokenRun(runURL) {
                try zeroShotItemToken(runURL, targets: targets)
                return
            }
            let frozen = try FrozenRun.load(runURL)
            let idSource = try resolveIDSource(runURL, idsSource: frozen.manifest.idsSource, codes: frozen.manifest.config.codes)
            Log.info("zero-shot: run \(runFolder) (trained on \(frozen.manifest.data)), checkpoint \(frozen.checkpoint.lastPathComponent), IDs: \(idSource.label)")
            let source = noSourceData ? nil : sourceDomain(frozen.manifest.data)
            let references = try loadReferences()
            var results: [ZeroShotResult] = []
            var usedReferences = Set<String>()
            let files = try embeddingFiles(targets: targets.count)
            for (t, path) in targets.enumerated() {
                let target = try singleTarget(path)
                let reference = references[target.name]
                if reference != nil { usedReferences.insert(target.name) }
                Log.info("target \(target.name): \(target.catalog.count) items, \(target.interactions.userCount) users")
                var (result, ranks, _) = try ZeroShot.evaluate(run: frozen, target: target, dataPath: path, idSource: idSource, source: source,
                                                               inDomain: reference, users: users, seed: seed, progress: true,
                                                               targetEmbeddings: try contentEmbeddings(frozen, target: target, file: files?[t]))
                if let json { result.zeroShot.ranksFile = try writeRanks(ranks, json: json, target: target.name) }
                results.append(result)
            }
            try finish(results, references: references, used: usedReferences)
        }
    }

    /// `--item-embeddings` split into one file per target (nil when not given).
    func embeddingFiles(targets: Int) throws -> [String]? {
        guard let itemEmbeddings else { return nil }
        let files = itemEmbeddings.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard files.count == targets else {
            throw ValidationErrorMessage(message: "--item-embeddings: \(files.count) file(s) for \(targets) --data target(s); give one per target, comma-separated in the same order")
        }
        return files
    }

    /// For a run trained with item content: the target's item embeddings, from `file` (its entry
    /// in --item-embeddings) or computed with the encoder and cached in RUN/zeroshot-content/TARGET.safetensors.
    func contentEmbeddings(_ run: FrozenRun, target: Domain, file: String?) throws -> ItemEmbeddings? {
        guard let settings = run.manifest.config.itemContent else { return nil }
        if let file { return try ItemEmbeddings.load(URL(fileURLWithPath: file)) }
        return try embedTarget(target, run: run.folder, encoderHash: settings.encoderHash,
                               need: "run \(run.folder.path) was trained with --item-content \(settings.mode.rawValue): the target's items must be embedded by its sentence encoder")
    }

    /// The target's item texts through `--encoder`, which must be the encoder the run's own
    /// embeddings came from (`encoderHash`; empty = not recorded), cached in
    /// RUN/zeroshot-content/TARGET.safetensors. `need` says why, in the error for a missing encoder.
    func embedTarget(_ target: Domain, run: URL, encoderHash: String, need: String) throws -> ItemEmbeddings {
        let loaded = try LoadedEncoder(explicit: encoder, missingHint: "\(need); or give them with --item-embeddings FILE from idgenrec embed --data TARGET")
        guard encoderHash.isEmpty || loaded.hash == encoderHash else {
            throw ValidationErrorMessage(message: "--encoder \(loaded.encoder.folder.url.path) (sha256 \(loaded.hash.prefix(12))) is not the encoder the run's item embeddings came from (\(encoderHash.prefix(12)))")
        }
        let cache = run.appendingPathComponent("zeroshot-content")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        return try loaded.itemEmbeddings(target.catalog, cache: cache.appendingPathComponent("\(target.name).safetensors"))
    }

    func resolveIDSource(_ run: URL, idsSource: String, codes: SemanticCodeLayout?) throws -> ZeroShotIDSource {
        if generator == "keywords" { return .keywords }
        if generator == "codes" || (generator == nil && codes != nil) {
            // A run on semantic codes: the target's items through the run's own quantiser.
            guard codes != nil else {
                throw ValidationErrorMessage(message: "--generator codes: run \(run.path) was trained on textual IDs (its run.json records no code layout)")
            }
            let url = RunFolder.quantiserURL(run)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw ValidationErrorMessage(message: "run \(run.path) was trained on semantic codes but has no quantiser (\(url.lastPathComponent)); zero-shot codes the target's items with the quantiser that coded the run's items. Train from a table written by `idgenrec ids generate --scheme semantic`, which keeps FILE.quantiser.safetensors beside it, or pass --generator keywords")
            }
            let quantiser = try SemanticQuantiser.load(from: url)
            let loaded = try LoadedEncoder(explicit: encoder)
            return .codes(quantiser, loaded.encoder, path: url.path)
        }
        let folder = generator.map { URL(fileURLWithPath: $0) } ?? FrozenRun.generatorURL(run)
        let hasGenerator = FileManager.default.fileExists(atPath: folder.appendingPathComponent("config.json").path)
        if generator == "semantic" || (generator == nil && !hasGenerator && Self.trainedOnSemanticIDs(idsSource)) {
            let loaded = try LoadedEncoder(explicit: encoder)
            return .semantic(loaded.encoder, path: loaded.encoder.folder.url.path)
        }
        guard hasGenerator else {
            if generator == nil {
                throw ValidationErrorMessage(message: "run \(run.path) has no generator/ (a co-training run has one); pass --generator DIR for a generator trained with this run's spiece.model, --generator semantic or --generator keywords")
            }
            throw ValidationErrorMessage(message: "--generator: expected 'semantic', 'keywords' or a generator folder with config.json, model.safetensors and spiece.model; found '\(folder.path)'")
        }
        return .generator(try GeneratorFolder.load(folder), path: folder.path)
    }

    /// Whether the run's ID table (`run.json` idsSource) came from `ids generate --generator
    /// semantic`, as the table's `.json` records.
    static func trainedOnSemanticIDs(_ idsSource: String) -> Bool {
        (try? JSONOutput.decode(IDTableMetadata.self, from: URL(fileURLWithPath: idsSource + ".json")))?.generator == "semantic"
    }

    /// In-domain reports by domain name (a run folder's metrics.json, or a report JSON).
    func loadReferences() throws -> [String: MetricsReport] {
        guard let inDomain else { return [:] }
        var out: [String: MetricsReport] = [:]
        for path in inDomain.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !path.isEmpty {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ValidationErrorMessage(message: "--in-domain: no such run folder or report '\(path)'")
            }
            let url = isDirectory.boolValue ? URL(fileURLWithPath: path).appendingPathComponent("metrics.json") : URL(fileURLWithPath: path)
            let report = try JSONOutput.decode(MetricsReport.self, from: url)
            guard report.split.part == .test else {
                throw ValidationErrorMessage(message: "--in-domain \(url.path): a \(report.split.part.rawValue) report; the reference must be a test evaluation")
            }
            out[report.split.domain] = report
        }
        return out
    }
}
