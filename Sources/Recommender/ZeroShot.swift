import Autograd
import Corpora
import Foundation
import TextEncoder
import IDGen
import Support
import T5
import Tokenizer

// Zero-shot evaluation on held-out domains (METHOD.md §5, issue 9): a recommender trained on
// some domains writes IDs for an unseen catalog from its text and ranks items for the unseen
// users, with no training on the target. Also the per-domain breakdown of a merged evaluation.

/// A trained run opened for zero-shot use: manifest, the run's tokenizer and the frozen
/// recommender (`best/`, or `last/` when no best exists).
public struct FrozenRun {
    public let folder: URL
    public let manifest: RunManifest
    public let tokenizer: Tokenizer
    public let model: T5Model
    /// The checkpoint folder the model came from.
    public let checkpoint: URL

    /// A co-training run's generator: `RUN/generator/` (a `GeneratorFolder`).
    public static func generatorURL(_ run: URL) -> URL { run.appendingPathComponent("generator") }

    public static func load(_ folder: URL) throws -> FrozenRun {
        let manifestURL = RunFolder.manifestURL(folder)
        guard FileManager.default.fileExists(atPath: manifestURL.path) else {
            throw RecommenderError.checkpoint(path: folder.path, message: "no run.json: expected a run folder written by `idgenrec train` or `cotrain`")
        }
        let manifest = try JSONOutput.decode(RunManifest.self, from: manifestURL)
        let tokenizer = try Tokenizer(contentsOf: RunFolder.tokenizerURL(folder))
        guard tokenizer.modelHash == manifest.tokenizerHash else {
            throw RecommenderError.checkpoint(path: folder.path, message: "spiece.model (hash \(tokenizer.modelHash.prefix(12))) is not the tokenizer run.json records (\(manifest.tokenizerHash.prefix(12)))")
        }
        let best = RunFolder.bestURL(folder), last = RunFolder.lastURL(folder)
        let checkpoint = FileManager.default.fileExists(atPath: best.appendingPathComponent("model.safetensors").path) ? best : last
        guard FileManager.default.fileExists(atPath: checkpoint.appendingPathComponent("model.safetensors").path) else {
            throw RecommenderError.checkpoint(path: folder.path, message: "neither best/ nor last/ holds a model.safetensors (no completed epoch)")
        }
        let model = try T5Model.load(folder: checkpoint)
        guard tokenizer.vocabularySize <= model.config.vocab_size else {
            throw RecommenderError.checkpoint(path: folder.path, message: "spiece.model has \(tokenizer.vocabularySize) pieces but the model's vocab_size is \(model.config.vocab_size)")
        }
        return FrozenRun(folder: folder, manifest: manifest, tokenizer: tokenizer, model: model, checkpoint: checkpoint)
    }
}

/// Where the target's IDs come from.
public enum ZeroShotIDSource {
    /// The model-free keyword IDs (the item's 4 most distinctive words), as `idgenrec train`
    /// makes them when it has no ID table.
    case keywords
    /// A trained generator; its tokenizer must be the run's.
    case generator(GeneratorFolder, path: String)
    /// Semantic ID words (`IDGeneration.semantic`): the sentence encoder picks each target item's
    /// words from its own text; `path` names the encoder folder in reports.
    case semantic(SentenceEncoder, path: String)
    /// Semantic codes (issue 19): the target's item embeddings through the run's own quantiser
    /// (`RUN/ids.tsv.quantiser.safetensors`), collision codes in catalog order. The encoder space is
    /// shared across domains, so the codes are defined; whether they mean to the frozen model what
    /// the source's codes meant is what the evaluation measures. `path` names the quantiser file.
    case codes(SemanticQuantiser, SentenceEncoder, path: String)

    public var label: String {
        switch self {
        case .keywords: return "keywords (4 most distinctive words)"
        case let .semantic(_, path): return "semantic words (encoder \(path))"
        case let .generator(_, path): return "generator \(path)"
        case let .codes(_, encoder, path): return "semantic codes (the run's quantiser \(path), encoder \(encoder.folder.url.path))"
        }
    }
}

