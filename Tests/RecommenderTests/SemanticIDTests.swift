import Corpora
import Decoding
import Foundation
import IDGen
import Support
import T5
import Tokenizer
import XCTest
@testable import Recommender

/// Semantic IDs (`<a_17><b_203><c_5><d_0>`, issue 19) on the recommender's pipeline: one piece per
/// code, a trie that admits exactly the table's IDs, runs that record their scheme, clear errors.
final class SemanticIDTests: XCTestCase {
    /// 30 items, 20 users: ResumeTests' toy domain, larger.
    func toyDomain() -> Domain { ResumeTests.toyDomain(items: 30, users: 20) }

    /// A small layout whose items share prefixes (3 codes at level a, so the trie branches late).
    static let smallLayout = SemanticCodeLayout(levels: 3, codebookSize: 8, disambiguationSize: 4)

    /// Hand-made semantic IDs for the toy catalog: codes (i mod 3, i mod 5, i mod 2, i / 30).
    func semanticTable(_ domain: Domain, layout: SemanticCodeLayout = smallLayout) throws -> IDTable {
        try IDTable(itemIDs: domain.catalog.ids, textualIDs: domain.catalog.ids.indices.map { i in
            try layout.id(codes: [i % 3, i % 5, i % 2, i / 30])
        })
    }

    func vocabulary(_ domain: Domain, layout: SemanticCodeLayout) throws -> Tokenizer {
        try SharedVocabulary.train(catalogs: [domain.catalog], size: 4000, framing: PromptTemplates.vocabularyFraming(),
                                   symbols: SemanticIDs.vocabularySymbols(layout))
    }

    /// Every token of TIGER's layout is one piece; an ID is exactly one piece per code (the
    /// boundary mark SentencePiece puts first is part of the first code's piece) and decodes back
    /// to itself, alone and inside a prompt-like text.
    func testEveryLayoutTokenIsOnePieceAndIDsRoundTrip() throws {
        let layout = SemanticCodeLayout() // 3 × 256 + 256
        let tokenizer = try vocabulary(toyDomain(), layout: layout)
        for token in layout.allTokens { XCTAssertNotNil(tokenizer.id(forPiece: token), token) }
        var g = SeededGenerator(seed: 7)
        var ids = [[0, 0, 0, 0], [255, 255, 255, 255], [17, 203, 5, 0]].map { try! layout.id(codes: $0) }
        for _ in 0 ..< 300 { ids.append(try layout.id(codes: (0 ..< 4).map { _ in Int(g.next() % 256) })) }
        for id in ids {
            let tokens = tokenizer.encode(id)
            let codes = layout.codes(of: id)!
            XCTAssertEqual(tokens.count, layout.totalLevels, "\(id) → \(tokenizer.pieces(id))")
            XCTAssertEqual(tokenizer.pieces(id), ["\u{2581}" + SemanticCodeLayout.token(level: 0, code: codes[0])]
                + (1 ..< 4).map { SemanticCodeLayout.token(level: $0, code: codes[$0]) })
            XCTAssertEqual(try tokenizer.decode(tokens), id)
        }
        let text = "Considering user has interacted with items \(ids[0]) ; \(ids[2]) . What is next ?"
        XCTAssertEqual(try tokenizer.decode(tokenizer.encode(text)), text)
        XCTAssertNoThrow(try SemanticIDs.checkVocabulary(tokenizer, layout: layout, source: "test"))
        let plain = try SharedVocabulary.train(catalogs: [toyDomain().catalog], size: 4000)
        XCTAssertThrowsError(try SemanticIDs.checkVocabulary(plain, layout: layout, source: "plain")) { error in
            XCTAssert("\(error)".contains("<a_0>"), "\(error)")
        }
    }

    /// A seeded random scorer over the whole vocabulary: beam search under the trie must still
    /// emit only the table's IDs, whatever the scores.
    struct RandomScorer: StepScorer {
        let vocabularySize: Int
        var generator: SeededGenerator
        mutating func logProbabilities(lastTokens: [Int32], step: Int) throws -> [Float] {
            var out = [Float](repeating: 0, count: lastTokens.count * vocabularySize)
            for r in 0 ..< lastTokens.count {
                var sum: Float = 0
                for t in 0 ..< vocabularySize {
                    let v = generator.nextFloat() * 8
                    out[r * vocabularySize + t] = v
                    sum += expf(v)
                }
                let log = logf(sum)
                for t in 0 ..< vocabularySize { out[r * vocabularySize + t] -= log }
            }
            return out
        }

