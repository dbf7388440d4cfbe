import Foundation
import Support
import XCTest

/// `train --item-content add|token` (issue 18 part 3) end to end on the bundled corpus with the
/// committed tiny-bert encoder: the run records the setting and keeps the item embeddings and
/// the projection; evaluate, recommend, --resume and zeroshot follow it; bad input is named.
/// Structure only: no metric is asserted.
final class ItemContentCLITests: XCTestCase {
    static let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
    static let pets = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
    static let encoder = CLI.packageRoot.appendingPathComponent("Tests/TextEncoderTests/Fixtures/tiny-bert").path

    static func train(_ out: URL, _ extra: [String]) throws -> CLI.Result {
        try CLI.run(["train", "--data", kitchen, "--sample-users", "40", "--preset", "tiny", "--epochs", "1", "--batch-size", "16",
                     "--validation-users", "10", "--test-users", "10", "--vocabulary-size", "600", "--beams", "5", "--out", out.path] + extra)
    }

    func testAddAndTokenRunsAreFollowedByEvaluateRecommendResumeAndZeroShot() throws {
        let base = ScratchSpace.root.appendingPathComponent("item-content-cli-\(UUID().uuidString)")
        for mode in ["add", "token"] {
            let run = base.appendingPathComponent(mode)
            let t = try Self.train(run, ["--item-content", mode, "--encoder", Self.encoder])
            XCTAssertEqual(t.status, 0, t.stderr)
            let manifest = try String(contentsOf: run.appendingPathComponent("run.json"), encoding: .utf8)
            XCTAssert(manifest.contains("\"itemContent\""), manifest)
            XCTAssert(manifest.contains("\"mode\" : \"\(mode)\""), manifest)
            for file in ["content_embeddings.safetensors", "best/content_projection.safetensors", "last/content_projection.safetensors"] {
                XCTAssert(FileManager.default.fileExists(atPath: run.appendingPathComponent(file).path), "\(mode): \(file) missing")
            }
            let e = try CLI.run(["evaluate", "--run", run.path, "--data", Self.kitchen, "--sample-users", "40", "--users", "10"])
            XCTAssertEqual(e.status, 0, e.stderr)
            XCTAssert(e.stdout.contains("recall@10"), e.stdout)

            let items = try String(contentsOf: run.appendingPathComponent("ids.tsv"), encoding: .utf8).split(separator: "\n")
                .prefix(3).map { String($0.split(separator: "\t")[0]) }
            let r = try CLI.run(["recommend", "--run", run.path, "--data", Self.kitchen, "--sample-users", "40", "--history", items.joined(separator: ","), "-k", "4"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout.split(separator: "\n").count, 5, r.stdout) // header + 4 items

            // Zero-shot: the target's texts through the run's encoder and projection (cached).
            let z = try CLI.run(["zeroshot", "--run", run.path, "--data", Self.pets, "--users", "10", "--generator", "keywords", "--encoder", Self.encoder,
                                 "--no-source-data"])
            XCTAssertEqual(z.status, 0, z.stderr)
            XCTAssert(FileManager.default.fileExists(atPath: run.appendingPathComponent("zeroshot-content/pets.safetensors").path))
        }

        // serve and bench rank do not add content yet: refused by name (before any port is bound).
        let token = base.appendingPathComponent("token")
        let serve = try CLI.run(["serve", "--run", token.path, "--data", Self.kitchen, "--sample-users", "40", "--port", "0"])
        XCTAssertNotEqual(serve.status, 0)
        XCTAssert(serve.stderr.contains("--item-content token"), serve.stderr)
        let bench = try CLI.run(["bench", "rank", "--run", token.path, "--data", Self.kitchen, "--sample-users", "40", "--users", "5",
                                 "--dump", base.appendingPathComponent("dump").path])
        XCTAssertNotEqual(bench.status, 0)
        XCTAssert(bench.stderr.contains("--item-content token"), bench.stderr)

        // --resume continues with the run's content (no encoder needed).
        let add = base.appendingPathComponent("add")
        let resumed = try Self.train(add, ["--resume", "--epochs", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssert(resumed.stderr.contains("resuming after epoch 1"), resumed.stderr)
        let log = try String(contentsOf: add.appendingPathComponent("log.json"), encoding: .utf8)
        XCTAssert(log.contains("\"epoch\" : 2"), log)

        // Embeddings of another catalog are refused, naming the missing item.
        let petsEmbeddings = base.appendingPathComponent("pets.safetensors")
        let embed = try CLI.run(["embed", "--data", Self.pets, "--encoder", Self.encoder, "--out", petsEmbeddings.path])
        XCTAssertEqual(embed.status, 0, embed.stderr)
        let wrong = try Self.train(base.appendingPathComponent("wrong"), ["--item-content", "add", "--item-embeddings", petsEmbeddings.path])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssert(wrong.stderr.contains("no embedding for item"), wrong.stderr)
        // No encoder: the message names the ways out.
        let missing = try Self.train(base.appendingPathComponent("missing"), ["--item-content", "token", "--encoder", base.appendingPathComponent("none").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssert(missing.stderr.contains("--item-embeddings"), missing.stderr)
        let bad = try Self.train(base.appendingPathComponent("bad"), ["--item-content", "prefix"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.stderr.contains("--item-content"), bad.stderr)
        let itemToken = try Self.train(base.appendingPathComponent("it"), ["--item-content", "add", "--scheme", "item-token"])
        XCTAssertNotEqual(itemToken.status, 0)
        XCTAssert(itemToken.stderr.contains("--item-content"), itemToken.stderr)
    }

    /// `cotrain --item-content token`: the bridge adds the content term at the markers, the
    /// recommender phases train the projection, and the final run is a normal content run.
    func testCotrainWithItemContent() throws {
        let run = ScratchSpace.path("item-content-cotrain")
        var arguments = CotrainCLITests.arguments(out: run, ["--item-content", "token", "--encoder", Self.encoder])
        for (flag, value) in [("--rounds", "1"), ("--generator-epochs", "1"), ("--order", "generator-first")] {
            arguments[arguments.firstIndex(of: flag)! + 1] = value // one round: the bridge, then the recommender
        }
        let c = try CLI.run(arguments)
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssert(c.stdout.contains("| round | generator loss | ID churn"), c.stdout)
        let manifest = try String(contentsOf: run.appendingPathComponent("run.json"), encoding: .utf8)
        XCTAssert(manifest.contains("\"mode\" : \"token\""), manifest)
        for file in ["content_embeddings.safetensors", "best/content_projection.safetensors", "state/recommender/content_projection.safetensors"] {
            XCTAssert(FileManager.default.fileExists(atPath: run.appendingPathComponent(file).path), "\(file) missing")
        }
        let e = try CLI.run(["evaluate", "--run", run.path, "--data", CotrainCLITests.kitchen, "--sample-users", "60", "--users", "10"])
        XCTAssertEqual(e.status, 0, e.stderr)
    }
}
