import Corpora
import Foundation
@testable import IDGen
import Support
import T5
import TensorCore
import TextEncoder
import Tokenizer
import XCTest

/// Semantic ID words and encoder-initialised token embeddings (issue 18), on the committed
/// tiny-bert sentence-transformers folder (random weights, not normalised), so they run without
/// `make setup`: the properties hold for any encoder.
final class SemanticWordsTests: XCTestCase {
    static let tinyBert = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("TextEncoderTests/Fixtures/tiny-bert")

    static func catalog() -> Catalog {
        let titles = [
            "Garnier Fructis Sleek Shine Shampoo 13 Ounce", "Garnier Fructis Sleek Shine Conditioner 13 Ounce",
            "Tessol Ceramic Knife Sharpener Gray", "Tessol Paper Coffee Filters 100 Count",
            "Rose Day Cream by Hauschka", "Lavender Night Cream by Hauschka", "Venvo Diamond Knife Sharpener Teal",
            "Belsa Linen Kitchen Towels Pack of 4", "Belsa Cotton Kitchen Towels Pack of 4", "Rexhol Measuring Cups Black",
            "12 Ounce 2 Pack", "Shampoo", "Shampoo", "Shampoo Shampoo",
        ]
        return Catalog(items: titles.enumerated().map { i, t in
            (id: "i\(i)", fields: [TextField("title", t), TextField("categories", i < 2 ? "Beauty, Hair Care" : i == 10 ? "" : "Home")])
        })
    }

    static func itemVectors(_ catalog: Catalog, _ encoder: SentenceEncoder) -> Tensor {
        encoder.encode(IDGeneration.embeddingTexts(catalog))
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var ab = 0.0, aa = 0.0, bb = 0.0
        for (x, y) in zip(a, b) { ab += Double(x) * Double(y); aa += Double(x * x); bb += Double(y * y) }
        return ab / (aa.squareRoot() * bb.squareRoot())
    }

    /// With no diversity term, units come in order of the cosine between the word's embedding and
    /// the item's text embedding, both computed here straight from the encoder.
    func testWithoutDiversityUnitsAreRankedByCosineToTheItem() throws {
        let encoder = try SentenceEncoder(folder: Self.tinyBert)
        let catalog = Self.catalog()
        let items = ItemText.all(catalog)
        var options = SemanticWordOptions()
        options.diversity = 0
        let generator = try SemanticCandidateGenerator(items: items, extractor: KeywordExtractor(catalog: items),
                                                       itemVectors: Self.itemVectors(catalog, encoder), phrases: PhraseEmbeddings(encoder: encoder), options: options)
        for index in [0, 2, 4, 7] {
            let ranked = generator.ranked(index).map { $0.joined(separator: " ") }
            let item = encoder.encode([catalog.text(at: index)]).scalars
            let cosines = ranked.map { Self.cosine(encoder.encode([$0]).scalars, item) }
            XCTAssertGreaterThan(ranked.count, 1)
            for k in 1 ..< cosines.count {
                XCTAssertGreaterThanOrEqual(cosines[k - 1] + 1e-5, cosines[k], "item \(index): \(ranked)")
            }
        }
    }

    /// The diversity term: the second unit maximises (1−λ)·cos(word, item) − λ·max(0, cos(word, first)).
    func testDiversityTermChoosesTheSecondUnitByMarginalRelevance() throws {
        let encoder = try SentenceEncoder(folder: Self.tinyBert)
        let catalog = Self.catalog()
        let items = ItemText.all(catalog)
        var options = SemanticWordOptions()
        options.diversity = 0.5
        let generator = try SemanticCandidateGenerator(items: items, extractor: KeywordExtractor(catalog: items),
                                                       itemVectors: Self.itemVectors(catalog, encoder), phrases: PhraseEmbeddings(encoder: encoder), options: options)
        let index = 7
        let ranked = generator.ranked(index).map { $0.joined(separator: " ") }
        let item = encoder.encode([catalog.text(at: index)]).scalars
        let vectors = Dictionary(uniqueKeysWithValues: ranked.map { ($0, encoder.encode([$0]).scalars) })
        let first = ranked[0]
        XCTAssertEqual(first, ranked.max { Self.cosine(vectors[$0]!, item) < Self.cosine(vectors[$1]!, item) })
        func score(_ w: String) -> Double { 0.5 * Self.cosine(vectors[w]!, item) - 0.5 * max(0, Self.cosine(vectors[w]!, vectors[first]!)) }
        let best = ranked.dropFirst().max { score($0) < score($1) }!
        XCTAssertEqual(score(ranked[1]), score(best), accuracy: 1e-5, "\(ranked)")
    }