        mutating func reorder(sourceRows: [Int]) throws {}
    }

    /// Property: the trie built from a semantic table accepts exactly the table's IDs, and beam
    /// search under it (random scores, many seeds) emits nothing else.
    func testTrieAcceptsExactlyTheTableIDs() throws {
        let domain = toyDomain()
        let layout = Self.smallLayout
        let table = try semanticTable(domain)
        let tokenizer = try vocabulary(domain, layout: layout)
        var config = RecommenderConfig()
        config.codes = layout
        let split = try Split.leaveOneOut(domain, historyCap: config.historyCap)
        let data = try RecommenderData(domain: domain, split: split, ids: table, tokenizer: tokenizer, config: config)
        XCTAssertEqual(Set(data.itemTokens.map(\.count)), [layout.totalLevels], "every ID is one piece per code")
        for i in 0 ..< table.count { XCTAssertEqual(data.trie.index(of: data.target(i)), i) }
        // Every other ID of the layout (same pieces, not in the table) is refused.
        let known = Set(table.textualIDs)
        for a in 0 ..< 3 { for b in 0 ..< 5 { for c in 0 ..< 2 { for d in 0 ..< 2 {
            let id = try layout.id(codes: [a, b, c, d])
            if !known.contains(id) { XCTAssertNil(data.trie.index(of: tokenizer.encode(id) + [data.eos]), id) }
        } } } }
        let generation = GenerationConfig(maxNewTokens: layout.totalLevels + 1, numBeams: 6, numReturnSequences: 6,
                                          eosTokenId: data.eos, padTokenId: 0, decoderStartTokenId: 0)
        var emitted = Set<String>()
        for seed in 0 ..< 20 {
            var scorer = RandomScorer(vocabularySize: tokenizer.vocabularySize, generator: SeededGenerator(seed: UInt64(seed)))
            let results = try Generation.beamSearch(scorer: &scorer, batchSize: 3, config: generation, constraint: data.trie)
            for result in results {
                for sequence in result.realSequences {
                    XCTAssertEqual(sequence.tokens.last, data.eos)
                    XCTAssertNotNil(data.trie.index(of: sequence.tokens))
                    let id = try tokenizer.decode(Array(sequence.tokens.dropLast()))
                    XCTAssert(known.contains(id), "beam search emitted \(id), not in the table")
                    emitted.insert(id)
                }
            }
        }
        XCTAssertGreaterThan(emitted.count, 10, "random scores should reach many items")
    }

