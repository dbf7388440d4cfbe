import Corpora
import Foundation
import Support
import TensorCore
import TextEncoder

/// Options of `idgenrec ids generate` that shape the IDs (saved with every table).
public struct IDOptions: Codable, Sendable, Equatable {
    public var assignment = AssignmentOptions()
    public var fieldWeights = FieldWeights()
    /// Words per ID for the keyword generator and the bootstrap targets.
    public var keywordCount = 4
    public var seed: UInt64 = 0
    /// By default an ID keeps only words of the item's own text: a generator trained from scratch
    /// also writes sub-word fragments ("ompact"), which make poor IDs. `--allow-new-words` lifts it.
    public init() { assignment.onlyWordsFromText = true }
}

/// What an ID table was made with; written as JSON beside the TSV.
public struct IDTableMetadata: Codable, Sendable {
    public var data: String
    public var items: Int
    public var generator: String
    public var generatorHash: String?
    public var tokenizerHash: String?
    public var options: IDOptions
    public var report: AssignmentReport
    public var examples: [[String]]
    public var userIDs: AssignmentReport?
    /// The semantic generator's settings (nil for other generators), so items added later
    /// (`serve`'s POST /items) get their IDs the same way.
    public var semantic: SemanticWordOptions?
    /// For a semantic-ID table (`ids generate --scheme semantic`): its code layout; nil for textual IDs.
    public var codes: SemanticCodeLayout?
    /// Semantic-ID tables: how the quantiser was trained (it is saved as FILE.quantiser.safetensors).
    public var quantiser: SemanticQuantiserSettings?
    /// Semantic-ID tables: the co-occurrence fusion settings (nil = content only).
    public var cooccurrence: CooccurrenceFusionOptions?
    /// Semantic-ID tables: codebook usage, collisions and co-occurring pairs sharing codes.
    public var codeReport: SemanticCodeReport?
    public var createdAt: String

    public init(data: String, items: Int, generator: String, generatorHash: String?, tokenizerHash: String?,
                options: IDOptions, report: AssignmentReport, examples: [[String]], userIDs: AssignmentReport? = nil,
                semantic: SemanticWordOptions? = nil) {
        self.data = data
        self.items = items
        self.generator = generator
        self.generatorHash = generatorHash
        self.tokenizerHash = tokenizerHash
        self.options = options
        self.report = report
        self.examples = examples
        self.userIDs = userIDs
        self.semantic = semantic
        createdAt = ISO8601DateFormatter().string(from: Date())
    }
}

public enum IDGeneration {
    /// Keyword IDs (the `words` most distinctive words of each item's own text) for a whole
    /// catalog: what `train` uses when no ID table is given, and the zero-shot keyword baseline.
    public static func keywords(catalog: Catalog, words: Int = 4, options: IDOptions = IDOptions(),
                                progress: Bool = false) throws -> (table: IDTable, report: AssignmentReport) {
        let items = ItemText.all(catalog)
        var generator = KeywordCandidateGenerator(extractor: KeywordExtractor(catalog: items), items: items, words: words)
        return try assign(catalog: catalog, generator: &generator, options: options, progress: progress)
    }

    /// The item texts the sentence encoder embeds for a catalog (`Catalog.text(at:)`, what
    /// `idgenrec embed` and run folders cache), in catalog order.
    public static func embeddingTexts(_ catalog: Catalog) -> [String] {
        (0 ..< catalog.count).map { catalog.text(at: $0) }
    }

    /// Semantic ID words for a whole catalog (issue 18): each item's words scored by the encoder
    /// against the item's text embedding (`SemanticCandidateGenerator`), then the usual collision
    /// pass. `itemVectors` are the catalog's `ItemEmbeddings` (rows in catalog order).
    public static func semantic(catalog: Catalog, itemVectors: Tensor, encoder: SentenceEncoder, options: IDOptions = IDOptions(),
                                semanticOptions: SemanticWordOptions = SemanticWordOptions(), existing: IDTable? = nil,
                                progress: Bool = true) throws -> (table: IDTable, report: AssignmentReport, phrases: PhraseEmbeddings) {
        let items = ItemText.all(catalog)
        let extractor = KeywordExtractor(catalog: items, fieldWeights: options.fieldWeights, caseHandling: options.assignment.normalizer.caseHandling)
        let phrases = PhraseEmbeddings(encoder: encoder)
        var generator = try SemanticCandidateGenerator(items: items, extractor: extractor, itemVectors: itemVectors, phrases: phrases, options: semanticOptions)
        // One encoder pass over every pending item's candidates: batches pack better than the
        // assigner's 64-item slices.
        let pending = existing.map { table in
            let kept = Set(table.itemIDs)
            return items.indices.filter { !kept.contains(items[$0].id) }
        } ?? Array(items.indices)
        let line = ProgressLine("candidate words", total: pending.count, unit: "items", enabled: progress)
        var start = 0
        while start < pending.count {
            let slice = Array(pending[start ..< min(start + 2048, pending.count)])
            generator.prepare(slice)
            start += slice.count
            line.advance(by: slice.count, "\(phrases.count) distinct strings embedded")
        }
        line.finish("\(phrases.count) distinct strings, \(phrases.embeddedTokens) encoder tokens")
        let (table, report) = try assign(catalog: catalog, generator: &generator, options: options, existing: existing, progress: progress)
        return (table, report, phrases)
    }