    /// IDs use only the item's own words, each once, in reading order; numbers and size words
    /// are left out while the item has other words; the IDs are unique and the same on a rerun;
    /// `existing` IDs stay.
    func testSemanticIDsAreOwnWordsInReadingOrderUniqueAndStable() throws {
        let encoder = try SentenceEncoder(folder: Self.tinyBert)
        let catalog = Self.catalog()
        let vectors = Self.itemVectors(catalog, encoder)
        let (table, report, phrases) = try IDGeneration.semantic(catalog: catalog, itemVectors: vectors, encoder: encoder, progress: false)
        XCTAssertEqual(Set(table.textualIDs).count, catalog.count)
        XCTAssertGreaterThan(phrases.count, 10)
        XCTAssertEqual(report.entries, catalog.count)
        for i in 0 ..< catalog.count {
            let own = IDNormalizer.words(catalog.text(at: i), fold: true)
            let words = table.textualIDs[i].split(separator: " ").map(String.init)
            let positions = words.map { w in own.firstIndex(of: w) }
            if i == 12 || i == 13 { continue } // duplicates of "shampoo": last resort may add a number
            XCTAssertFalse(positions.contains(nil), "\(table.textualIDs[i]) ⊄ \(own)")
            XCTAssertEqual(positions.compactMap { $0 }, positions.compactMap { $0 }.sorted(), "reading order: \(table.textualIDs[i])")
            XCTAssertEqual(Set(words).count, words.count)
            if i < 10 {
                XCTAssertFalse(words.contains { $0 == "ounce" || $0.allSatisfy(\.isNumber) || $0 == "count" || $0 == "pack" },
                               "weak word in \(table.textualIDs[i])")
            }
        }
        // An item with only weak words still gets them.
        XCTAssertTrue(table.textualIDs[10].split(separator: " ").allSatisfy { ["12", "ounce", "2", "pack"].contains(String($0)) },
                      table.textualIDs[10])
        let again = try IDGeneration.semantic(catalog: catalog, itemVectors: vectors, encoder: encoder, progress: false).table
        XCTAssertEqual(again.textualIDs, table.textualIDs)

        var partial = Array(table.textualIDs)
        partial[3] = "kept id"
        let existing = try IDTable(itemIDs: Array(catalog.ids.prefix(5)), textualIDs: Array(partial.prefix(5)))
        let extended = try IDGeneration.semantic(catalog: catalog, itemVectors: vectors, encoder: encoder, existing: existing, progress: false)
        XCTAssertEqual(extended.table.textualIDs[3], "kept id")
        XCTAssertEqual(extended.report.kept, 5)
        XCTAssertEqual(Set(extended.table.textualIDs).count, catalog.count)
    }

    func testEmbeddingsOfAnotherCatalogAreRefused() throws {
        let encoder = try SentenceEncoder(folder: Self.tinyBert)
        let catalog = Self.catalog()
        let items = ItemText.all(catalog)
        let wrong = Tensor(zeros: [catalog.count - 1, encoder.dimension])
        XCTAssertThrowsError(try SemanticCandidateGenerator(items: items, extractor: KeywordExtractor(catalog: items), itemVectors: wrong,
                                                            phrases: PhraseEmbeddings(encoder: encoder))) { error in
            XCTAssertTrue("\(error)".contains("one row per catalog item"), "\(error)")
        }
    }