    /// A semantic run records its scheme and layout, refuses user IDs, resumes, and ranks only
    /// catalog items; a textual run records "textual".
    func testRunRecordsSchemeResumesAndRanks() throws {
        let domain = toyDomain()
        let table = try semanticTable(domain)
        let base = ScratchSpace.root.appendingPathComponent("semantic-run-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        var config = RecommenderConfig()
        config.preset = .tiny
        config.epochs = 2
        config.batchSize = 8
        config.validationUsers = 8
        config.vocabularySize = 4000
        config.numBeams = 4
        let inputs = RecommenderPipeline.Inputs(dataPath: "toy", domain: domain, ids: table, idsSource: "hand-made", codes: Self.smallLayout)
        let folder = base.appendingPathComponent("run")
        let first = try RecommenderPipeline.open(folder: folder, inputs: inputs, config: config, resume: false)
        first.verbose = false
        try first.train(resume: false, stopAfter: 1)
        let manifest = try JSONOutput.decode(RunManifest.self, from: RunFolder.manifestURL(folder))
        XCTAssertEqual(manifest.config.scheme, "semantic")
        XCTAssertEqual(manifest.config.codes, Self.smallLayout)
        let resumed = try RecommenderPipeline.open(folder: folder, inputs: inputs, config: config, resume: true)
        resumed.verbose = false
        let state = try resumed.train(resume: true)
        XCTAssertEqual(state.completedEpochs, 2)
        let loaded = try RecommenderPipeline.load(folder: folder, domain: domain, dataPath: "toy")
        XCTAssertEqual(loaded.trainer.config.codes, Self.smallLayout)
        let targets = Array(loaded.trainer.data.split.test.prefix(5))
        for list in try loaded.trainer.rank(model: loaded.model, targets: targets) {
            XCTAssertFalse(list.isEmpty)
            XCTAssertEqual(Set(list).count, list.count)
            XCTAssert(list.allSatisfy { (0 ..< domain.catalog.count).contains($0) })
        }
        let recommendations = try loaded.recommend(history: ["i0", "i3"], count: 3)
        XCTAssert(recommendations.allSatisfy { Self.smallLayout.codes(of: $0.textualID) != nil })

        var withUsers = config
        withUsers.useUserIDs = true
        XCTAssertThrowsError(try RecommenderPipeline.open(folder: base.appendingPathComponent("users"), inputs: inputs, config: withUsers, resume: false)) { error in
            XCTAssert("\(error)".contains("--user-ids"), "\(error)")
        }

        var textual = config
        textual.epochs = 1
        let keywords = try IDGeneration.keywords(catalog: domain.catalog, words: 2).table
        let plain = try RecommenderPipeline.open(folder: base.appendingPathComponent("textual"),
                                                 inputs: .init(dataPath: "toy", domain: domain, ids: keywords, idsSource: "keywords"),
                                                 config: textual, resume: false)
        XCTAssertEqual(plain.config.scheme, "textual")
        XCTAssertNil(plain.config.codes)
    }

    func writeTable(_ table: IDTable, to url: URL, codes: SemanticCodeLayout?) throws {
        try table.write(to: url)
        var metadata = IDTableMetadata(data: "toy", items: table.count, generator: "hand-made", generatorHash: nil, tokenizerHash: nil,
                                       options: IDOptions(), report: AssignmentReport(), examples: [])
        metadata.codes = codes
        try AtomicFile.writeJSON(metadata, to: SemanticIDs.metadataURL(table: url))
    }

    /// How a table's scheme is decided, and the errors for tables that contradict themselves.
    func testReadingTablesDecidesTheScheme() throws {
        let domain = toyDomain()
        let base = ScratchSpace.root.appendingPathComponent("semantic-tables-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        let table = try semanticTable(domain)

        // The .json decides.
        let withJSON = base.appendingPathComponent("codes.tsv")
        try writeTable(table, to: withJSON, codes: Self.smallLayout)
        XCTAssertEqual(try SemanticIDs.read(withJSON).codes, Self.smallLayout)
        XCTAssertEqual(try SemanticIDs.read(withJSON).scheme, .semantic)

        // The .json says semantic but line 5 is not a code of its layout.
        var ids = table.textualIDs
        ids[4] = "rose cream"
        let bad = base.appendingPathComponent("bad.tsv")
        try writeTable(try IDTable(itemIDs: table.itemIDs, textualIDs: ids), to: bad, codes: Self.smallLayout)
        XCTAssertThrowsError(try SemanticIDs.read(bad)) { error in
            XCTAssert("\(error)".contains("bad.tsv:5"), "\(error)")
            XCTAssert("\(error)".contains("rose cream"), "\(error)")
        }
        // A code outside the layout (level a has 8 codes).
        ids[4] = "<a_9><b_0><c_0><d_0>"
        try writeTable(try IDTable(itemIDs: table.itemIDs, textualIDs: ids), to: bad, codes: Self.smallLayout)
        XCTAssertThrowsError(try SemanticIDs.read(bad)) { XCTAssert("\($0)".contains("bad.tsv:5"), "\($0)") }

        // Without a .json: codes that fit TIGER's default layout are taken in it ...
        let bare = base.appendingPathComponent("bare.tsv")
        try table.write(to: bare)
        XCTAssertEqual(try SemanticIDs.read(bare).codes, SemanticCodeLayout())
        // ... codes that do not fit it, or a mix of codes and words, are errors.
        let wide = try IDTable(itemIDs: table.itemIDs, textualIDs: table.itemIDs.indices.map { "<a_\($0 + 300)><b_0><c_0><d_0>" })
        try wide.write(to: bare)
        XCTAssertThrowsError(try SemanticIDs.read(bare)) { XCTAssert("\($0)".contains(".json"), "\($0)") }
        ids[4] = "rose cream"
        try IDTable(itemIDs: table.itemIDs, textualIDs: ids).write(to: bare)
        XCTAssertThrowsError(try SemanticIDs.read(bare)) { XCTAssert("\($0)".contains("mixes"), "\($0)") }
        // Textual IDs stay textual.
        let keywords = try IDGeneration.keywords(catalog: domain.catalog, words: 2).table
        try keywords.write(to: bare)
        XCTAssertNil(try SemanticIDs.read(bare).codes)
    }
}
