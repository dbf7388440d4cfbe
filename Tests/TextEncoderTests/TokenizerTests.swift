import Foundation
@testable import TextEncoder
import XCTest

/// The WordPiece tokenizer against Hugging Face `tokenizers` on every code point, and its rules.
final class WordPieceTokenizerTests: XCTestCase {
    struct CodePoints: Decodable {
        let removed: [[UInt32]]
        let space: [[UInt32]]
        let spaced: [[UInt32]]
        let mapped: [String: [UInt32]]
        let punctuation: [[UInt32]]
    }

    static func tokenizer() throws -> WordPieceTokenizer {
        let folder = try EncoderFixtures.encoderFolder()
        return try WordPieceTokenizer(url: folder.appendingPathComponent("tokenizer.json"), maxLength: 256)
    }

    /// All 1,112,064 code points: the normaliser's output for the code point alone equals what
    /// tokenizers' BertNormalizer gave (tools/make_encoder_fixtures.py), and the pre-tokenizer
    /// isolates exactly the code points tokenizers does.
    func testNormalizerAndPreTokenizerMatchTokenizersOnEveryCodePoint() throws {
        let tokenizer = try Self.tokenizer()
        let expected = try JSONDecoder().decode(CodePoints.self, from: Data(contentsOf: EncoderFixtures.folder.appendingPathComponent("codepoints.json")))
        func inRanges(_ ranges: [[UInt32]]) -> (UInt32) -> Bool {
            let r = ranges.map { $0[0] ... $0[1] }
            return { BertUnicodeTables.contains(r, $0) }
        }
        let removed = inRanges(expected.removed), space = inRanges(expected.space), spaced = inRanges(expected.spaced)
        let punctuation = inRanges(expected.punctuation)
        var mapped: [UInt32: [UInt32]] = [:]
        for (k, v) in expected.mapped { mapped[UInt32(k)!] = v }
        func hex(_ v: UInt32) -> String { String(v, radix: 16, uppercase: true) }
        var checked = 0, failures = 0
        for v in UInt32(0) ... 0x10FFFF {
            guard let s = Unicode.Scalar(v) else { continue }
            let want: [UInt32]
            if removed(v) { want = [] } else if space(v) { want = [0x20] } else if spaced(v) { want = [0x20, v, 0x20] } else { want = mapped[v] ?? [v] }
            let got = tokenizer.normalize([s]).map(\.value)
            if got != want {
                failures += 1
                if failures <= 20 { XCTFail("U+\(hex(v)): normalised to \(got.map(hex)), tokenizers gives \(want.map(hex))") }
            }
            let isolated = v != 0x20 && tokenizer.preTokenize(["a", s, "b"]).map { Array($0) } == [["a"], [s], ["b"]]
            if isolated != punctuation(v) {
                failures += 1
                if failures <= 20 { XCTFail("U+\(hex(v)): pre-tokenizer isolates it: \(isolated), tokenizers: \(punctuation(v))") }
            }
            checked += 1
        }
        XCTAssertEqual(checked, 1_112_064)
        XCTAssertEqual(failures, 0)
    }

    func testWordPieceRules() throws {
        let t = try Self.tokenizer()
        // Expected token lists as tokenizers 0.20.3 gives them for this folder.
        XCTAssertEqual(t.tokenize("Unaffable!"), ["[CLS]", "una", "##ffa", "##ble", "!", "[SEP]"])
        XCTAssertEqual(t.tokenize(String(repeating: "a", count: 101)), ["[CLS]", "[UNK]", "[SEP]"])
        XCTAssertEqual(t.tokenize("hello [MASK] world"), ["[CLS]", "hello", "[MASK]", "world", "[SEP]"])
        XCTAssertEqual(t.tokenize("Café"), t.tokenize("Cafe\u{301}"))
        XCTAssertEqual(t.tokenize("东京"), ["[CLS]", "[UNK]", "京", "[SEP]"]) // 东 is not in the vocabulary
        XCTAssertEqual(t.encode(""), [101, 102])
        let long = t.encode(String(repeating: "word ", count: 1000))
        XCTAssertEqual(long.count, 256)
        XCTAssertEqual(long.first, 101)
        XCTAssertEqual(long.last, 102)
    }

    func testPythonStripMatchesStrStrip() {
        XCTAssertEqual(SentenceEncoder.pythonStripped("\u{1C} \u{3000}a b\u{85}\t"), "a b")
        XCTAssertEqual(SentenceEncoder.pythonStripped(" \n "), "")
        XCTAssertEqual(SentenceEncoder.pythonStripped("a\u{200B}"), "a\u{200B}") // ZWSP is not whitespace
    }

    func testUnsupportedTokenizerPartsNameTheField() throws {
        let folder = try EncoderFixtures.encoderFolder()
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("tokenizer.json"))) as! [String: Any]
        json["pre_tokenizer"] = ["type": "Whitespace"]
        let data = try JSONSerialization.data(withJSONObject: json)
        XCTAssertThrowsError(try WordPieceTokenizer(json: data, path: "x/tokenizer.json", maxLength: 256)) { error in
            XCTAssert("\(error)".contains("pre_tokenizer.type 'Whitespace'"), "\(error)")
        }
        json.removeValue(forKey: "model")
        XCTAssertThrowsError(try WordPieceTokenizer(json: JSONSerialization.data(withJSONObject: json), path: "x/tokenizer.json", maxLength: 256)) { error in
            XCTAssert("\(error)".contains("x/tokenizer.json: field 'model'"), "\(error)")
        }
    }
}
