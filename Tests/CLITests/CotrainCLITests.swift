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

    /// `--bootstrap-targets semantic`: the generator's bootstrap learns the encoder's semantic
    /// ID words (the committed tiny-bert folder stands in for all-MiniLM-L6-v2); the choice is
    /// recorded in the run and in the generator, and a resume with other targets is refused.
    func testSemanticBootstrapTargets() throws {
        let base = ScratchSpace.path("cotrain-cli-semantic")
        let run = base.appendingPathComponent("run")
        let encoder = CLI.packageRoot.appendingPathComponent("Tests/TextEncoderTests/Fixtures/tiny-bert").path
        let schedule = ["--rounds", "1", "--fixed-ids", "--generator-epochs", "1"]
        func args(_ extra: [String], out: URL = run) -> [String] {
            var a = Self.arguments(out: out, extra)
            if let i = a.firstIndex(of: "--rounds") { a.removeSubrange(i ... i + 1) }
            if let i = a.firstIndex(of: "--generator-epochs") { a.removeSubrange(i ... i + 1) }
            return a
        }
        let r = try CLI.run(args(schedule + ["--bootstrap-targets", "semantic", "--encoder", encoder]))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(FileManager.default.fileExists(atPath: run.appendingPathComponent("item-embeddings.safetensors").path))
        for file in ["cotrain-config.json", "bootstrap/generator/generator.json"] {
            let text = try String(contentsOf: run.appendingPathComponent(file), encoding: .utf8)
            XCTAssert(text.contains("\"bootstrapTargets\" : \"semantic\""), "\(file): \(text.prefix(600))")
        }
        let ids = try String(contentsOf: run.appendingPathComponent("ids.tsv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(ids.count, 800)

        let changed = try CLI.run(args(schedule + ["--resume"]))
        XCTAssertNotEqual(changed.status, 0)
        XCTAssert(changed.stderr.contains("bootstrapTargets"), changed.stderr)
        let both = try CLI.run(args(schedule + ["--bootstrap-targets", "semantic", "--bootstrap-from", run.path]))
        XCTAssertNotEqual(both.status, 0)
        XCTAssert(both.stderr.contains("--bootstrap-from"), both.stderr)
        let bad = try CLI.run(args(schedule + ["--bootstrap-targets", "titles"]))
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.stderr.contains("--bootstrap-targets"), bad.stderr)
        let missing = try CLI.run(args(schedule + ["--bootstrap-targets", "semantic", "--encoder", base.appendingPathComponent("no-encoder").path],
                                         out: base.appendingPathComponent("missing")))
        XCTAssertNotEqual(missing.status, 0)
        XCTAssert(missing.stderr.contains("--bootstrap-targets keywords"), missing.stderr)
    }
}
