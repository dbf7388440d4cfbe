import Foundation
import Support
import TensorCore
import TextEncoder

/// Settings of the semantic ID-word generator (`ids generate --generator semantic`, issue 18).
public struct SemanticWordOptions: Codable, Sendable, Equatable {
    /// An item's most distinctive words (field weight × IDF, `KeywordExtractor`) that compete for
    /// its ID. Bounds the encoder work: every distinct candidate is embedded once.
    public var candidateWords = 16
    /// Also offer adjacent word pairs of the title as candidates ("eau parfum"). Off by default:
    /// on Beauty it multiplies the distinct strings to embed by six (docs/ids.md#semantic-ids).
    public var titlePhrases = false
    /// Maximal-marginal-relevance trade-off: a candidate's score is
    /// `(1 − diversity) · cos(candidate, item) − diversity · max cos(candidate, chosen)`.
    public var diversity: Float = 0.3
    /// Candidates offered per retry level: the first `1 + extra`, …, `lengths + extra` chosen
    /// units (extra grows with the level).
    public var lengths = 4
    /// Bootstrap target length (units) when these IDs train the T5 generator.
    public var targetUnits = 3
    /// Words that say little about what an item is (sizes, counts): candidates only when an item
    /// has nothing else. Numbers ("1970", "2") are treated the same way.
    public var weakWords: Set<String> = ["ounce", "ounces", "oz", "fl", "ml", "count", "pack", "pcs", "piece", "pieces",
                                         "inch", "inches", "lb", "lbs", "pound", "pounds", "gram", "grams", "g", "mm", "cm",
                                         "x", "set", "size", "total", "each", "new"]
    public init() {}

    /// Whether `word` is weak: listed in `weakWords`, or made of digits (and punctuation) only.
    public func isWeak(_ word: String) -> Bool {
        weakWords.contains(word.lowercased()) || !word.contains { $0.isLetter }
    }
}

/// Embeddings of words and short phrases through the sentence encoder, computed once per
/// distinct string and kept (in memory) for the whole assignment.
public final class PhraseEmbeddings {
    public let encoder: SentenceEncoder
    public private(set) var index: [String: Int] = [:]
    private var rows: [Float] = []
    public let dimension: Int
    /// Strings embedded so far and the encoder tokens they took (for reports).
    public private(set) var embeddedTokens = 0

    public init(encoder: SentenceEncoder) {
        self.encoder = encoder
        dimension = encoder.dimension
    }

    public var count: Int { index.count }

    /// Embeds the strings not seen before, in one batched encoder call.
    public func ensure(_ phrases: [String]) {
        var fresh: [String] = []
        var seen = Set<String>()
        for p in phrases where index[p] == nil && seen.insert(p).inserted { fresh.append(p) }
        guard !fresh.isEmpty else { return }
        let ids = fresh.map { encoder.tokenIDs($0) }
        embeddedTokens += ids.reduce(0) { $0 + $1.count }
        let vectors = encoder.encode(tokenIDs: ids)
        let base = index.count
        // Unit length, so dot products are cosines whatever the encoder's last module.
        var block = Array(UnsafeBufferPointer(start: vectors.pointer, count: vectors.count))
        SemanticCandidateGenerator.normaliseRows(&block, dimension: dimension)
        rows.append(contentsOf: block)
        for (k, p) in fresh.enumerated() { index[p] = base + k }
    }

    /// The unit-length vector of an embedded string.
    public func vector(_ phrase: String) -> ArraySlice<Float> {
        let r = index[phrase]!
        return rows[r * dimension ..< (r + 1) * dimension]
    }
}

/// Model-free ID words that mean something: each item's candidate words (and, optionally, title
/// phrases) are scored by the cosine between their encoder embedding and the item's text
/// embedding, chosen greedily with a diversity term (maximal marginal relevance) so the words are
/// not near-synonyms, and shown in reading order. Retry levels offer longer lists, as the keyword
/// generator does; the assigner's collision pass is unchanged.
public struct SemanticCandidateGenerator: CandidateGenerator {
    public let items: [ItemText]
    public let extractor: KeywordExtractor
    /// Item text embeddings scaled to unit length, row `i` for `items[i]` (row-major [items, dim]).
    public let itemVectors: [Float]
    public let phrases: PhraseEmbeddings
    public let options: SemanticWordOptions
    private var cache: [Int: [[String]]] = [:]

    public init(items: [ItemText], extractor: KeywordExtractor, itemVectors: Tensor, phrases: PhraseEmbeddings,
                options: SemanticWordOptions = SemanticWordOptions()) throws {
        guard itemVectors.rank == 2, itemVectors.shape[0] == items.count else {
            throw IDGenError.invalid("item embeddings have shape \(itemVectors.shape); expected [\(items.count), dim] (one row per catalog item)")
        }
        guard itemVectors.shape[1] == phrases.dimension else {
            throw IDGenError.invalid("item embeddings have dimension \(itemVectors.shape[1]) but the encoder's is \(phrases.dimension): made with another encoder")
        }
        self.items = items
        self.extractor = extractor
        var rows = Array(UnsafeBufferPointer(start: itemVectors.pointer, count: itemVectors.count))
        Self.normaliseRows(&rows, dimension: itemVectors.shape[1])
        self.itemVectors = rows
        self.phrases = phrases
        self.options = options
    }

