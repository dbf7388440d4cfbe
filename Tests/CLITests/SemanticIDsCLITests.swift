import Foundation
import Support
import XCTest

/// `ids generate --scheme semantic` end to end on the bundled corpus with the committed tiny-bert
/// encoder (random weights: the codes mean nothing, the structure is what is checked).
final class SemanticIDsCLITests: XCTestCase {
    static let tinyBert = CLI.packageRoot.appendingPathComponent("Tests/TextEncoderTests/Fixtures/tiny-bert").path
    static let pets = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path

    static func rows(_ path: String) throws -> [[String]] {
        try String(contentsOf: URL(fileURLWithPath: path), encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
    }

    /// Every item gets a unique 4-level code ID; the metadata has the layout and the report; the
    /// quantiser is saved; `--existing` keeps every old ID and codes new items with it.
    func testSemanticCodesForTheBundledCorpusAndExtendingThem() throws {
        let dir = ScratchSpace.root.appendingPathComponent("semq-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let out = dir.appendingPathComponent("codes.tsv").path
        let r = try CLI.run(["ids", "generate", "--scheme", "semantic", "--data", Self.pets, "--out", out, "--encoder", Self.tinyBert,
                             "--codebook-size", "16", "--seed", "3", "--quantiser", "rkmeans"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try Self.rows(out)
        XCTAssertEqual(rows.count, 800)
        XCTAssertEqual(Set(rows.map { $0[1] }).count, 800, "IDs are unique")
        let pattern = try NSRegularExpression(pattern: "^<a_([0-9]+)><b_([0-9]+)><c_([0-9]+)><d_([0-9]+)>$")
        for row in rows {
            let id = row[1]
            guard let m = pattern.firstMatch(in: id, range: NSRange(id.startIndex..., in: id)) else { XCTFail("not a code ID: \(id)"); continue }
            for level in 1 ... 3 { XCTAssertLessThan(Int((id as NSString).substring(with: m.range(at: level)))!, 16, id) }
        }
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + ".json"))) as! [String: Any]
        XCTAssertEqual(meta["generator"] as? String, "semantic-codes")
        XCTAssertEqual((meta["codes"] as? [String: Any])?["codebookSize"] as? Int, 16)
        XCTAssertEqual((meta["quantiser"] as? [String: Any])?["kind"] as? String, "rkmeans")
        let report = meta["codeReport"] as? [String: Any]
        XCTAssertEqual((report?["levels"] as? [Any])?.count, 3)
        XCTAssertNotNil(report?["pairsSharingFirstCode"])
        XCTAssert(FileManager.default.fileExists(atPath: out + ".quantiser.safetensors"))
        XCTAssert(r.stdout.contains("perplexity") && r.stdout.contains("collision"), r.stdout)

        // Same seed, same table.
        let again = dir.appendingPathComponent("again.tsv").path
        XCTAssertEqual(try CLI.run(["ids", "generate", "--scheme", "semantic", "--data", Self.pets, "--out", again, "--encoder", Self.tinyBert,
                                    "--codebook-size", "16", "--seed", "3", "--quantiser", "rkmeans", "--embeddings", out + ".embeddings.safetensors"]).status, 0)
        XCTAssertEqual(try Self.rows(again), rows)

        // An old table of the first 700 items (its quantiser beside it): those keep their IDs.
        let old = dir.appendingPathComponent("old.tsv").path
        try rows.prefix(700).map { $0.joined(separator: "\t") + "\n" }.joined().write(toFile: old, atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: out + ".quantiser.safetensors", toPath: old + ".quantiser.safetensors")
        let extended = dir.appendingPathComponent("extended.tsv").path
        let e = try CLI.run(["ids", "generate", "--scheme", "semantic", "--data", Self.pets, "--out", extended, "--encoder", Self.tinyBert,
                             "--existing", old, "--embeddings", out + ".embeddings.safetensors"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let newRows = try Self.rows(extended)
        XCTAssertEqual(newRows.count, 800)
        XCTAssertEqual(Array(newRows.prefix(700)), Array(rows.prefix(700)), "existing items keep their IDs")
        XCTAssertEqual(Set(newRows.map { $0[1] }).count, 800)
        XCTAssert(FileManager.default.fileExists(atPath: extended + ".quantiser.safetensors"))
        // Training options with --existing are refused (the saved quantiser is reused as it is).
        let refused = try CLI.run(["ids", "generate", "--scheme", "semantic", "--data", Self.pets, "--out", extended, "--encoder", Self.tinyBert,
                                   "--existing", old, "--levels", "2", "--embeddings", out + ".embeddings.safetensors"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssert(refused.stderr.contains("--levels") && refused.stderr.contains("reused"), refused.stderr)
    }

    func testRQVAEAndFusionRun() throws {
        let out = ScratchSpace.root.appendingPathComponent("rq-\(UUID().uuidString).tsv").path
        let r = try CLI.run(["ids", "generate", "--scheme", "semantic", "--data", Self.pets, "--out", out, "--encoder", Self.tinyBert,
                             "--quantiser", "rqvae", "--codebook-size", "8", "--cooccurrence", "on", "--fusion-epochs", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try Self.rows(out).count, 800)
        XCTAssert(r.stderr.contains("RQ-VAE epoch") && r.stderr.contains("co-occurrence fusion epoch"), r.stderr)
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + ".json"))) as! [String: Any]
        XCTAssertEqual((meta["quantiser"] as? [String: Any])?["kind"] as? String, "rqvae")
        XCTAssertEqual((meta["cooccurrence"] as? [String: Any])?["epochs"] as? Int, 1)
    }

    /// A catalog smaller than the codebook: the codebook size is clamped to the item count, with a note.
    func testTinyCatalogClampsTheCodebook() throws {
        let dir = ScratchSpace.root.appendingPathComponent("tiny-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let titles = ["Red Shampoo", "Blue Conditioner", "Green Soap", "Yellow Brush", "Black Comb"]
        try titles.enumerated().map { "i\($0) title: \($1)\n" }.joined()
            .write(to: dir.appendingPathComponent("item_plain_text.txt"), atomically: true, encoding: .utf8)
        try "u1 i0 i1 i2 i3\nu2 i1 i2 i3 i4\nu3 i4 i0 i2\n".write(to: dir.appendingPathComponent("user_sequence.txt"), atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("codes.tsv").path
        let r = try CLI.run(["ids", "generate", "--scheme", "semantic", "--data", dir.path, "--out", out, "--encoder", Self.tinyBert])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stderr.contains("codebook size clamped to 5"), r.stderr)
        XCTAssertEqual(try Self.rows(out).count, 5)
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + ".json"))) as! [String: Any]
        XCTAssertEqual((meta["quantiser"] as? [String: Any])?["kind"] as? String, "rqvae", "the default quantiser")
        XCTAssertNotNil(meta["cooccurrence"], "fusion is on by default")
    }

    func testOptionsOfTheOtherSchemeAreRefused() throws {
        let out = "\(ScratchSpace.root.path)/refused.tsv"
        let a = try CLI.run(["ids", "generate", "--scheme", "semantic", "--data", Self.pets, "--out", out, "--words", "3", "--generator", "keywords"])
        XCTAssertNotEqual(a.status, 0)
        XCTAssert(a.stderr.contains("--generator, --words only apply to --scheme textual"), a.stderr)
        let b = try CLI.run(["ids", "generate", "--data", Self.pets, "--out", out, "--quantiser", "rqvae"])
        XCTAssertNotEqual(b.status, 0)
        XCTAssert(b.stderr.contains("--quantiser only apply to --scheme semantic"), b.stderr)
        let c = try CLI.run(["ids", "generate", "--scheme", "semantic", "--data", Self.pets, "--out", out, "--quantiser", "pq", "--encoder", Self.tinyBert])
        XCTAssertNotEqual(c.status, 0)
        XCTAssert(c.stderr.contains("--quantiser: expected 'rkmeans' or 'rqvae'"), c.stderr)
        let d = try CLI.run(["ids", "generate", "--scheme", "codes", "--data", Self.pets, "--out", out])
        XCTAssertNotEqual(d.status, 0)
        XCTAssert(d.stderr.contains("--scheme"), d.stderr)
    }
}
