import Foundation
@testable import Tokenizer
import Support
import XCTest

/// The expected output written by tools/make_tokenizer_fixtures.py with the Python
/// `sentencepiece` package (version recorded in the file and in Fixtures/README.md).
struct ExpectedFixtures: Decodable {
    struct Case: Decodable {
        let name: String
        let text: String
        let ids: [Int32]
        let pieces: [String]
        let decoded: String
    }

    struct Model: Decodable {
        let name: String
        let file: String
        let sha256: String
        let vocab_size: Int
        let pad_id: Int32
        let eos_id: Int32
        let unk_id: Int32
        let bos_id: Int32
        let vocab: [String]
        let byte_ids: [Int32]
        let control_ids: [Int32]
        let cases: [Case]
    }

    let sentencepiece_version: String
    let models: [Model]
}

enum Fixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static var corpus: URL { folder.appendingPathComponent("corpus.txt") }

    static func corpusLines() throws -> [String] {
        try String(contentsOf: corpus, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func expected() throws -> ExpectedFixtures {
        let data = try Data(contentsOf: folder.appendingPathComponent("expected.json"))
        return try JSONDecoder().decode(ExpectedFixtures.self, from: data)
    }
}

final class ParityTests: XCTestCase {
    /// Ids, pieces and decoded text match the Python package on the same model, case by case.
    func testEncodeDecodeMatchesPythonSentencePiece() throws {
        let expected = try Fixtures.expected()
        XCTAssertEqual(expected.models.map(\.name), ["unigram", "bpe"])
        for model in expected.models {
            let tokenizer = try Tokenizer(contentsOf: Fixtures.folder.appendingPathComponent(model.file))
            XCTAssertEqual(tokenizer.vocabularySize, model.vocab_size, model.name)
            func special(_ id: Int32) -> Int32? { id >= 0 ? id : nil }
            XCTAssertEqual(tokenizer.padID, special(model.pad_id), model.name)
            XCTAssertEqual(tokenizer.eosID, special(model.eos_id), model.name)
            XCTAssertEqual(tokenizer.unkID, special(model.unk_id), model.name)
            XCTAssertEqual(tokenizer.bosID, special(model.bos_id), model.name)
            XCTAssertEqual(tokenizer.modelHash, model.sha256, "\(model.name): hash differs from Python hashlib")
            XCTAssertEqual(model.cases.count, 18)

            // The whole vocabulary, both directions.
            for (id, piece) in model.vocab.enumerated() {
                XCTAssertEqual(tokenizer.piece(forID: Int32(id)), piece, "\(model.name) id \(id)")
                XCTAssertEqual(tokenizer.id(forPiece: piece), Int32(id), "\(model.name) piece \(piece)")
            }
            XCTAssertEqual((0 ..< Int32(model.vocab_size)).filter { tokenizer.kind(ofID: $0) == .byte }, model.byte_ids, model.name)
            XCTAssertEqual((0 ..< Int32(model.vocab_size)).filter { tokenizer.kind(ofID: $0) == .control }, model.control_ids, model.name)

            var idCount = 0
            for c in model.cases {
                let label = "\(model.name)/\(c.name)"
                let ids = tokenizer.encode(c.text)
                if ids != c.ids {
                    let first = zip(ids, c.ids).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(ids.count, c.ids.count)
                    XCTFail("\(label): ids differ at position \(first) (swift \(ids.count) ids, python \(c.ids.count))")
                }
                XCTAssertEqual(tokenizer.pieces(c.text), c.pieces, label)
                XCTAssertEqual(try tokenizer.decode(c.ids), c.decoded, label)
                idCount += ids.count
            }
            // The very long case alone is thousands of ids: the comparison is not vacuous.
            XCTAssertGreaterThan(idCount, 5000, model.name)
        }
    }

    /// Batch encoding on two threads gives exactly the single-thread ids, in input order.
    func testBatchEncodeMatchesSequential() throws {
        let tokenizer = try Tokenizer(contentsOf: Fixtures.folder.appendingPathComponent("unigram.model"))
        let texts = try Fixtures.corpusLines() + ["", " ", "😍 东京"]
        let sequential = texts.map { tokenizer.encode($0) }
        XCTAssertEqual(tokenizer.encode(batch: texts, threads: 2), sequential)
        XCTAssertEqual(tokenizer.encode(batch: texts, threads: 1), sequential)
        XCTAssertEqual(tokenizer.encode(batch: [], threads: 2), [])
        XCTAssertEqual(tokenizer.encode(batch: ["one"], threads: 2), [tokenizer.encode("one")])
    }

    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hexDigest(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hexDigest(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hexDigest(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hexDigest(Data(repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