/// How well the run's tokenizer covers the target's item text. With byte fallback (our
/// default) nothing is unknown, but characters the source text never had become byte pieces.
public struct VocabularyCoverage: Codable, Equatable, Sendable {
    public var items: Int
    public var words: Int
    public var pieces: Int
    public var unknownPieces: Int
    public var bytePieces: Int
    /// unknownPieces / pieces
    public var unknownRate: Double
    /// bytePieces / pieces
    public var byteFallbackRate: Double
    /// pieces / whitespace-separated words: how finely the source vocabulary cuts target words.
    public var piecesPerWord: Double

    public static func measure(_ catalog: Catalog, tokenizer: Tokenizer) -> VocabularyCoverage {
        let texts = (0 ..< catalog.count).map { catalog.text(at: $0) }
        var pieces = 0, unknown = 0, bytes = 0, words = 0
        for (text, ids) in zip(texts, tokenizer.encode(batch: texts)) {
            words += text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).count
            pieces += ids.count
            for id in ids {
                switch tokenizer.kind(ofID: id) {
                case .unknown?: unknown += 1
                case .byte?: bytes += 1
                default: break
                }
            }
        }
        let p = Double(max(pieces, 1))
        return VocabularyCoverage(items: catalog.count, words: words, pieces: pieces, unknownPieces: unknown, bytePieces: bytes,
                                  unknownRate: Double(unknown) / p, byteFallbackRate: Double(bytes) / p,
                                  piecesPerWord: words == 0 ? 0 : Double(pieces) / Double(words))
    }
}

/// Identical item titles between the run's training catalog(s) and the target, after
/// normalisation (lower case, punctuation removed, words joined by single spaces).
public struct TitleOverlap: Codable, Equatable, Sendable {
    /// Distinct normalised source titles.
    public var sourceTitles: Int
    public var targetItems: Int
    /// Target items without any title field.
    public var targetItemsWithoutTitle: Int
    /// Distinct normalised target titles that also occur in the source.
    public var identicalTitles: Int
    /// Target items whose title occurs in the source.
    public var targetItemsWithSourceTitle: Int
    /// Identical distinct titles per source domain (merged sources split by id prefix).
    public var perSource: [String: Int]
    public var examples: [String]

    /// The item's title: the field named `title`, else the first whose name contains "title"
    /// (ml-100k's `movie_title`).
    public static func title(_ catalog: Catalog, _ i: Int) -> String? {
        if let t = catalog.value("title", at: i) { return t }
        return catalog.fields[i].first { $0.key.lowercased().contains("title") }?.value
    }

    public static func normalized(_ title: String) -> String {
        IDNormalizer.words(title, fold: true).joined(separator: " ")
    }

    public static func measure(source: Catalog, sourceName: String, target: Catalog) -> TitleOverlap {
        var sourceDomains: [String: Set<String>] = [:]
        var all = Set<String>()
        for i in 0 ..< source.count {
            guard let t = title(source, i).map(normalized), !t.isEmpty else { continue }
            all.insert(t)
            sourceDomains[t, default: []].insert(MultiDomain.domain(ofPrefixed: source.ids[i]) ?? sourceName)
        }
        var without = 0, itemsShared = 0
        var shared = Set<String>()
        var examples: [String] = []
        for i in 0 ..< target.count {
            guard let raw = title(target, i), case let t = normalized(raw), !t.isEmpty else { without += 1; continue }
            if all.contains(t) {
                itemsShared += 1
                if shared.insert(t).inserted, examples.count < 10 { examples.append(raw) }
            }
        }
        var perSource: [String: Int] = [:]
        for t in shared { for d in sourceDomains[t] ?? [] { perSource[d, default: 0] += 1 } }
        return TitleOverlap(sourceTitles: all.count, targetItems: target.count, targetItemsWithoutTitle: without,
                            identicalTitles: shared.count, targetItemsWithSourceTitle: itemsShared, perSource: perSource, examples: examples)
    }
}