    /// PCA by subspace iteration: on data with independent coordinates of standard deviations
    /// 8, 7, …, 1, the top 3 directions are the first three axes and keep (64+49+36)/204 of the
    /// variance.
    func testPrincipalDirectionsFindTheLargestVarianceAxes() {
        var g = SeededGenerator(seed: 9)
        let n = 4000, d = 8, k = 3
        var x = [Float](repeating: 0, count: n * d)
        for r in 0 ..< n {
            for j in 0 ..< d {
                // Box–Muller normal.
                let u1 = Double.random(in: Double.ulpOfOne ..< 1, using: &g), u2 = Double.random(in: 0 ..< 1, using: &g)
                x[r * d + j] = Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2) * Double(d - j))
            }
        }
        var mean = [Float](repeating: 0, count: d)
        for r in 0 ..< n { for j in 0 ..< d { mean[j] += x[r * d + j] / Float(n) } }
        for r in 0 ..< n { for j in 0 ..< d { x[r * d + j] -= mean[j] } }
        let (basis, explained) = TokenEmbeddingInit.principalDirections(x, n: n, d: d, k: k)
        // Energy of the basis on the three largest axes: 3 for a perfect subspace.
        var onTop = 0.0
        for a in 0 ..< 3 { for j in 0 ..< k { onTop += basis[a * k + j] * basis[a * k + j] } }
        XCTAssertEqual(onTop, 3, accuracy: 0.02)
        XCTAssertEqual(explained, 149.0 / 204.0, accuracy: 0.02)
        // Orthonormal columns.
        for p in 0 ..< k {
            for q in 0 ..< k {
                var dot = 0.0
                for a in 0 ..< d { dot += basis[a * k + p] * basis[a * k + q] }
                XCTAssertEqual(dot, p == q ? 1 : 0, accuracy: 1e-9)
            }
        }
    }

    /// Pieces with text get encoder rows scaled to the initialiser's standard deviation; control
    /// pieces and sentinels keep their random rows; the result does not depend on the run.
    func testTokenInitialisationCoversTextPiecesAtTheInitialiserScale() throws {
        let encoder = try SentenceEncoder(folder: Self.tinyBert)
        let tokenizer = try SharedVocabulary.train(catalogs: [Self.catalog()], size: 420)
        var g = SeededGenerator(seed: 1)
        let config = T5Config.preset(.tiny, vocabularySize: tokenizer.vocabularySize)
        let model = try T5Model(config: config, generator: &g)
        let before = model.shared.value.scalars
        let report = TokenEmbeddingInit.apply(to: model, tokenizer: tokenizer, encoder: encoder)
        let after = model.shared.value.scalars
        let dModel = config.d_model
        let texts = TokenEmbeddingInit.pieceTexts(tokenizer)
        XCTAssertEqual(report.covered, texts.compactMap { $0 }.count)
        XCTAssertGreaterThan(report.covered, 40)
        XCTAssertGreaterThan(report.explainedVariance, 0)
        XCTAssertLessThanOrEqual(report.explainedVariance, 1 + 1e-9)
        var sumSquares = 0.0
        for i in 0 ..< config.vocab_size {
            let row = Array(after[i * dModel ..< (i + 1) * dModel]), old = Array(before[i * dModel ..< (i + 1) * dModel])
            if i < texts.count, texts[i] != nil {
                XCTAssertNotEqual(row, old)
                sumSquares += row.reduce(0.0) { $0 + Double($1 * $1) }
            } else {
                XCTAssertEqual(row, old, "piece \(i) (\(tokenizer.piece(forID: Int32(i)) ?? "beyond the vocabulary")) should stay random")
            }
        }
        let std = (sumSquares / Double(report.covered * dModel)).squareRoot()
        XCTAssertEqual(std, Double(config.initializer_factor ?? 1), accuracy: 1e-3)
        for control in [tokenizer.padID, tokenizer.eosID, tokenizer.unkID].compactMap({ $0 }) { XCTAssertNil(texts[Int(control)]) }
        if let sentinel = tokenizer.sentinelID(0) { XCTAssertNil(texts[Int(sentinel)]) }

        var g2 = SeededGenerator(seed: 1)
        let model2 = try T5Model(config: config, generator: &g2)
        TokenEmbeddingInit.apply(to: model2, tokenizer: tokenizer, encoder: encoder)
        XCTAssertEqual(model2.shared.value.scalars, after)
    }
}
