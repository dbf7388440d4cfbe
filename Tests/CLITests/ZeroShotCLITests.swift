import Support
import Foundation
import XCTest

/// `idgenrec train` on several domains and `idgenrec zeroshot` end to end on the bundled corpus.
final class ZeroShotCLITests: XCTestCase {
    static let synthetic = CLI.packageRoot.appendingPathComponent("corpora/synthetic")

    static func temporary(_ name: String) -> URL {
        ScratchSpace.root.appendingPathComponent("zeroshot-cli-\(name)-\(UUID().uuidString)")
    }

    /// A folder of two source domains: the first 150 users of kitchen and pets, whole catalogs.
    static func sources() throws -> URL {
        let root = temporary("sources")
        for name in ["kitchen", "pets"] {
            let folder = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let src = synthetic.appendingPathComponent(name)
            try FileManager.default.copyItem(at: src.appendingPathComponent("item_plain_text.txt"), to: folder.appendingPathComponent("item_plain_text.txt"))
            let lines = try String(contentsOf: src.appendingPathComponent("user_sequence.txt"), encoding: .utf8).split(separator: "\n").prefix(150)
            try (lines.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("user_sequence.txt"), atomically: true, encoding: .utf8)
        }
        try "not a domain".write(to: root.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        return root
    }

    /// One tiny run shared by the tests (trained once).
    static let run: Result<URL, Error> = Result {
        let out = temporary("run")
        let r = try CLI.run(["train", "--data", try sources().path, "--out", out.path, "--preset", "tiny", "--epochs", "1",
                             "--validation-users", "20", "--test-users", "20", "--vocabulary-size", "600", "--beams", "5"])
        guard r.status == 0 else { throw CLIFailure(message: "train failed: \(r.stderr)") }
        guard r.stdout.contains("kitchen+pets"), r.stdout.contains("Per domain") else { throw CLIFailure(message: "no merged report: \(r.stdout)") }
        return out
    }

    struct CLIFailure: Error, CustomStringConvertible { var message: String; var description: String { message } }

    /// A target in the IDGenRec layout with bad input: an item without text (needs --lenient),
    /// an item whose text has no word, and two users too short for a split.
    static func badTarget() throws -> URL {
        let folder = temporary("garden")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let outdoors = try String(contentsOf: synthetic.appendingPathComponent("outdoors/item_plain_text.txt"), encoding: .utf8).split(separator: "\n")
        var items = outdoors.prefix(40).map(String.init)
        items.append("NOTEXT")
        items.append("DASHES title: --- !!")
        let ids = items.map { String($0.split(separator: " ")[0]) }
        var sequences: [String] = []
        for k in 0 ..< 30 { sequences.append("garden_u\(k) " + (0 ..< 5).map { ids[(k * 7 + $0 * 9) % ids.count] }.joined(separator: " ")) }
        sequences.append("short1 \(ids[0]) \(ids[1])")
        try (items.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("item_plain_text.txt"), atomically: true, encoding: .utf8)
        try (sequences.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("user_sequence.txt"), atomically: true, encoding: .utf8)
        return folder
    }

    func testCommaListLoadsMergedDomains() throws {
        let r = try CLI.run(["data", "inspect", Self.synthetic.appendingPathComponent("kitchen").path + "," + Self.synthetic.appendingPathComponent("pets").path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(json["name"] as? String, "kitchen+pets")
        XCTAssertEqual(json["items"] as? Int, 1600)
    }

    func testKeywordZeroShotOnTwoTargetsWritesOneTableAndJSON() throws {
        let run = try Self.run.get()
        let json = Self.temporary("report").appendingPathExtension("json")
        let targets = ["outdoors", "stationery"].map { Self.synthetic.appendingPathComponent($0).path }.joined(separator: ",")
        let r = try CLI.run(["zeroshot", "--run", run.path, "--data", targets, "--generator", "keywords", "--users", "25", "--json", json.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stdout.contains("| outdoors | 25 |") && r.stdout.contains("| stationery | 25 |"), r.stdout)
        XCTAssert(r.stdout.contains("MostPop"), r.stdout)
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [[String: Any]]
        XCTAssertEqual(results.map { $0["target"] as? String }, ["outdoors", "stationery"])
        for result in results {
            let z = result["zero_shot"] as! [String: Any]
            for key in ["recall@5", "recall@10", "ndcg@5", "ndcg@10", "mrr", "users", "split", "confidence", "ranks_file"] { XCTAssertNotNil(z[key], key) }
            XCTAssertEqual(z["users"] as? Int, 25)
            XCTAssertNotNil((result["mostpop"] as! [String: Any])["recall@10"])
            XCTAssertEqual((result["title_overlap"] as! [String: Any])["identicalTitles"] as? Int, 0)
            XCTAssertEqual((result["coverage"] as! [String: Any])["unknownPieces"] as? Int, 0)
            // The ranks name only target items (the trie holds only the target's IDs).
            let ranks = json.deletingLastPathComponent().appendingPathComponent(z["ranks_file"] as! String)
            let targetItems = try String(contentsOf: Self.synthetic.appendingPathComponent("\(result["target"]!)/item_plain_text.txt"), encoding: .utf8)
                .split(separator: "\n").map { String($0.split(separator: " ")[0]) }
            let rows = try String(contentsOf: ranks, encoding: .utf8).split(separator: "\n").dropFirst()
            XCTAssertEqual(rows.count, 25)
            XCTAssert(rows.allSatisfy { Set(targetItems).contains(String($0.split(separator: "\t")[1])) })
        }
        // `compare FILE.json#TARGET` pairs zero-shot runs user by user; a missing target is named.
        let c = try CLI.run(["compare", json.path + "#outdoors", json.path + "#outdoors"])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssert(c.stdout.contains("recall@10"), c.stdout)
        let missing = try CLI.run(["compare", json.path + "#garden", json.path + "#outdoors"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssert(missing.stderr.contains("garden") && missing.stderr.contains("outdoors, stationery"), missing.stderr)
    }

    func testBadTargetIsHandledAndReported() throws {
        let run = try Self.run.get()
        let target = try Self.badTarget()
        // Strict import names the bad line.
        let strict = try CLI.run(["zeroshot", "--run", run.path, "--data", target.path, "--generator", "keywords"])
        XCTAssertNotEqual(strict.status, 0)
        XCTAssert(strict.stderr.contains("NOTEXT"), strict.stderr)
        let json = Self.temporary("bad").appendingPathExtension("json")
        let r = try CLI.run(["zeroshot", "--run", run.path, "--data", target.path, "--generator", "keywords", "--lenient", "--json", json.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let result = (try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [[String: Any]])[0]
        let input = result["input"] as! [String: Any]
        XCTAssertEqual(input["usersTooShort"] as? Int, 1)
        XCTAssertEqual(input["itemsWithEmptyText"] as? Int, 1)
        XCTAssertEqual(input["idsNamedFromKey"] as? Int, 1)
        XCTAssertEqual((input["importSkipped"] as? [String: Int])?["item without text"], 1)
        XCTAssert(r.stdout.contains("fewer than 3 items"), r.stdout)
    }

    func testGeneratorWithAnotherVocabularyIsAClearError() throws {
        let run = try Self.run.get()
        let target = try Self.badTarget()
        // No generator/ in a `train` run: say what to pass.
        let none = try CLI.run(["zeroshot", "--run", run.path, "--data", target.path, "--lenient"])
        XCTAssertNotEqual(none.status, 0)
        XCTAssert(none.stderr.contains("--generator keywords"), none.stderr)
        // A bootstrapped generator has its own spiece.model: refused.
        let ids = Self.temporary("gen").appendingPathExtension("tsv")
        let g = try CLI.run(["ids", "generate", "--data", target.path, "--lenient", "--out", ids.path, "--generator", "bootstrap", "--epochs", "1", "--vocabulary-size", "600"])
        XCTAssertEqual(g.status, 0, g.stderr)
        let r = try CLI.run(["zeroshot", "--run", run.path, "--data", target.path, "--lenient", "--generator", ids.path + ".generator"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("spiece.model") && r.stderr.contains(".generator"), r.stderr)
    }

    /// `--generator semantic`: the target's IDs are its own words, picked by the sentence encoder.
    func testSemanticZeroShotNamesTheTargetItemsWithTheEncoder() throws {
        let encoder = CLI.packageRoot.appendingPathComponent("checkpoints/encoders/all-MiniLM-L6-v2")
        guard FileManager.default.fileExists(atPath: encoder.appendingPathComponent("model.safetensors").path) else {
            throw XCTSkip("sentence encoder not installed at \(encoder.path): run `make setup`")
        }
        let run = try Self.run.get()
        let json = Self.temporary("sem").appendingPathExtension("json")
        let r = try CLI.run(["zeroshot", "--run", run.path, "--data", Self.synthetic.appendingPathComponent("outdoors").path, "--generator", "semantic",
                             "--encoder", encoder.path, "--users", "25", "--json", json.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stderr.contains("semantic words"), r.stderr)
        let reports = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [[String: Any]]
        XCTAssertEqual(reports?.count, 1)
    }
}
