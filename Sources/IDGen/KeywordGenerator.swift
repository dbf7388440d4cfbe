/// A candidate generator without a model: the item's most distinctive words in reading order
/// (the bootstrap targets), offered at several lengths. Used to make bootstrap targets, as the
/// `--generator keywords` option, and as a deterministic stand-in in tests.
public struct KeywordCandidateGenerator: CandidateGenerator {
    public var extractor: KeywordExtractor
    public var items: [ItemText]
    /// Words in the first candidate; later candidates add one word each.
    public var words: Int

    public init(extractor: KeywordExtractor, items: [ItemText], words: Int = 4) {
        self.extractor = extractor
        self.items = items
        self.words = words
    }

    public mutating func candidates(for entries: [Int], level: RetryLevel) throws -> [[Candidate]] {
        // Higher retry levels start from longer keyword lists, as the model's would.
        let extra = Int(level.diversityPenalty) - 1 + level.minNewTokens
        return entries.map { index in
            let (ranked, reading) = extracted(index)
            return (0 ..< 4).map { k in
                let text = KeywordExtractor.keywords(ranked: ranked, reading: reading, count: words + extra + k).joined(separator: " ")
                return Candidate(text: text, score: -Float(k))
            }
        }
    }

    /// Each item's ranked words and words in reading order, extracted once (retry levels ask
    /// again for the entries still pending).
    private var cache: [Int: (ranked: [String], reading: [String])] = [:]

    private mutating func extracted(_ index: Int) -> (ranked: [String], reading: [String]) {
        if let hit = cache[index] { return hit }
        let found = extractor.words(of: items[index])
        let value = (extractor.rankedWords(found), found.map(\.word))
        cache[index] = value
        return value
    }
}