    /// Bootstrap targets from semantic words (`units` chosen units per item, reading order).
    public static func semanticTargets(catalog: Catalog, itemVectors: Tensor, encoder: SentenceEncoder, fieldWeights: FieldWeights,
                                       semanticOptions: SemanticWordOptions = SemanticWordOptions(), progress: Bool = true) throws -> [[String]] {
        let items = ItemText.all(catalog)
        let extractor = KeywordExtractor(catalog: items, fieldWeights: fieldWeights)
        var generator = try SemanticCandidateGenerator(items: items, extractor: extractor, itemVectors: itemVectors,
                                                       phrases: PhraseEmbeddings(encoder: encoder), options: semanticOptions)
        let line = ProgressLine("semantic targets", total: items.count, unit: "items", enabled: progress)
        var targets: [[String]] = []
        targets.reserveCapacity(items.count)
        var start = 0
        while start < items.count {
            let slice = Array(start ..< min(start + 2048, items.count))
            generator.prepare(slice)
            for i in slice { targets.append(generator.target(i, units: semanticOptions.targetUnits)) }
            start += slice.count
            line.advance(by: slice.count)
        }
        line.finish()
        return targets
    }

    /// Assigns IDs to every catalog item (in catalog order) with `generator`.
    public static func assign<G: CandidateGenerator>(
        catalog: Catalog, generator: inout G, options: IDOptions, existing: IDTable? = nil, progress: Bool = true
    ) throws -> (table: IDTable, report: AssignmentReport) {
        let items = ItemText.all(catalog)
        let extractor = KeywordExtractor(catalog: items, fieldWeights: options.fieldWeights, caseHandling: options.assignment.normalizer.caseHandling)
        let entries = items.map { IDEntry(key: $0.id, rankedWords: extractor.rankedWords(of: $0)) }
        var existingIDs: [String: String] = [:]
        if let existing {
            for (item, id) in zip(existing.itemIDs, existing.textualIDs) {
                guard catalog.contains(item) else {
                    throw IDGenError.invalid("existing ID table lists item \(item), which is not in the catalog")
                }
                existingIDs[item] = id
            }
        }
        let line = ProgressLine("ids", total: catalog.count - existingIDs.count, unit: "items", enabled: progress)
        let (ids, report) = try IDAssigner(options: options.assignment).assign(entries, generator: &generator, existing: existingIDs, progress: line)
        line.finish()
        return (try IDTable(catalog: catalog, ids: ids), report)
    }

    /// A few (item id, textual ID, title) rows for reports.
    public static func examples(_ table: IDTable, catalog: Catalog, count: Int = 8) -> [[String]] {
        guard table.count > 0 else { return [] }
        let step = max(1, table.count / count)
        return stride(from: 0, to: table.count, by: step).prefix(count).map { i in
            [table.itemIDs[i], table.textualIDs[i], catalog.value("title", at: i) ?? catalog.text(at: i)]
        }
    }

    public static func summary(_ report: AssignmentReport, levels: [RetryLevel]) -> String {
        var lines: [String] = []
        lines.append(String(format: "%d items (%d kept from an existing table), %.1f items/s, %.2f words per ID on average, at most %d",
                            report.entries, report.kept, report.entriesPerSecond, report.meanWords, report.maximumWords))
        let settled = report.settledAtLevel.keys.compactMap(Int.init).sorted().map { k in
            "\(k < levels.count ? levels[k].description : "level \(k)"): \(report.settledAtLevel[String(k)]!)"
        }
        if !settled.isEmpty { lines.append("settled at: " + settled.joined(separator: ", ")) }
        lines.append("last resort: \(report.lastResortWord) by an extra word, \(report.lastResortNumber) by a number; \(report.namedFromKey) named from their key (no text); \(report.emptyCandidatesRejected) empty candidates rejected")
        return lines.joined(separator: "\n")
    }
}
