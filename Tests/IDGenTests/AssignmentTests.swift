import XCTest
@testable import IDGen

/// A generator that always proposes the same fixed lists, to force collisions.
struct FixedGenerator: CandidateGenerator {
    var lists: [[String]]
    var calls: [(entries: [Int], level: RetryLevel)] = []
    mutating func candidates(for entries: [Int], level: RetryLevel) throws -> [[Candidate]] {
        calls.append((entries, level))
        return entries.map { i in lists[i].enumerated().map { Candidate(text: $0.element, score: -Float($0.offset)) } }
    }
}

final class AssignmentTests: XCTestCase {
    func testNormalizationDropsPunctuationFoldsCaseAndSplitsHyphens() {
        let n = IDNormalizer()
        XCTAssertEqual(n.normalize("  Rene-Furterer, Complexe 5!! "), "rene furterer complexe 5")
        XCTAssertEqual(IDNormalizer(caseHandling: .keep).normalize("Dove  soap"), "Dove soap")
        XCTAssertEqual(n.normalize("Crème brûlée"), "crème brûlée")
        XCTAssertEqual(n.normalize("?!..."), "")
        XCTAssertEqual(IDNormalizer(maximumWords: 2, noRepeatedWords: true).normalize("a a b c"), "a b")
        // Repeated words are dropped by default (a looping generator), kept on request.
        XCTAssertEqual(n.normalize("grinder compact compact compact"), "grinder compact")
        XCTAssertEqual(IDNormalizer(noRepeatedWords: false).normalize("grinder compact compact"), "grinder compact compact")
    }

    func testFirstComeFirstServedAndCollisionsFallThroughCandidates() throws {
        let entries = (0 ..< 3).map { IDEntry(key: "i\($0)", rankedWords: ["w\($0)", "x\($0)"]) }
        var gen = FixedGenerator(lists: [["Soap Bar", "soap"], ["soap bar", "soap", "bar"], ["soap-bar!"]])
        let (ids, report) = try IDAssigner().assign(entries, generator: &gen)
        XCTAssertEqual(ids["i0"], "soap bar")
        XCTAssertEqual(ids["i1"], "soap")
        // i2's only candidate collides at every level: last resort appends its own best word.
        XCTAssertEqual(ids["i2"], "soap bar w2")
        XCTAssertEqual(report.lastResortWord, 1)
        XCTAssertEqual(report.settledAtLevel["0"], 2)
        XCTAssertEqual(Set(ids.values).count, 3)
        // Retried through every level: 9 penalties x 2 length windows.
        XCTAssertEqual(gen.calls.count, 18)
        XCTAssertEqual(gen.calls.last?.level, RetryLevel(diversityPenalty: 9, minNewTokens: 10, maxNewTokens: 19))
    }

    func testEmptyCandidatesAreRejectedAndTextlessEntriesGetUniqueIDs() throws {
        let entries = (0 ..< 3).map { IDEntry(key: "B00\($0)", rankedWords: []) }
        var gen = FixedGenerator(lists: [["..."], ["", "!!"], ["..."]])
        var options = AssignmentOptions()
        options.maximumDiversityPenalty = 1
        options.lengthWidenings = 0
        let (ids, report) = try IDAssigner(options: options).assign(entries, generator: &gen)
        XCTAssertEqual(report.emptyCandidatesRejected, 4)
        XCTAssertEqual(report.namedFromKey, 3)
        XCTAssertEqual(Set(ids.values).count, 3)
        XCTAssert(ids.values.allSatisfy { !$0.isEmpty })
        XCTAssertEqual(ids["B000"], "b000")
    }

