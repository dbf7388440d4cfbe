import Foundation
import Support
import XCTest

/// `idgenrec cotrain` end to end on a small slice of the bundled corpus: the run folder, the
/// per-round report, `--bootstrap-from` (the ablation arms share one bootstrap) and the refusal
/// to resume with other settings.
final class CotrainCLITests: XCTestCase {
    static let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path

    /// A tiny schedule: 60 users, 2 rounds recommender-first (R, G, R), 1 epoch per round.
    static func arguments(out: URL, _ extra: [String] = []) -> [String] {
        ["cotrain", "--data", kitchen, "--sample-users", "60", "--out", out.path, "--preset", "tiny", "--order", "recommender-first",
         "--rounds", "2", "--recommender-epochs", "1", "--generator-steps", "3", "--generator-epochs", "2", "--batch-size", "16",
         "--validation-users", "20", "--round-users", "20", "--test-users", "20", "--beams", "4", "--vocabulary-size", "1000",
         "--seed", "3"] + extra
    }

    func testRunBootstrapFromAndResumeRefusesChangedSettings() throws {
        let base = ScratchSpace.path("cotrain-cli")
        let a = base.appendingPathComponent("cotrained"), b = base.appendingPathComponent("fixed")
        let r = try CLI.run(Self.arguments(out: a))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stdout.contains("| round | generator loss | ID churn"), r.stdout)
        XCTAssert(r.stdout.contains("recall@10"), r.stdout)
        for f in ["cotrain.json", "cotrain.md", "cotrain.svg", "cotrain-config.json", "run.json", "ids.tsv", "spiece.model", "metrics.json",
                  "ranks.tsv", "bootstrap/ids.tsv", "bootstrap/generator", "state/state.json", "generator"] {
            XCTAssert(FileManager.default.fileExists(atPath: a.appendingPathComponent(f).path), "missing \(f)")
        }
        let bootstrapIDs = try String(contentsOf: a.appendingPathComponent("bootstrap/ids.tsv"), encoding: .utf8)

        // The fixed-IDs arm from the same bootstrap: its IDs are the bootstrap's, untouched.
        let f = try CLI.run(Self.arguments(out: b, ["--fixed-ids", "--bootstrap-from", a.path]))
        XCTAssertEqual(f.status, 0, f.stderr)
        XCTAssert(f.stderr.contains("bootstrap: generator and"), f.stderr)
        XCTAssertFalse(f.stderr.contains("generator bootstrap epoch"), "bootstrapped again: \(f.stderr.suffix(400))")
        XCTAssertEqual(try String(contentsOf: b.appendingPathComponent("ids.tsv"), encoding: .utf8), bootstrapIDs)
        XCTAssertEqual(try String(contentsOf: b.appendingPathComponent("bootstrap/ids.tsv"), encoding: .utf8), bootstrapIDs)

        // Resuming with another setting is refused, naming it; the same settings resume (nothing left to do).
        let changed = try CLI.run(Self.arguments(out: a, ["--resume", "--regularizer", "2"]))
        XCTAssertNotEqual(changed.status, 0)
        XCTAssert(changed.stderr.contains("regularizerWeight"), changed.stderr)
        let same = try CLI.run(Self.arguments(out: a, ["--resume"]))
        XCTAssertEqual(same.status, 0, same.stderr)

        // The finished run evaluates like any run (its final recommender is in best/; a co-training
        // run keeps no last/, and asking for it says so).
        let json = base.appendingPathComponent("eval.json")
        let e = try CLI.run(["evaluate", "--run", a.path, "--data", Self.kitchen, "--sample-users", "60", "--users", "20", "--json", json.path])
        XCTAssertEqual(e.status, 0, e.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [String: Any]
        XCTAssertEqual((report["config"] as? [String: String])?["checkpoint"], "best")
        XCTAssertEqual(report["users"] as? Int, 20)
        let noLast = try CLI.run(["evaluate", "--run", a.path, "--data", Self.kitchen, "--sample-users", "60", "--checkpoint", "last"])
        XCTAssertNotEqual(noLast.status, 0)
        XCTAssert(noLast.stderr.contains("last/"), noLast.stderr)
        let badCheckpoint = try CLI.run(["evaluate", "--run", a.path, "--data", Self.kitchen, "--checkpoint", "middle"])
        XCTAssertNotEqual(badCheckpoint.status, 0)
        XCTAssert(badCheckpoint.stderr.contains("--checkpoint"), badCheckpoint.stderr)

        // Bad --bootstrap-from: not a co-training run.
        let bad = try CLI.run(Self.arguments(out: base.appendingPathComponent("bad"), ["--bootstrap-from", base.appendingPathComponent("nothing").path]))
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.stderr.contains("bootstrap/ids.tsv"), bad.stderr)
    }
}
