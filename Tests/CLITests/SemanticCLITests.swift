import Foundation
import Support
import XCTest

/// `train` / `evaluate` / `recommend` on a table of semantic codes (issue 19), and the clear
/// refusals around it (user IDs, cotrain, zero-shot without a quantiser, a table whose .json says
/// codes but whose line is not one).
final class SemanticCLITests: XCTestCase {
    static let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path

    /// A semantic table for the kitchen catalog, made by hand from a keyword table's rows (so its
    /// items are the catalog's, in order): item i gets codes (i mod 16, i/16 mod 16, i/256, 0) of
    /// TIGER's default layout; its .json is the keyword table's with `codes` set.
    static func handMadeTable(in base: URL) throws -> URL {
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        let keywords = base.appendingPathComponent("kw.tsv")
        let r = try CLI.run(["ids", "generate", "--data", kitchen, "--out", keywords.path, "--generator", "keywords"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let items = try String(contentsOf: keywords, encoding: .utf8).split(separator: "\n").map { String($0.split(separator: "\t")[0]) }
        let table = base.appendingPathComponent("sem.tsv")
        let rows = items.enumerated().map { i, item in "\(item)\t<a_\(i % 16)><b_\((i / 16) % 16)><c_\(i / 256)><d_0>\n" }
        try rows.joined().write(to: table, atomically: true, encoding: .utf8)
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: keywords.path + ".json"))) as! [String: Any]
        json["codes"] = ["levels": 3, "codebookSize": 256, "disambiguationSize": 256]
        json["generator"] = "hand-made codes"
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: table.path + ".json"))
        return table
    }

    func testTrainEvaluateRecommendOnSemanticCodes() throws {
        let base = ScratchSpace.root.appendingPathComponent("semantic-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let table = try Self.handMadeTable(in: base)
        let run = base.appendingPathComponent("run")
        let common = ["--data", Self.kitchen, "--sample-users", "40"]
        let trainArgs = ["train"] + common + ["--ids", table.path, "--preset", "tiny", "--epochs", "1", "--batch-size", "16",
                                              "--validation-users", "10", "--test-users", "10", "--beams", "4"]
        let t = try CLI.run(trainArgs + ["--out", run.path])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssert(t.stdout.contains("recall@10") || t.stdout.contains("R@10"), t.stdout)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("run.json"))) as! [String: Any]
        let config = manifest["config"] as! [String: Any]
        XCTAssertEqual(config["scheme"] as? String, "semantic")
        let codes = config["codes"] as? [String: Any]
        XCTAssertEqual(codes?["levels"] as? Int, 3)
        XCTAssertEqual(codes?["codebookSize"] as? Int, 256)
        XCTAssert(FileManager.default.fileExists(atPath: run.appendingPathComponent("ids.tsv.json").path), "the table's metadata travels with the run")
        XCTAssert(t.stderr.contains("no quantiser"), "a table without its quantiser is noted: \(t.stderr)")

        let e = try CLI.run(["evaluate", "--run", run.path] + common + ["--users", "10"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let history = try String(contentsOf: table, encoding: .utf8).split(separator: "\n").prefix(3).map { String($0.split(separator: "\t")[0]) }
        let rec = try CLI.run(["recommend", "--run", run.path] + common + ["--history", history.joined(separator: ","), "-k", "3"])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let lines = rec.stdout.split(separator: "\n").dropFirst()
        XCTAssertEqual(lines.count, 3, rec.stdout)
        XCTAssert(lines.allSatisfy { $0.contains("<a_") && $0.contains("<d_") }, rec.stdout)

        // Resume to a second epoch.
        let resumed = try CLI.run(["train"] + common + ["--ids", table.path, "--preset", "tiny", "--epochs", "2", "--batch-size", "16",
                                                        "--validation-users", "10", "--test-users", "10", "--beams", "4", "--out", run.path, "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssert(resumed.stderr.contains("resuming after epoch 1"), resumed.stderr)

        // Zero-shot codes the target with the run's quantiser, which this run lacks.
        let pets = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
        let z = try CLI.run(["zeroshot", "--run", run.path, "--data", pets, "--users", "10", "--no-source-data"])
        XCTAssertNotEqual(z.status, 0)
        XCTAssert(z.stderr.contains("quantiser"), z.stderr)
    }

    func testRefusals() throws {
        let base = ScratchSpace.root.appendingPathComponent("semantic-refusals-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let table = try Self.handMadeTable(in: base)
        let common = ["--data", Self.kitchen, "--sample-users", "40", "--preset", "tiny", "--epochs", "1"]

        let users = try CLI.run(["train"] + common + ["--ids", table.path, "--user-ids", "--out", base.appendingPathComponent("u").path])
        XCTAssertNotEqual(users.status, 0)
        XCTAssert(users.stderr.contains("--user-ids"), users.stderr)

        let cotrain = try CLI.run(["cotrain", "--data", Self.kitchen, "--ids", table.path, "--out", base.appendingPathComponent("c").path])
        XCTAssertNotEqual(cotrain.status, 0)
        XCTAssert(cotrain.stderr.contains("cannot write codes"), cotrain.stderr)

        // The .json says codes; line 3 is words.
        var lines = try String(contentsOf: table, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[2] = String(lines[2].split(separator: "\t")[0]) + "\tsome words"
        let bad = base.appendingPathComponent("bad.tsv")
        try (lines.joined(separator: "\n") + "\n").write(to: bad, atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: table.path + ".json", toPath: bad.path + ".json")
        let b = try CLI.run(["train"] + common + ["--ids", bad.path, "--out", base.appendingPathComponent("b").path])
        XCTAssertNotEqual(b.status, 0)
        XCTAssert(b.stderr.contains("bad.tsv:3"), b.stderr)
    }

    /// The whole pipeline on a generated table: `ids generate --scheme semantic` (on the committed
    /// tiny-bert encoder) → `train` (the quantiser travels into the run) → `zeroshot` on another
    /// domain, whose items the run's quantiser codes.
    func testGeneratedTableTrainsAndGoesZeroShot() throws {
        let base = ScratchSpace.root.appendingPathComponent("semantic-generated-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        let tinyBert = CLI.packageRoot.appendingPathComponent("Tests/TextEncoderTests/Fixtures/tiny-bert").path
        let table = base.appendingPathComponent("codes.tsv")
        let g = try CLI.run(["ids", "generate", "--scheme", "semantic", "--data", Self.kitchen, "--out", table.path, "--encoder", tinyBert])
        XCTAssertEqual(g.status, 0, g.stderr)
        let run = base.appendingPathComponent("run")
        let t = try CLI.run(["train", "--data", Self.kitchen, "--sample-users", "40", "--ids", table.path, "--preset", "tiny", "--epochs", "1",
                             "--batch-size", "16", "--validation-users", "10", "--test-users", "10", "--beams", "4", "--out", run.path])
        XCTAssertEqual(t.status, 0, t.stderr)
        for name in ["ids.tsv", "ids.tsv.json", "ids.tsv.quantiser.safetensors"] {
            XCTAssert(FileManager.default.fileExists(atPath: run.appendingPathComponent(name).path), name)
        }
        XCTAssertEqual(try String(contentsOf: run.appendingPathComponent("ids.tsv"), encoding: .utf8), try String(contentsOf: table, encoding: .utf8))
        let pets = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
        let json = base.appendingPathComponent("zs.json")
        let z = try CLI.run(["zeroshot", "--run", run.path, "--data", pets, "--users", "10", "--encoder", tinyBert, "--no-source-data", "--json", json.path])
        XCTAssertEqual(z.status, 0, z.stderr)
        XCTAssert(z.stdout.contains("semantic codes"), z.stdout)
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [[String: Any]]
        XCTAssertEqual(results.count, 1)
        XCTAssertEqual((results[0]["zero_shot"] as? [String: Any])?["users"] as? Int, 10)
        // Textual IDs mean nothing to it as codes: asking for codes on a textual run is refused.
        let keywordsRun = base.appendingPathComponent("kw")
        let k = try CLI.run(["train", "--data", Self.kitchen, "--sample-users", "40", "--preset", "tiny", "--epochs", "1", "--batch-size", "16",
                             "--validation-users", "10", "--test-users", "10", "--beams", "4", "--out", keywordsRun.path])
        XCTAssertEqual(k.status, 0, k.stderr)
        let refused = try CLI.run(["zeroshot", "--run", keywordsRun.path, "--data", pets, "--generator", "codes", "--no-source-data"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssert(refused.stderr.contains("textual IDs"), refused.stderr)
    }
}