/// The target's awkward input (issue 9 "Bad input"), counted rather than silently handled.
public struct TargetInputReport: Codable, Equatable, Sendable {
    public var items: Int
    /// What the import skipped (lenient mode: items without text, unknown items, …), by reason.
    public var importSkipped: [String: Int]
    /// Items whose text holds no word (empty, or punctuation only): they still get IDs (the
    /// assigner's last resort names them from their key), but carry no meaning for the model.
    public var itemsWithEmptyText: Int
    public var emptyTextExamples: [String]
    /// Items the ID assigner had to name from their key.
    public var idsNamedFromKey: Int
    /// Items whose textual ID the run's tokenizer cut into the same pieces as an earlier item's
    /// (or into nothing); renamed by appending a number.
    public var tokenCollisionsResolved: Int
    public var users: Int
    /// Users with fewer than 3 items: no leave-one-out case, excluded from the evaluation.
    public var usersTooShort: Int
    public var usersTooShortExamples: [String]
    /// Target item / user ids that also occur (raw, unprefixed) in the source data.
    public var itemIDsAlsoInSource: Int?
    public var userIDsAlsoInSource: Int?
    public var notes: [String]
}

/// One target's zero-shot result with everything reported alongside it.
public struct ZeroShotResult: Codable, Sendable {
    public var target: String
    public var data: String
    public var run: String
    public var idSource: String
    /// The frozen recommender on the target's test split: the same keys as `evaluate`.
    public var zeroShot: MetricsReport
    /// MostPop on the same users (uses target training data: not zero-shot).
    public var mostPop: MetricsReport
    /// The in-domain model's report, when given, and zero-shot / in-domain per metric.
    public var inDomain: MetricsReport?
    public var ratioToInDomain: [String: Double]?
    public var coverage: VocabularyCoverage
    /// nil when the run's training data could not be read (then said in `input.notes`).
    public var overlap: TitleOverlap?
    public var input: TargetInputReport
    public var ids: AssignmentReport
    /// Wall time for this target: IDs, evaluation and baselines.
    public var seconds: Double
    /// Where the top 10 go (item-token runs): the mean share of each evaluated user's top 10 that
    /// are items of the user's own history ("zero_shot", "mostpop"). The protocol does not filter
    /// seen items, so history items in the list are slots the held-out item cannot take.
    public var historyShareAtTen: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case target, data, run, idSource = "id_source", zeroShot = "zero_shot", mostPop = "mostpop", inDomain = "in_domain"
        case ratioToInDomain = "ratio_to_in_domain", coverage, overlap = "title_overlap", input, ids, seconds
        case historyShareAtTen = "history_share_at_10"
    }
}

/// A target prepared for the frozen recommender: split, new IDs, data and trainer.
public struct ZeroShotTarget {
    public let split: Split
    public let ids: IDTable
    public let idReport: AssignmentReport
    public let tokenCollisionsResolved: Int
    public let data: RecommenderData
    public let trainer: RecommenderTrainer
}

