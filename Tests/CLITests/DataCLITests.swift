import Support
import Foundation
import XCTest

/// `idgenrec data …`, `evaluate-baseline`, `compare` end to end on the bundled corpus.
final class DataCLITests: XCTestCase {
    let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path

    func temporaryFolder() throws -> URL {
        let url = ScratchSpace.root.appendingPathComponent("data-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func testInspectJSON() throws {
        let r = try CLI.run(["data", "inspect", kitchen, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(json["format"] as? String, "idgenrec")
        XCTAssertEqual(json["users"] as? Int, 1500)
        XCTAssertEqual(json["items"] as? Int, 800)
        XCTAssertNotNil(json["interactions"] as? Int)
        XCTAssertEqual((json["warnings"] as? [String])?.count, 0)
    }

    func testSplitWritesFiles() throws {
        let out = try temporaryFolder()
        let r = try CLI.run(["data", "split", kitchen, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stdout.contains("leak checks passed"), r.stdout)
        for f in ["train.txt", "valid.txt", "test.txt", "item_plain_text.txt", "split.json"] {
            XCTAssert(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), f)
        }
        let test = try String(contentsOf: out.appendingPathComponent("test.txt"), encoding: .utf8)
        XCTAssertEqual(test.split(separator: "\n").count, 1500)
    }

    func testEvaluateBaselineAndCompare() throws {
        let out = try temporaryFolder()
        let a = out.appendingPathComponent("a.json").path
        let r = try CLI.run(["evaluate-baseline", "mostpop", "--data", kitchen, "--json", a])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: a))) as! [String: Any]
        for key in ["recall@5", "recall@10", "ndcg@5", "ndcg@10", "mrr", "users", "split", "data", "config"] { XCTAssertNotNil(json[key], key) }
        XCTAssertEqual(json["users"] as? Int, 1500)
        XCTAssert(FileManager.default.fileExists(atPath: out.appendingPathComponent("a.ranks.tsv").path))
        let b = out.appendingPathComponent("b").path
        let seen = try CLI.run(["evaluate-baseline", "mostpop", "--data", kitchen, "--filter-seen", "--out", b])
        XCTAssertEqual(seen.status, 0, seen.stderr)
        XCTAssert(seen.stdout.contains("filtered out of the ranking"), seen.stdout)
        let cmp = try CLI.run(["compare", a, b, "--resamples", "500"])
        XCTAssertEqual(cmp.status, 0, cmp.stderr)
        XCTAssert(cmp.stdout.contains("| recall@10 |"), cmp.stdout)
        XCTAssert(cmp.stderr.contains("different seen-item conventions"), cmp.stderr)
        let validation = try CLI.run(["evaluate-baseline", "mostpop", "--data", kitchen, "--part", "validation", "--out", out.appendingPathComponent("v").path])
        XCTAssertEqual(validation.status, 0, validation.stderr)
        let mismatch = try CLI.run(["compare", a, out.appendingPathComponent("v").path])
        XCTAssertNotEqual(mismatch.status, 0)
        XCTAssert(mismatch.stderr.contains("different splits"), mismatch.stderr)
    }

    func testSynthIsDeterministic() throws {
        let out = try temporaryFolder()
        let r = try CLI.run(["data", "synth", "--out", out.path, "--seed", "7"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for domain in ["kitchen", "outdoors", "pets", "stationery"] {
            for f in ["user_sequence.txt", "item_plain_text.txt"] {
                let made = try Data(contentsOf: out.appendingPathComponent("\(domain)/\(f)"))
                let bundled = try Data(contentsOf: CLI.packageRoot.appendingPathComponent("corpora/synthetic/\(domain)/\(f)"))
                XCTAssertEqual(made, bundled, "\(domain)/\(f) differs from the bundled corpus")
            }
        }
    }

    func testBadInputNamesFileAndLine() throws {
        let folder = try temporaryFolder()
        try "a title: A\nb title: B\n".write(to: folder.appendingPathComponent("item_plain_text.txt"), atomically: true, encoding: .utf8)
        try "u1 a b\nu2 a zz\n".write(to: folder.appendingPathComponent("user_sequence.txt"), atomically: true, encoding: .utf8)
        let r = try CLI.run(["data", "inspect", folder.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("user_sequence.txt:2:") && r.stderr.contains("\"zz\""), r.stderr)
        let lenient = try CLI.run(["data", "inspect", folder.path, "--lenient", "--json"])
        XCTAssertEqual(lenient.status, 0, lenient.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(lenient.stdout.utf8)) as! [String: Any]
        XCTAssertEqual((json["skipped"] as? [String: Int])?["unknown item"], 1)
    }
}