    func testNumberIsTheVeryLastResort() throws {
        let entries = (0 ..< 4).map { IDEntry(key: "k\($0)", rankedWords: ["same"]) }
        var gen = FixedGenerator(lists: Array(repeating: ["same"], count: 4))
        var options = AssignmentOptions()
        options.maximumDiversityPenalty = 1
        options.lengthWidenings = 0
        let (ids, report) = try IDAssigner(options: options).assign(entries, generator: &gen)
        XCTAssertEqual(entries.map { ids[$0.key]! }, ["same", "same 2", "same 3", "same 4"])
        XCTAssertEqual(report.lastResortNumber, 3)
    }

    func testIncrementalModeNeverChangesExistingIDs() throws {
        let entries = (0 ..< 3).map { IDEntry(key: "i\($0)", rankedWords: ["w\($0)"]) }
        var gen = FixedGenerator(lists: [["a"], ["a", "b"], ["c"]])
        let (ids, report) = try IDAssigner().assign(entries, generator: &gen, existing: ["i0": "b"])
        XCTAssertEqual(ids, ["i0": "b", "i1": "a", "i2": "c"])
        XCTAssertEqual(report.kept, 1)
        XCTAssertEqual(gen.calls.first?.entries, [1, 2])
    }

    func testOnlyWordsFromTextFiltersForeignWords() throws {
        let entries = [IDEntry(key: "i0", rankedWords: ["shampoo", "argan"])]
        var gen = FixedGenerator(lists: [["best argan shampoo ever"]])
        var options = AssignmentOptions()
        options.onlyWordsFromText = true
        let (ids, _) = try IDAssigner(options: options).assign(entries, generator: &gen)
        XCTAssertEqual(ids["i0"], "argan shampoo")
    }

    func testKeywordsPreferDistinctiveTitleWordsInReadingOrder() throws {
        let catalog = [
            ItemText(id: "1", fields: [("title", "Argan Oil Shampoo by Acme"), ("categories", "Beauty, Hair, Shampoo")]),
            ItemText(id: "2", fields: [("title", "Rose Face Cream by Acme"), ("categories", "Beauty, Skin")]),
            ItemText(id: "3", fields: [("title", "Mint Shampoo by Zeta"), ("categories", "Beauty, Hair, Shampoo")]),
        ]
        let extractor = KeywordExtractor(catalog: catalog)
        // "by" is a stopword; "beauty" is in every item (lowest IDF); title beats categories.
        let ranked = extractor.rankedWords(of: catalog[0])
        XCTAssertEqual(Array(ranked.prefix(2)), ["argan", "oil"])
        XCTAssertFalse(ranked.contains("by"))
        XCTAssertEqual(ranked.last, "beauty")
        XCTAssertEqual(extractor.keywords(of: catalog[0], count: 3), ["argan", "oil", "shampoo"])
        XCTAssertEqual(catalog[0].rendered, "title: Argan Oil Shampoo by Acme; categories: Beauty, Hair, Shampoo")

        // The keyword generator gives every item a unique ID through the assigner.
        var gen = KeywordCandidateGenerator(extractor: extractor, items: catalog, words: 1)
        let entries = catalog.map { IDEntry(key: $0.id, rankedWords: extractor.rankedWords(of: $0)) }
        let (ids, _) = try IDAssigner().assign(entries, generator: &gen)
        XCTAssertEqual(Set(ids.values).count, 3)
    }

    func testAssignmentIsDeterministic() throws {
        let entries = (0 ..< 50).map { IDEntry(key: "i\($0)", rankedWords: ["w\($0 % 7)", "v\($0 % 5)"]) }
        let lists = (0 ..< 50).map { ["w\($0 % 3)", "w\($0 % 7) v\($0 % 5)"] }
        var g1 = FixedGenerator(lists: lists), g2 = FixedGenerator(lists: lists)
        var options = AssignmentOptions()
        options.batchSize = 8
        let a = try IDAssigner(options: options).assign(entries, generator: &g1)
        let b = try IDAssigner(options: options).assign(entries, generator: &g2)
        XCTAssertEqual(a.ids, b.ids)
        XCTAssertEqual(Set(a.ids.values).count, 50)
    }
}