public enum ZeroShot {
    /// Writes IDs for `target`'s catalog (no training on it) and builds its recommender data
    /// with the run's tokenizer and config.
    /// A run trained with item content (`config.itemContent`) needs `targetEmbeddings`: the
    /// target catalog's item embeddings from the run's encoder, put through the run's projection.
    public static func prepare(run: FrozenRun, target: Domain, idSource: ZeroShotIDSource, progress: Bool = false,
                               targetEmbeddings: ItemEmbeddings? = nil) throws -> ZeroShotTarget {
        let config = run.manifest.config
        guard !config.useUserIDs else {
            throw RecommenderError.invalidInput("run \(run.folder.path) uses user IDs; zero-shot evaluation supports runs without them (the target's users have no IDs the model could know)")
        }
        let split = try Split.leaveOneOut(target, historyCap: config.historyCap)
        guard !split.users.isEmpty else {
            throw RecommenderError.invalidInput("target \(target.name): none of its \(target.interactions.userCount) users has the 3 items a leave-one-out split needs; nothing to evaluate")
        }
        var options = IDOptions()
        let assigned: (table: IDTable, report: AssignmentReport)
        switch idSource {
        case .keywords:
            assigned = try IDGeneration.keywords(catalog: target.catalog, options: options, progress: progress)
        case let .semantic(encoder, _):
            let texts = IDGeneration.embeddingTexts(target.catalog)
            let line = ProgressLine("embed \(target.name) items", total: texts.count, unit: "texts", enabled: progress)
            let vectors = encoder.encode(texts) { n, _ in line.advance(by: n) }
            line.finish()
            let made = try IDGeneration.semantic(catalog: target.catalog, itemVectors: vectors, encoder: encoder, options: options, progress: progress)
            assigned = (made.table, made.report)
        case let .codes(quantiser, encoder, path):
            guard let layout = config.codes else {
                throw RecommenderError.invalidInput("run \(run.folder.path) was trained on textual IDs; semantic codes (\(path)) mean nothing to it")
            }
            guard quantiser.layout == layout else {
                throw RecommenderError.invalidInput("\(path): the quantiser's layout (\(SemanticIDs.describe(quantiser.layout))) is not the run's (\(SemanticIDs.describe(layout)))")
            }
            let start = Date()
            let texts = IDGeneration.embeddingTexts(target.catalog)
            let line = ProgressLine("embed \(target.name) items", total: texts.count, unit: "texts", enabled: progress)
            let vectors = encoder.encode(texts) { n, _ in line.advance(by: n) }
            line.finish()
            let table = try SemanticCodeAssignment.extend(existing: nil, itemIDs: target.catalog.ids, embeddings: vectors, quantiser: quantiser)
            var report = AssignmentReport()
            report.entries = table.count
            report.assigned = table.count
            report.meanWords = Double(layout.totalLevels)
            report.maximumWords = layout.totalLevels
            report.seconds = Date().timeIntervalSince(start)
            report.entriesPerSecond = Double(table.count) / max(report.seconds, 1e-9)
            assigned = (table, report)
        case let .generator(folder, path):
            guard folder.tokenizer.modelHash == run.tokenizer.modelHash else {
                throw RecommenderError.invalidInput("generator \(path): its spiece.model (hash \(folder.tokenizer.modelHash.prefix(12))) is not the run's (\(run.folder.path)/spiece.model, hash \(run.tokenizer.modelHash.prefix(12))); the recommender reads IDs in the run's pieces, so use the generator trained with this run (RUN/generator) or --generator keywords")
            }
            options.keywordCount = folder.config.keywordCount
            var generator = folder.candidateGenerator(for: target.catalog)
            assigned = try IDGeneration.assign(catalog: target.catalog, generator: &generator, options: options, progress: progress)
        }
        let (table, collisions) = try separateInTokenSpace(assigned.table, tokenizer: run.tokenizer)
        let data = try RecommenderData(domain: target, split: split, ids: table, tokenizer: run.tokenizer, config: config)
        var content: ItemContent?
        if let settings = config.itemContent {
            guard let targetEmbeddings else {
                throw RecommenderError.invalidInput("run \(run.folder.path) was trained with item content (\(settings.mode.rawValue)): the target's item embeddings are needed (the run's sentence encoder, or --item-embeddings FILE)")
            }
            guard targetEmbeddings.encoderHash == settings.encoderHash || settings.encoderHash.isEmpty || targetEmbeddings.encoderHash.isEmpty else {
                throw RecommenderError.invalidInput("the target's item embeddings come from encoder \(targetEmbeddings.encoderHash.prefix(12)), the run's content from \(settings.encoderHash.prefix(12)); use the run's encoder")
            }
            let projection = ItemContentProjection(dModel: run.model.config.d_model, dimension: settings.dimension)
            try projection.load(from: run.checkpoint)
            guard targetEmbeddings.dimension == settings.dimension else {
                throw RecommenderError.invalidInput("the target's item embeddings are \(targetEmbeddings.dimension)-d, the run's projection takes \(settings.dimension)-d vectors; use the run's encoder")
            }
            content = ItemContent(mode: settings.mode, projection: projection,
                                  vectors: try ItemTokenRunner.contentMatrix(targetEmbeddings, catalog: target.catalog, source: "\(target.name) item embeddings"))
        }
        return ZeroShotTarget(split: split, ids: table, idReport: assigned.report, tokenCollisionsResolved: collisions, data: data,
                              trainer: RecommenderTrainer(config: config, data: data, content: content))
    }

