import Support
import Foundation
import Tokenizer
import XCTest

final class ErrorTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = ScratchSpace.root.appendingPathComponent("tokenizer-errors-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: folder)
    }

    func testMissingModelFileNamesTheFile() {
        let url = folder.appendingPathComponent("nope/spiece.model")
        XCTAssertThrowsError(try Tokenizer(contentsOf: url)) { error in
            XCTAssertEqual(error as? TokenizerError, .modelFileNotFound(path: url.path))
            XCTAssertTrue("\(error)".contains(url.path), "\(error)")
        }
        // A folder is not a model file.
        XCTAssertThrowsError(try Tokenizer(contentsOf: folder)) { error in
            XCTAssertEqual(error as? TokenizerError, .modelFileNotFound(path: folder.path))
        }
    }

    func testCorruptModelFilesNameTheFile() throws {
        let real = try Data(contentsOf: Fixtures.folder.appendingPathComponent("unigram.model"))
        let corrupt: [(String, Data)] = [
            ("empty.model", Data()),
            ("text.model", Data("this is not a sentencepiece model\n".utf8)),
            ("truncated.model", real.prefix(real.count / 2)),
            ("random.model", Data((0 ..< 4096).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) })),
        ]
        for (name, data) in corrupt {
            let url = folder.appendingPathComponent(name)
            try data.write(to: url)
            XCTAssertThrowsError(try Tokenizer(contentsOf: url), name) { error in
                guard case let .cannotLoadModel(path, message)? = error as? TokenizerError else {
                    return XCTFail("\(name): unexpected error \(error)")
                }
                XCTAssertEqual(path, url.path)
                XCTAssertFalse(message.isEmpty)
                XCTAssertTrue("\(error)".contains(url.path), "\(error)")
            }
        }
        XCTAssertThrowsError(try Tokenizer(modelData: Data([1, 2, 3]), source: "checkpoint/tokenizer")) { error in
            XCTAssertTrue("\(error)".contains("checkpoint/tokenizer"), "\(error)")
        }
    }

    func testDecodeRejectsIdsOutsideTheVocabulary() throws {
        let tokenizer = try Tokenizer(contentsOf: Fixtures.folder.appendingPathComponent("unigram.model"))
        let size = Int32(tokenizer.vocabularySize)
        XCTAssertThrowsError(try tokenizer.decode([5, size])) { error in
            XCTAssertEqual(error as? TokenizerError, .idOutOfRange(id: size, position: 1, vocabularySize: Int(size)))
        }
        XCTAssertThrowsError(try tokenizer.decode([-1]))
        XCTAssertNil(tokenizer.piece(forID: size))
        XCTAssertNil(tokenizer.piece(forID: -1))
        XCTAssertNil(tokenizer.kind(ofID: size))
        XCTAssertNil(tokenizer.id(forPiece: "▁definitely-not-a-piece"))
        XCTAssertEqual(tokenizer.id(forPiece: "<unk>"), tokenizer.unkID)
    }

    func testTrainingErrors() throws {
        let lines = try Fixtures.corpusLines()
        let missing = folder.appendingPathComponent("missing.txt")
        XCTAssertThrowsError(try Tokenizer.train(files: [Fixtures.corpus, missing])) { error in
            XCTAssertEqual(error as? TokenizerError, .trainingInputNotFound(path: missing.path))
        }
        var options = TrainingOptions()
        options.userDefinedSymbols = ["a,b"]
        XCTAssertThrowsError(try Tokenizer.train(sentences: lines, options: options)) { error in
            guard case let .invalidTrainingOption(key, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "userDefinedSymbols")
        }
        options = TrainingOptions()
        options.eosID = 0
        XCTAssertThrowsError(try Tokenizer.train(sentences: lines, options: options))
        // The library's own error comes through: the corpus cannot fill 8000 pieces.
        options = TrainingOptions()
        XCTAssertThrowsError(try Tokenizer.train(sentences: lines, options: options)) { error in
            guard case let .trainingFailed(message)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("Vocabulary size"), message)
        }
        XCTAssertThrowsError(try Tokenizer.train(sentences: []))
    }
}