    /// One item's candidate units (each a list of words) in reading order of first appearance.
    func candidateUnits(_ index: Int) -> [[String]] {
        let found = extractor.words(of: items[index])
        let all = extractor.rankedWords(found)
        let strong = all.filter { !options.isWeak($0) }
        let ranked = (strong.isEmpty ? all : strong).prefix(options.candidateWords)
        let allowed = Set(ranked)
        var seen = Set<String>()
        var units: [[String]] = []
        for w in found.map(\.word) where allowed.contains(w) && seen.insert(w).inserted { units.append([w]) }
        if options.titlePhrases, let title = items[index].fields.first(where: { $0.key.lowercased() == "title" }) {
            let words = IDNormalizer.words(title.value, fold: extractor.caseHandling == .fold)
                .filter { !KeywordExtractor.stopwords.contains($0.lowercased()) }
            for (a, b) in zip(words, words.dropFirst()) where a != b && allowed.contains(a) && allowed.contains(b) {
                if seen.insert(a + " " + b).inserted { units.append([a, b]) }
            }
        }
        return units
    }

    /// Units ranked by maximal marginal relevance (best first).
    public func ranked(_ index: Int) -> [[String]] {
        let units = candidateUnits(index)
        guard !units.isEmpty else { return [] }
        let keys = units.map { $0.joined(separator: " ") }
        phrases.ensure(keys)
        let d = phrases.dimension
        let item = itemVectors[index * d ..< (index + 1) * d]
        let vectors = keys.map { phrases.vector($0) }
        func dot(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
            var s: Float = 0
            for (x, y) in zip(a, b) { s += x * y }
            return s
        }
        let relevance: [Float] = vectors.map { v in
            var s: Float = 0
            for (x, y) in zip(v, item) { s += x * y }
            return s
        }
        var redundancy = [Float](repeating: -1, count: units.count)
        var chosen: [Int] = []
        var free = Set(units.indices)
        let lambda = options.diversity
        while !free.isEmpty {
            // Ties go to reading order, so the choice is deterministic.
            let best = free.max { a, b in
                let sa = (1 - lambda) * relevance[a] - lambda * max(0, redundancy[a])
                let sb = (1 - lambda) * relevance[b] - lambda * max(0, redundancy[b])
                return sa != sb ? sa < sb : a > b
            }!
            chosen.append(best)
            free.remove(best)
            for j in free { redundancy[j] = max(redundancy[j], dot(vectors[j], vectors[best])) }
        }
        return chosen.map { units[$0] }
    }

    /// Scales each row of a row-major matrix to unit length (zero rows stay zero).
    public static func normaliseRows(_ m: inout [Float], dimension d: Int) {
        for r in 0 ..< m.count / d {
            var s: Float = 0
            for j in 0 ..< d { s += m[r * d + j] * m[r * d + j] }
            guard s > 0 else { continue }
            let inv = 1 / s.squareRoot()
            for j in 0 ..< d { m[r * d + j] *= inv }
        }
    }

    /// The words of the first `count` ranked units, each once, in the item's reading order.
    public static func words(of ranked: [[String]], count: Int, reading: [String]) -> [String] {
        let chosen = Set(ranked.prefix(count).flatMap { $0 })
        var seen = Set<String>()
        return reading.filter { chosen.contains($0) && seen.insert($0).inserted }
    }

    /// The words of the item's ID at `units` chosen units (the bootstrap target).
    public mutating func target(_ index: Int, units: Int) -> [String] {
        let ranking = rankedCached(index)
        return Self.words(of: ranking, count: units, reading: extractor.words(of: items[index]).map(\.word))
    }

    private mutating func rankedCached(_ index: Int) -> [[String]] {
        if let hit = cache[index] { return hit }
        let value = ranked(index)
        cache[index] = value
        return value
    }

    /// Embeds the candidates of many items in one encoder pass (faster than item by item).
    public func prepare(_ indices: [Int]) {
        phrases.ensure(indices.flatMap { candidateUnits($0).map { $0.joined(separator: " ") } })
    }

    public mutating func candidates(for entries: [Int], level: RetryLevel) throws -> [[Candidate]] {
        prepare(entries.filter { cache[$0] == nil })
        let extra = Int(level.diversityPenalty) - 1 + level.minNewTokens
        return entries.map { index in
            let ranking = rankedCached(index)
            let reading = extractor.words(of: items[index]).map(\.word)
            return (0 ..< max(1, options.lengths)).map { k in
                Candidate(text: Self.words(of: ranking, count: 1 + extra + k, reading: reading).joined(separator: " "), score: -Float(k))
            }
        }
    }
}
