import Support
import Foundation
import XCTest

final class IDsCLITests: XCTestCase {
    func testKeywordIDsForTheBundledCorpusAreUniqueAndComplete() throws {
        let out = ScratchSpace.root.appendingPathComponent("ids-\(UUID().uuidString).tsv")
        let data = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
        let r = try CLI.run(["ids", "generate", "--data", data, "--out", out.path, "--generator", "keywords", "--user-ids", out.path + ".users"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
        let items = try String(contentsOf: URL(fileURLWithPath: data).appendingPathComponent("item_plain_text.txt"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, items.count)
        XCTAssertEqual(Set(lines.map { $0.split(separator: "\t")[1] }).count, lines.count)
        XCTAssert(FileManager.default.fileExists(atPath: out.path + ".json"))
        XCTAssert(r.stdout.contains("items/s"), r.stdout)
    }

    func testBadGeneratorIsAClearError() throws {
        let data = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
        let r = try CLI.run(["ids", "generate", "--data", data, "--out", "\(ScratchSpace.root.path)/x.tsv", "--generator", "nonsense"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("--generator"), r.stderr)
    }

    /// The default generator is 'semantic': the encoder picks each item's words; every ID is unique,
    /// made of the item's own words, and the embeddings cache is written and then reused.
    func testDefaultSemanticIDsUseTheEncoderAndReuseTheirCache() throws {
        let encoder = CLI.packageRoot.appendingPathComponent("checkpoints/encoders/all-MiniLM-L6-v2")
        guard FileManager.default.fileExists(atPath: encoder.appendingPathComponent("model.safetensors").path) else {
            throw XCTSkip("sentence encoder not installed at \(encoder.path): run `make setup`")
        }
        let out = ScratchSpace.root.appendingPathComponent("sem-\(UUID().uuidString).tsv")
        let data = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
        let r = try CLI.run(["ids", "generate", "--data", data, "--out", out.path, "--encoder", encoder.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(FileManager.default.fileExists(atPath: out.path + ".embeddings.safetensors"))
        let rows = try String(contentsOf: out, encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        let texts = try String(contentsOf: URL(fileURLWithPath: data).appendingPathComponent("item_plain_text.txt"), encoding: .utf8)
            .split(separator: "\n").map { String($0).lowercased() }
        XCTAssertEqual(rows.count, texts.count)
        XCTAssertEqual(Set(rows.map { $0[1] }).count, rows.count, "IDs are unique")
        for (row, text) in zip(rows, texts) {
            XCTAssertEqual(row.count, 2)
            for word in row[1].split(separator: " ") { XCTAssert(text.contains(word), "\(row[1]) has '\(word)', not in: \(text)") }
        }
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out.path + ".json"))) as? [String: Any]
        XCTAssertEqual(meta?["generator"] as? String, "semantic")
        let again = try CLI.run(["ids", "generate", "--data", data, "--out", out.path, "--encoder", encoder.path])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssert(again.stderr.contains("reused"), again.stderr)
        XCTAssertEqual(try String(contentsOf: out, encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }, rows,
                       "same inputs, same table")
    }

    func testBootstrapOptionsWithAnotherGeneratorAreAClearError() throws {
        let data = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
        let r = try CLI.run(["ids", "generate", "--data", data, "--out", "\(ScratchSpace.root.path)/y.tsv", "--epochs", "5", "--preset", "tiny"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("--preset, --epochs only apply to --generator bootstrap"), r.stderr)
    }

    func testSemanticWithoutAnEncoderSaysWhatToDo() throws {
        let data = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
        let r = try CLI.run(["ids", "generate", "--data", data, "--out", "\(ScratchSpace.root.path)/z.tsv", "--encoder", "\(ScratchSpace.root.path)/no-such-encoder"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("no-such-encoder") && r.stderr.contains("make setup") && r.stderr.contains("--generator keywords"), r.stderr)
    }
}
