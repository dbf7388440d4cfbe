import Support
import Foundation
import Tokenizer
import XCTest

final class TrainingTests: XCTestCase {
    /// T5-style options sized for the 6.5 KB fixture corpus.
    static func smallOptions(_ type: TrainingOptions.ModelType = .unigram) -> TrainingOptions {
        var options = TrainingOptions()
        options.modelType = type
        options.vocabularySize = 500
        options.sentinelCount = 3
        return options
    }

    func testDefaultsAreT5() {
        let o = TrainingOptions()
        XCTAssertEqual([o.padID, o.eosID, o.unkID, o.bosID], [0, 1, 2, -1])
        XCTAssertTrue(o.byteFallback)
        XCTAssertEqual(o.numThreads, 2)
        XCTAssertEqual(o.modelType, .unigram)
        XCTAssertEqual(TrainingOptions.sentinelPieces(count: 2), ["<extra_id_0>", "<extra_id_1>"])
    }

    func testOptionsCodableWithMissingKeysTakingDefaults() throws {
        let partial = try JSONDecoder().decode(TrainingOptions.self, from: Data(#"{"modelType": "bpe", "vocabularySize": 300}"#.utf8))
        var expected = TrainingOptions()
        expected.modelType = .bpe
        expected.vocabularySize = 300
        XCTAssertEqual(partial, expected)
        var full = Self.smallOptions(.bpe)
        full.userDefinedSymbols = ["<title>"]
        full.seed = 7
        XCTAssertEqual(try JSONDecoder().decode(TrainingOptions.self, from: JSONEncoder().encode(full)), full)
        XCTAssertThrowsError(try JSONDecoder().decode(TrainingOptions.self, from: Data(#"{"modelType": "wordpiece"}"#.utf8)))
    }

    /// Same input and options give the same model bytes and ids, for both algorithms, from
    /// memory and from a file.
    func testTrainingIsDeterministic() throws {
        let lines = try Fixtures.corpusLines()
        for type in [TrainingOptions.ModelType.unigram, .bpe] {
            let options = Self.smallOptions(type)
            let a = try Tokenizer.train(sentences: lines, options: options)
            let b = try Tokenizer.train(sentences: lines, options: options)
            let c = try Tokenizer.train(files: [Fixtures.corpus], options: options)
            XCTAssertEqual(a.modelHash, b.modelHash, "\(type): two trainings on the same sentences differ")
            XCTAssertEqual(a.vocabularySize, 500)
            // The model stores its trainer spec, input path included, so the file-trained
            // model's bytes differ; its vocabulary and scores-derived segmentation must not.
            XCTAssertEqual(c.vocabularySize, a.vocabularySize)
            for id in 0 ..< Int32(a.vocabularySize) {
                XCTAssertEqual(c.piece(forID: id), a.piece(forID: id), "\(type): id \(id) differs between file and in-memory training")
            }
            for text in lines {
                XCTAssertEqual(a.encode(text), b.encode(text))
                XCTAssertEqual(a.encode(text), c.encode(text))
            }
            // A different vocabulary size must change the model (the hash is not constant).
            var other = options
            other.vocabularySize = 480
            XCTAssertNotEqual(try Tokenizer.train(sentences: lines, options: other).modelHash, a.modelHash)
        }
    }

    /// The trained vocabulary has T5's layout: pad 0, eos 1, unk 2, sentinels next, 256 bytes.
    func testTrainedModelLayoutAndSentinels() throws {
        var options = Self.smallOptions()
        options.userDefinedSymbols = ["<title>"]
        let tokenizer = try Tokenizer.train(sentences: Fixtures.corpusLines(), options: options)
        XCTAssertEqual(tokenizer.padID, 0)
        XCTAssertEqual(tokenizer.eosID, 1)
        XCTAssertEqual(tokenizer.unkID, 2)
        XCTAssertNil(tokenizer.bosID)
        XCTAssertEqual(tokenizer.piece(forID: 0), "<pad>")
        XCTAssertEqual(tokenizer.piece(forID: 1), "</s>")
        XCTAssertEqual(tokenizer.piece(forID: 2), "<unk>")
        XCTAssertEqual((0 ..< 3).map { tokenizer.sentinelID($0) }, [3, 4, 5])
        XCTAssertNil(tokenizer.sentinelID(3))
        XCTAssertEqual(tokenizer.id(forPiece: "<title>"), 6)
        XCTAssertEqual(tokenizer.kind(ofID: 0), .control)
        XCTAssertEqual(tokenizer.kind(ofID: 2), .unknown)
        XCTAssertEqual((0 ..< Int32(tokenizer.vocabularySize)).filter { tokenizer.kind(ofID: $0) == .byte }.count, 256)
        // Sentinels and user symbols stay whole inside text.
        let ids = tokenizer.encode("<title> red lipstick <extra_id_0> matte <extra_id_2>")
        XCTAssertTrue(ids.contains(3) && ids.contains(5) && ids.contains(6), "\(tokenizer.pieces("<title> red lipstick <extra_id_0>"))")
        XCTAssertFalse(ids.contains(2), "byte fallback: nothing is unknown")
    }

    /// With byte fallback nothing is lost: characters never seen in training (emoji, CJK,
    /// Georgian) come back exactly. Texts are already NFKC and single-spaced, which is what
    /// the nmt_nfkc normalizer would otherwise change.
    func testRoundTripWithByteFallback() throws {
        for type in [TrainingOptions.ModelType.unigram, .bpe] {
            let tokenizer = try Tokenizer.train(sentences: Fixtures.corpusLines(), options: Self.smallOptions(type))
            let texts = [
                "The wireless headphones offer noise cancelling.",
                "Dvořák, Ærøskøbing, señor, naïve façade",
                "Love it 😍🔥 family 👨‍👩‍👧 flag 🇫🇷",
                "東京タワーに行きました 한국어 텍스트 ქართული ენა",
                "Price $49.99 → €45,00 (−30%) #1742",
                "<extra_id_1> masked <extra_id_0>",
                "",
            ]
            for text in texts {
                let ids = tokenizer.encode(text)
                XCTAssertFalse(ids.contains(tokenizer.unkID!), "\(type): \(text) has unknown pieces")
                XCTAssertEqual(try tokenizer.decode(ids), text, "\(type)")
            }
            // Control ids decode to nothing (T5 targets end with eos, batches pad with 0).
            let ids = tokenizer.encode("red lipstick")
            XCTAssertEqual(try tokenizer.decode(ids + [tokenizer.eosID!, tokenizer.padID!, tokenizer.padID!]), "red lipstick")
        }
    }

    func testSaveAndLoadGiveTheSameModel() throws {
        let tokenizer = try Tokenizer.train(sentences: Fixtures.corpusLines(), options: Self.smallOptions(.bpe))
        let folder = ScratchSpace.root.appendingPathComponent("tokenizer-tests-\(getpid())-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("sub/spiece.model")
        try tokenizer.save(to: url)
        let loaded = try Tokenizer(contentsOf: url)
        XCTAssertEqual(loaded.modelHash, tokenizer.modelHash)
        XCTAssertEqual(try Data(contentsOf: url), tokenizer.modelData)
        XCTAssertEqual(loaded.source, url.path)
        let fromBytes = try Tokenizer(modelData: tokenizer.modelData)
        for text in try Fixtures.corpusLines() {
            XCTAssertEqual(loaded.encode(text), tokenizer.encode(text))
            XCTAssertEqual(fromBytes.pieces(text), tokenizer.pieces(text))
        }
    }

    /// The trainer prints its spec and progress to stderr unless silenced; `quiet` (the default)
    /// must leave stderr empty.
    func testTrainingIsQuietByDefault() throws {
        let lines = try Fixtures.corpusLines()
        let captured = try captureStderr { _ = try Tokenizer.train(sentences: lines, options: Self.smallOptions()) }
        XCTAssertEqual(captured, "", "trainer wrote to stderr")
        let loud = try captureStderr { _ = try Tokenizer.train(sentences: lines, options: Self.smallOptions(), quiet: false) }
        XCTAssertTrue(loud.contains("trainer"), "expected the library's log when not quiet; got \(loud.prefix(200))")
        // The log level is restored after a quiet call (not left globally changed).
        let again = try captureStderr { _ = try Tokenizer.train(sentences: lines, options: Self.smallOptions(), quiet: false) }
        XCTAssertFalse(again.isEmpty)
    }

    private func captureStderr(_ body: () throws -> Void) throws -> String {
        let file = ScratchSpace.root.appendingPathComponent("stderr-\(getpid())-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        fflush(stderr)
        let saved = dup(2)
        let fd = open(file.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(saved >= 0 && fd >= 0)
        dup2(fd, 2)
        close(fd)
        defer { fflush(stderr); dup2(saved, 2); close(saved) }
        try body()
        fflush(stderr)
        return try String(contentsOf: file, encoding: .utf8)
    }
}