    /// Distinct textual IDs can become the same pieces under a foreign tokenizer (text
    /// normalisation, or `<unk>` without byte fallback), which the trie cannot tell apart. Later
    /// items of such a pair get ` 2`, ` 3`, … appended until their pieces are new.
    public static func separateInTokenSpace(_ table: IDTable, tokenizer: Tokenizer) throws -> (table: IDTable, renamed: Int) {
        var used = Set<[Int32]>()
        var usedText = Set(table.textualIDs)
        var out: [String] = []
        var renamed = 0
        for (id, tokens) in zip(table.textualIDs, tokenizer.encode(batch: table.textualIDs)) {
            if !tokens.isEmpty, used.insert(tokens).inserted {
                out.append(id)
                continue
            }
            renamed += 1
            var n = 2
            while true {
                let candidate = "\(id) \(n)"
                let t = tokenizer.encode(candidate)
                if !usedText.contains(candidate), !t.isEmpty, used.insert(t).inserted {
                    usedText.insert(candidate)
                    out.append(candidate)
                    break
                }
                n += 1
            }
        }
        return (try IDTable(itemIDs: table.itemIDs, textualIDs: out), renamed)
    }

    /// Zero-shot evaluation of `run` on one target: IDs from `idSource`, the frozen recommender
    /// on the target's test split (full catalog, beam search under the target's trie), MostPop
    /// on the same users, coverage, title overlap with `source` (the run's training data, when
    /// readable) and the bad-input counts.
    public static func evaluate(run: FrozenRun, target: Domain, dataPath: String, idSource: ZeroShotIDSource, source: Domain?,
                                inDomain: MetricsReport? = nil, users: Int? = nil, seed: UInt64 = 0,
                                progress: Bool = false, targetEmbeddings: ItemEmbeddings? = nil) throws -> (result: ZeroShotResult, ranks: [UserRank], prepared: ZeroShotTarget) {
        let start = Date()
        let prepared = try prepare(run: run, target: target, idSource: idSource, progress: progress, targetEmbeddings: targetEmbeddings)
        let evaluator = Evaluator(split: prepared.split, catalog: target.catalog)
        let config = run.manifest.config
        let summary: [String: String] = [
            "run": run.folder.path, "checkpoint": run.checkpoint.lastPathComponent, "trained_on": run.manifest.data,
            "ids": idSource.label, "preset": config.preset.rawValue, "d_model": "\(run.model.config.d_model)",
            "vocab": "\(run.model.config.vocab_size)", "beams": "\(config.numBeams)", "history": "\(config.historyCap)",
            "tokenizer": String(run.tokenizer.modelHash.prefix(12)),
            "decoding": "beam search under the target's ID trie, template 0", "training_on_target": "none",
            "item_content": config.itemContent.map { "\($0.mode.rawValue) (target texts through the run's encoder and projection)" } ?? "off",
        ]
        let (report, ranks) = try GradMode.withoutGradients {
            try evaluator.evaluate(model: "idgenrec-t5 zero-shot", part: .test, ranking: prepared.trainer.ranking(model: run.model), data: dataPath,
                                   config: summary, userSample: users, seed: seed, progress: progress)
        }
        let result = try ZeroShot.result(report: report, split: prepared.split, target: target, dataPath: dataPath, runFolder: run.folder,
                                          trainedOn: run.manifest.data, tokenizer: run.tokenizer, idSource: idSource.label, idReport: prepared.idReport,
                                          tokenCollisionsResolved: prepared.tokenCollisionsResolved, source: source, inDomain: inDomain,
                                          users: users, seed: seed, start: start)
        return (result, ranks, prepared)
    }

