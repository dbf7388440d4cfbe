import Corpora
import Foundation
import IDGen
import Support
import Tokenizer
import XCTest
@testable import Recommender

final class PromptTests: XCTestCase {
    static let tokenizer: Tokenizer = {
        var sentences: [String] = []
        for i in 0 ..< 300 { sentences.append("item\(i % 37) soap bar rose cream mint oil shampoo brush \(i) user purchased items next") }
        sentences += PromptTemplates.standard
        var options = TrainingOptions()
        options.vocabularySize = 400
        return try! Tokenizer.train(sentences: sentences, options: options)
    }()

    func testSpansCoverExactlyTheItemTokensAndTemplateZeroIsThePapers() throws {
        let tok = Self.tokenizer
        let encoder = try PromptEncoder(tokenizer: tok)
        let itemTokens = ["soap bar", "rose cream", "mint"].map { tok.encode($0) }
        let prompt = encoder.encode(history: [2, 0, 1], template: 0, itemTokens: itemTokens, userTokens: nil)
        XCTAssertEqual(prompt.tokens.last, tok.eosID)
        XCTAssertEqual(prompt.itemSpans.map(\.item), [2, 0, 1])
        for span in prompt.itemSpans {
            XCTAssertEqual(Array(prompt.tokens[span.range]), itemTokens[span.item])
        }
        let text = try tok.decode(Array(prompt.tokens.dropLast()))
        XCTAssertEqual(text, "Considering user has interacted with items mint ; soap bar ; rose cream . What is the next recommendation for the user ?")
        let withUser = encoder.encode(history: [0], template: 0, itemTokens: itemTokens, userTokens: tok.encode("rose oil"))
        XCTAssert(try tok.decode(withUser.tokens.dropLast()).hasPrefix("Considering user rose oil has interacted"))
    }

    func testLongHistoriesDropTheOldestWholeItems() throws {
        let tok = Self.tokenizer
        let encoder = try PromptEncoder(tokenizer: tok, maximumLength: 40)
        let itemTokens = (0 ..< 20).map { tok.encode("soap bar rose cream \($0)") }
        let prompt = encoder.encode(history: Array(0 ..< 20), template: 3, itemTokens: itemTokens, userTokens: nil)
        XCTAssertLessThanOrEqual(prompt.tokens.count, 40)
        XCTAssertEqual(prompt.itemSpans.last?.item, 19, "the most recent item is kept")
        let kept = prompt.itemSpans.map(\.item)
        XCTAssertEqual(kept, Array((20 - kept.count) ..< 20))
        for span in prompt.itemSpans { XCTAssertEqual(Array(prompt.tokens[span.range]), itemTokens[span.item]) }
    }

    /// `--item-input replace`: each history item is the one placeholder token (its span that one
    /// position), no separators; the template's words stay; long histories still drop the oldest.
    func testItemPlaceholderMakesEachItemOnePositionWithoutSeparators() throws {
        let tok = Self.tokenizer
        var encoder = try PromptEncoder(tokenizer: tok, templates: PromptTemplates.named("short"), maximumLength: 12)
        let marker = try XCTUnwrap(tok.unkID)
        encoder.itemPlaceholder = marker
        let itemTokens = ["soap bar", "rose cream", "mint"].map { tok.encode($0) }
        let prompt = encoder.encode(history: [2, 0, 1], template: 0, itemTokens: itemTokens, userTokens: nil)
        let framing = tok.encode("user") + tok.encode(":")
        XCTAssertEqual(prompt.tokens, framing + [marker, marker, marker, try XCTUnwrap(tok.eosID)])
        XCTAssertEqual(prompt.itemSpans.map(\.item), [2, 0, 1])
        XCTAssertEqual(prompt.itemSpans.map(\.range), (0 ..< 3).map { framing.count + $0 ..< framing.count + $0 + 1 })
        let long = encoder.encode(history: Array(0 ..< 3) + Array(0 ..< 3) + Array(0 ..< 3) + Array(0 ..< 3), template: 0, itemTokens: itemTokens, userTokens: nil)
        XCTAssertEqual(long.tokens.count, 12)
        XCTAssertEqual(long.itemSpans.count, 12 - framing.count - 1, "one position per kept item")
        XCTAssertEqual(long.itemSpans.last?.item, 2, "the most recent item is kept")
    }

    func testTemplateWithoutHistoryIsRejected() {
        XCTAssertThrowsError(try PromptEncoder(tokenizer: Self.tokenizer, templates: ["no placeholder here"]))
    }

    func testShortFramingIsOnlyTheUserSlotAndTheHistory() throws {
        let tok = Self.tokenizer
        let encoder = try PromptEncoder(tokenizer: tok, templates: PromptTemplates.named("short"))
        XCTAssertEqual(encoder.templates.count, 1)
        let itemTokens = ["soap bar", "rose cream", "mint"].map { tok.encode($0) }
        let prompt = encoder.encode(history: [2, 0, 1], template: 0, itemTokens: itemTokens, userTokens: nil)
        XCTAssertEqual(try tok.decode(Array(prompt.tokens.dropLast())), "user : mint ; soap bar ; rose cream")
        for span in prompt.itemSpans { XCTAssertEqual(Array(prompt.tokens[span.range]), itemTokens[span.item]) }
        let paper = try PromptEncoder(tokenizer: tok).encode(history: [2, 0, 1], template: 0, itemTokens: itemTokens, userTokens: nil)
        XCTAssertLessThan(prompt.tokens.count, paper.tokens.count)
        let withUser = encoder.encode(history: [0], template: 0, itemTokens: itemTokens, userTokens: tok.encode("rose oil"))
        XCTAssertEqual(try tok.decode(Array(withUser.tokens.dropLast())), "user rose oil : soap bar")
        XCTAssertEqual(try PromptTemplates.named(nil), PromptTemplates.standard)
        XCTAssertThrowsError(try PromptTemplates.named("long"))
    }

    func testRunConfigsWithoutAFramingLoadAsThePapers() throws {
        var config = RecommenderConfig()
        config.promptFraming = "short"
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as! [String: Any]
        XCTAssertEqual(json["promptFraming"] as? String, "short")
        json.removeValue(forKey: "promptFraming")
        let old = try JSONDecoder().decode(RecommenderConfig.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertNil(old.promptFraming)
    }
}
