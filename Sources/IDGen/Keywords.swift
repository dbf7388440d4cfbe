import Foundation

/// One item's text as ordered `key: value` fields (title, brand, categories, description, …).
public struct ItemText: Sendable, Equatable {
    public var id: String
    public var fields: [(key: String, value: String)]

    public init(id: String, fields: [(key: String, value: String)]) {
        self.id = id
        self.fields = fields
    }

    /// The generator's input: `key: value; key: value` (METHOD.md §1).
    public var rendered: String { fields.map { "\($0.key): \($0.value)" }.joined(separator: "; ") }

    public static func == (a: ItemText, b: ItemText) -> Bool {
        a.id == b.id && a.fields.map(\.key) == b.fields.map(\.key) && a.fields.map(\.value) == b.fields.map(\.value)
    }
}

/// Per-field weights for choosing an item's distinctive words: title over brand over categories
/// over description (issue 6). Unknown fields get `other`.
public struct FieldWeights: Codable, Sendable, Equatable {
    public var weights: [String: Double]
    public var other: Double

    public init(weights: [String: Double] = ["title": 4, "brand": 3, "categories": 2, "category": 2, "description": 1], other: Double = 1) {
        self.weights = weights
        self.other = other
    }

    public func weight(_ key: String) -> Double { weights[key.lowercased()] ?? other }
}

/// Keyword targets for the bootstrap generator: each item's most distinctive words, scored by
/// field weight × inverse document frequency across the catalog, then written in the order they
/// first appear in the item's text (reading order), so the targets read like tags.
///
/// Only catalog text is used (never interactions), so no validation or test information can
/// reach an ID through this path.
public struct KeywordExtractor: Sendable {
    public var fieldWeights: FieldWeights
    public var caseHandling: CaseHandling
    /// Words considered per item at most (reading order); guards against huge descriptions.
    public var maximumWordsScanned: Int
    private(set) var documentFrequency: [String: Int] = [:]
    private(set) var documents = 0

    /// Function words that make poor IDs in any catalog.
    public static let stopwords: Set<String> = [
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it",
        "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "will", "with", "your", "you",
        "our", "we", "can", "all", "any", "into", "than", "then", "these", "those", "per", "but", "not",
        "no", "so", "if", "up", "out", "more", "most", "other", "such", "only", "own", "same", "too", "very",
        "s", "t", "just", "also", "amp", "quot", "nbsp",
    ]

    public init(catalog: [ItemText], fieldWeights: FieldWeights = FieldWeights(), caseHandling: CaseHandling = .fold, maximumWordsScanned: Int = 400) {
        self.fieldWeights = fieldWeights
        self.caseHandling = caseHandling
        self.maximumWordsScanned = maximumWordsScanned
        for item in catalog {
            var seen = Set<String>()
            for word in words(of: item).map(\.word) where seen.insert(word).inserted {
                documentFrequency[word, default: 0] += 1
            }
            documents += 1
        }
    }

    /// Counts more items in the document frequencies, as if they had been in `catalog` (items
    /// added to a served catalog: `idgenrec serve`).
    public mutating func addDocuments(_ items: [ItemText]) {
        for item in items {
            var seen = Set<String>()
            for word in words(of: item).map(\.word) where seen.insert(word).inserted {
                documentFrequency[word, default: 0] += 1
            }
            documents += 1
        }
    }

    /// The item's words in reading order with the weight of the field each came from.
    func words(of item: ItemText) -> [(word: String, weight: Double)] {
        var out: [(String, Double)] = []
        for field in item.fields {
            let w = fieldWeights.weight(field.key)
            guard w > 0 else { continue }
            for word in IDNormalizer.words(field.value, fold: caseHandling == .fold) {
                if Self.stopwords.contains(word.lowercased()) { continue }
                out.append((word, w))
                if out.count >= maximumWordsScanned { return out }
            }
        }
        return out
    }

    public func idf(_ word: String) -> Double {
        log(Double(documents + 1) / Double((documentFrequency[word] ?? 0) + 1)) + 1
    }

    /// All distinct words of the item ranked by distinctiveness (best first), ties broken by
    /// reading order. The ID generator's last-resort disambiguation walks this list.
    public func rankedWords(of item: ItemText) -> [String] {
        rankedWords(words(of: item))
    }

    /// `rankedWords(of:)` from the item's already extracted `words(of:)`.
    func rankedWords(_ words: [(word: String, weight: Double)]) -> [String] {
        var best: [String: (score: Double, position: Int)] = [:]
        for (position, entry) in words.enumerated() {
            let score = entry.weight * idf(entry.word)
            if let old = best[entry.word] {
                if score > old.score { best[entry.word] = (score, old.position) }
            } else {
                best[entry.word] = (score, position)
            }
        }
        return best.sorted { a, b in
            a.value.score != b.value.score ? a.value.score > b.value.score : a.value.position < b.value.position
        }.map(\.key)
    }

    /// The bootstrap target: the `count` most distinctive words, in reading order.
    public func keywords(of item: ItemText, count: Int) -> [String] {
        let found = words(of: item)
        return Self.keywords(ranked: rankedWords(found), reading: found.map(\.word), count: count)
    }

    /// `keywords(of:count:)` from an item's precomputed `rankedWords` and words in reading
    /// order (callers asking for several counts extract the words once).
    public static func keywords(ranked: [String], reading: [String], count: Int) -> [String] {
        let chosen = Set(ranked.prefix(count))
        var seen = Set<String>()
        return reading.filter { chosen.contains($0) && seen.insert($0).inserted }
    }
}
