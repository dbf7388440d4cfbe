import Foundation
import Support
import XCTest

/// `idgenrec train --scheme item-token`: the run records its scheme, and `evaluate`,
/// `recommend`, `bench rank` and `zeroshot` follow it without the flag (zero-shot refuses learned
/// rows); bad options are named.
final class ItemTokenCLITests: XCTestCase {
    func testItemTokenRunIsFollowedByEvaluateRecommendBenchAndZeroShot() throws {
        let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let base = ScratchSpace.root.appendingPathComponent("item-token-cli-\(UUID().uuidString)")
        let run = base.appendingPathComponent("run")
        let t = try CLI.run(["train", "--data", kitchen, "--sample-users", "40", "--preset", "tiny", "--epochs", "1", "--batch-size", "16",
                             "--validation-users", "10", "--test-users", "10", "--scheme", "item-token", "--loss", "warp",
                             "--negatives", "20", "--out", run.path])
        XCTAssertEqual(t.status, 0, t.stderr)
        let manifest = try String(contentsOf: run.appendingPathComponent("run.json"), encoding: .utf8)
        XCTAssert(manifest.contains("\"scheme\" : \"item-token\"") || manifest.contains("\"scheme\":\"item-token\""), manifest)
        XCTAssert(FileManager.default.fileExists(atPath: run.appendingPathComponent("best/item_head.safetensors").path))

        let e = try CLI.run(["evaluate", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--users", "10"])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssert(e.stdout.contains("idgenrec-t5-item-token"), e.stdout)

        let items = try String(contentsOf: run.appendingPathComponent("ids.tsv"), encoding: .utf8).split(separator: "\n")
            .prefix(2).map { String($0.split(separator: "\t")[0]) }
        let r = try CLI.run(["recommend", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--history", items.joined(separator: ","), "-k", "5"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").count, 6, r.stdout) // header + 5 items

        let b = try CLI.run(["bench", "rank", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--users", "10",
                             "--dump", base.appendingPathComponent("dump").path])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssert(b.stdout.contains("\"scheme\" : \"item-token\""), b.stdout)

        // Zero-shot needs rows a new catalog can have: learned rows are refused by name.
        let z = try CLI.run(["zeroshot", "--run", run.path, "--data", kitchen, "--users", "5"])
        XCTAssertNotEqual(z.status, 0)
        XCTAssert(z.stderr.contains("learned item rows"), z.stderr)
        // id-mean rows come from the target's IDs: zero-shot on another domain runs.
        let idMean = base.appendingPathComponent("id-mean")
        let t2 = try CLI.run(["train", "--data", kitchen, "--sample-users", "40", "--preset", "tiny", "--epochs", "1", "--batch-size", "16",
                              "--validation-users", "10", "--test-users", "10", "--scheme", "item-token", "--item-rows", "id-mean", "--out", idMean.path])
        XCTAssertEqual(t2.status, 0, t2.stderr)
        let pets = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
        let z2 = try CLI.run(["zeroshot", "--run", idMean.path, "--data", pets, "--users", "20"])
        XCTAssertEqual(z2.status, 0, z2.stderr)
        XCTAssert(z2.stdout.contains("recall@10"), z2.stdout)

        let bad = try CLI.run(["train", "--data", kitchen, "--sample-users", "40", "--scheme", "item-token", "--loss", "hinge",
                               "--out", base.appendingPathComponent("bad").path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.stderr.contains("--loss"), bad.stderr)
        let noEmbeddings = try CLI.run(["train", "--data", kitchen, "--sample-users", "40", "--scheme", "item-token", "--item-rows", "content",
                                        "--out", base.appendingPathComponent("bad2").path])
        XCTAssertNotEqual(noEmbeddings.status, 0)
        XCTAssert(noEmbeddings.stderr.contains("--item-embeddings"), noEmbeddings.stderr)
    }
}