    /// A target's zero-shot result around the frozen model's `report` (on `split`'s test users,
    /// `users`/`seed` as drawn there): MostPop on the same users, the ratio to `inDomain`, the
    /// vocabulary coverage of the target's texts under `tokenizer`, title overlap with `source` (the
    /// run's training data, when readable) and the bad-input counts. Shared by both schemes.
    public static func result(report: MetricsReport, split: Split, target: Domain, dataPath: String, runFolder: URL, trainedOn: String,
                              tokenizer: Tokenizer, idSource: String, idReport: AssignmentReport, tokenCollisionsResolved: Int,
                              source: Domain?, inDomain: MetricsReport?, users: Int?, seed: UInt64, start: Date) throws -> ZeroShotResult {
        let evaluator = Evaluator(split: split, catalog: target.catalog)
        let mostPop = try evaluator.evaluate(model: "mostpop (uses target data)", part: .test, ranking: MostPop(split: split).ranking,
                                             data: dataPath, config: ["note": "ranks by the target's own training-part counts; not zero-shot"],
                                             userSample: users, seed: seed).report
        var ratio: [String: Double]?
        if let inDomain {
            ratio = [:]
            for name in ["recall@5", "ndcg@5", "recall@10", "ndcg@10"] {
                if let a = report.metrics[name], let b = inDomain.metrics[name], b > 0 { ratio![name] = a / b }
            }
        }

        // Bad input and collisions.
        var notes: [String] = []
        let empty = (0 ..< target.catalog.count).filter { i in
            target.catalog.fields[i].allSatisfy { IDNormalizer.words($0.value, fold: true).isEmpty }
        }
        var itemIDsInSource: Int?, userIDsInSource: Int?
        var overlap: TitleOverlap?
        if let source {
            let sourceItems = Set(source.catalog.ids.map(MultiDomain.rawID))
            let sourceUsers = Set(source.interactions.users.map(MultiDomain.rawID))
            let sourceIsMerged = source.catalog.ids.first.map { MultiDomain.domain(ofPrefixed: $0) != nil } ?? false
            let items = Set(sourceIsMerged ? sourceItems : Set(source.catalog.ids))
            let users = Set(sourceIsMerged ? sourceUsers : Set(source.interactions.users))
            itemIDsInSource = target.catalog.ids.filter(items.contains).count
            userIDsInSource = target.interactions.users.filter(users.contains).count
            if itemIDsInSource! + userIDsInSource! > 0 {
                notes.append("\(itemIDsInSource!) item ids and \(userIDsInSource!) user ids of the target also occur in the source data; harmless: the target is evaluated alone, with its own catalog, IDs and trie, and the model never saw raw ids")
            }
            overlap = TitleOverlap.measure(source: source.catalog, sourceName: source.name, target: target.catalog)
        } else {
            notes.append("the run's training data (\(trainedOn)) could not be read: title overlap and id collisions not measured")
        }
        if target.report.totalSkipped > 0 {
            notes.append("the import skipped " + target.report.skipped.keys.sorted().map { "\(target.report.skipped[$0]!) × \($0)" }.joined(separator: ", ") + " (lenient mode)")
        }
        if !empty.isEmpty {
            notes.append("\(empty.count) items have no word in their text; they got IDs from the assigner's last resort (\(idReport.namedFromKey) named from their key)")
        }
        if !split.excludedUsers.isEmpty {
            notes.append("\(split.excludedUsers.count) users have fewer than 3 items and are excluded from the evaluation")
        }
        if tokenCollisionsResolved > 0 {
            notes.append("\(tokenCollisionsResolved) IDs were the same pieces as an earlier item's under the run's tokenizer and got a number appended")
        }
        let input = TargetInputReport(items: target.catalog.count, importSkipped: target.report.skipped, itemsWithEmptyText: empty.count, emptyTextExamples: empty.prefix(5).map { target.catalog.ids[$0] },
                                      idsNamedFromKey: idReport.namedFromKey, tokenCollisionsResolved: tokenCollisionsResolved,
                                      users: target.interactions.userCount, usersTooShort: split.excludedUsers.count,
                                      usersTooShortExamples: Array(split.excludedUsers.prefix(5)),
                                      itemIDsAlsoInSource: itemIDsInSource, userIDsAlsoInSource: userIDsInSource, notes: notes)
        return ZeroShotResult(target: target.name, data: dataPath, run: runFolder.path, idSource: idSource, zeroShot: report, mostPop: mostPop,
                              inDomain: inDomain, ratioToInDomain: ratio, coverage: VocabularyCoverage.measure(target.catalog, tokenizer: tokenizer),
                              overlap: overlap, input: input, ids: idReport, seconds: Date().timeIntervalSince(start))
    }

    /// The mean share of each user's top-`k` list (`ranked[u]`, catalog indices) that are items of
    /// `targets[u].history`.
    public static func historyShare(_ ranked: [[Int]], targets: [EvaluationTarget], k: Int = 10) -> Double {
        precondition(ranked.count == targets.count, "one ranked list per target")
        guard !targets.isEmpty else { return 0 }
        var total = 0.0
        for (list, t) in zip(ranked, targets) {
            let seen = Set(t.history)
            total += Double(list.prefix(k).filter(seen.contains).count) / Double(k)
        }
        return total / Double(targets.count)
    }

    /// One Markdown table over targets, then per-target notes.
    public static func markdown(_ results: [ZeroShotResult]) -> String {
        func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "–" }
        var out = "## Zero-shot evaluation\n\n"
        if let first = results.first {
            out += "Run `\(first.run)` (trained on `\(first.zeroShot.config["trained_on"] ?? "?")`), IDs: \(first.idSource). "
            out += "Test split, chronological leave-one-out, full catalog of each target; no training on the targets. "
            out += "MostPop uses the target's training data (not zero-shot).\n\n"
        }
        out += "| target | users | R@5 | N@5 | R@10 | N@10 | chance R@10 | MostPop R@10 | MostPop N@10 | in-domain R@10 | zero-shot / in-domain R@10 | unk rate | byte rate | identical titles | seconds |\n"
        out += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        for r in results {
            let m = r.zeroShot.metrics
            out += "| \(r.target) | \(r.zeroShot.users) | \(f(m["recall@5"])) | \(f(m["ndcg@5"])) | \(f(m["recall@10"])) | \(f(m["ndcg@10"])) | "
            // A uniformly random ranking of the target's catalog puts the held-out item in the top 10 with probability 10 / items.
            out += "\(f(r.input.items > 0 ? min(1, 10 / Double(r.input.items)) : nil)) | \(f(r.mostPop.metrics["recall@10"])) | \(f(r.mostPop.metrics["ndcg@10"])) | \(f(r.inDomain?.metrics["recall@10"])) | "
            out += "\(f(r.ratioToInDomain?["recall@10"])) | \(String(format: "%.4f", r.coverage.unknownRate)) | \(String(format: "%.4f", r.coverage.byteFallbackRate)) | "
            out += "\(r.overlap.map { "\($0.identicalTitles)" } ?? "–") | \(String(format: "%.0f", r.seconds)) |\n"
        }
        for r in results {
            out += "\n**\(r.target)** (`\(r.data)`): \(r.input.items) items, \(r.input.users) users; "
            if let ci = r.zeroShot.confidence["recall@10"] { out += String(format: "R@10 95%% CI %.4f – %.4f; ", ci[0], ci[1]) }
            out += String(format: "%.2f pieces per word", r.coverage.piecesPerWord)
            if let o = r.overlap {
                out += "; \(o.identicalTitles) identical titles (\(o.targetItemsWithSourceTitle) target items)"
                if !o.perSource.isEmpty { out += " — " + o.perSource.keys.sorted().map { "\($0) \(o.perSource[$0]!)" }.joined(separator: ", ") }
            }
            out += ".\n"
            if let h = r.historyShareAtTen, let model = h["zero_shot"], let pop = h["mostpop"] {
                out += String(format: "- %.0f%% of the model's top 10 are the user's own history items (MostPop's: %.0f%%); the protocol does not filter them\n", 100 * model, 100 * pop)
            }
            for note in r.input.notes { out += "- \(note)\n" }
        }
        return out
    }
}
