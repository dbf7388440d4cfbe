import Support
import Foundation
import XCTest

/// `idgenrec bench rank` on a tiny run: the four dump files `tools/bench_rank.py` reads have
/// consistent shapes, and the timing JSON is written.
final class BenchRankCLITests: XCTestCase {
    func json(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any], url.path)
    }

    func testDumpShapesAreConsistent() throws {
        let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let base = ScratchSpace.root.appendingPathComponent("bench-rank-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let run = base.appendingPathComponent("run").path
        let t = try CLI.run(["train", "--data", kitchen, "--sample-users", "40", "--preset", "tiny", "--epochs", "1", "--batch-size", "16",
                             "--vocabulary-size", "700", "--validation-users", "5", "--test-users", "5", "--beams", "4", "--out", run])
        XCTAssertEqual(t.status, 0, t.stderr)

        // 13 users in batches of 5: a short last batch; 10 beams although the run trained with 4.
        let dump = base.appendingPathComponent("dump")
        let timing = base.appendingPathComponent("swift.json")
        let r = try CLI.run(["bench", "rank", "--run", run, "--data", kitchen, "--sample-users", "40", "--users", "13", "--seed", "3",
                             "--batch-size", "5", "--beams", "10", "--threads", "2", "--dump", dump.path, "--json", timing.path])
        XCTAssertEqual(r.status, 0, r.stderr)

        let prompts = try json(dump.appendingPathComponent("prompts.json"))
        let items = try json(dump.appendingPathComponent("items.json"))
        let generation = try json(dump.appendingPathComponent("generation.json"))
        let ranks = try json(dump.appendingPathComponent("swift_ranks.json"))
        let result = try json(timing)

        let inputs = try XCTUnwrap(prompts["prompts"] as? [[Int]])
        let users = try XCTUnwrap(prompts["users"] as? [String])
        XCTAssertEqual(inputs.count, 13)
        XCTAssertEqual(users.count, 13)
        XCTAssertEqual(Set(users).count, 13, "a user sampled twice")
        XCTAssert(inputs.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0 >= 0 } })

        let eos = try XCTUnwrap(generation["eos_token_id"] as? Int)
        let sequences = try XCTUnwrap(items["sequences"] as? [[Int]])
        XCTAssertEqual(sequences.count, 800, "kitchen has 800 items")
        XCTAssertEqual((items["items"] as? [String])?.count, 800)
        XCTAssert(sequences.allSatisfy { $0.count >= 2 && $0.last == eos && !$0.dropLast().contains(eos) })
        XCTAssertEqual(Set(sequences).count, sequences.count, "two items share tokens")
        XCTAssertEqual(generation["max_new_tokens"] as? Int, sequences.map(\.count).max())
        XCTAssertEqual(generation["num_beams"] as? Int, 10)
        XCTAssertEqual(generation["num_return_sequences"] as? Int, 10)
        XCTAssertEqual(generation["batch_size"] as? Int, 5)
        XCTAssertEqual(generation["early_stopping"] as? String, "never")
        XCTAssertEqual(generation["length_penalty"] as? Double, 0)
        XCTAssertEqual(generation["decoder_start_token_id"] as? Int, 0)
        let modelFolder = try XCTUnwrap(generation["model_folder"] as? String)
        XCTAssert(FileManager.default.fileExists(atPath: modelFolder + "/model.safetensors"), modelFolder)

        let lists = try XCTUnwrap(ranks["items"] as? [[Int]])
        let scores = try XCTUnwrap(ranks["scores"] as? [[Double]])
        XCTAssertEqual(ranks["users"] as? [String], users)
        XCTAssertEqual(lists.count, 13)
        XCTAssertEqual(scores.map(\.count), lists.map(\.count))
        for (list, score) in zip(lists, scores) {
            XCTAssertEqual(list.count, 10, "800 items leave 10 real candidates per user")
            XCTAssert(list.allSatisfy { $0 >= 0 && $0 < sequences.count }, "\(list)")
            XCTAssertEqual(Set(list).count, list.count, "an item returned twice: \(list)")
            XCTAssert(score.allSatisfy { $0.isFinite && $0 <= 0 }, "\(score)")
            XCTAssertEqual(score, score.sorted(by: >), "not best first: \(score)")
        }

        XCTAssertEqual(result["users"] as? Int, 13)
        XCTAssertEqual(result["implementation"] as? String, "swift")
        let rate = try XCTUnwrap(result["users_per_second"] as? Double)
        XCTAssert(rate > 0 && rate.isFinite, "\(rate)")
    }

    func testMissingRunNamesTheFolder() throws {
        let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let r = try CLI.run(["bench", "rank", "--run", "/nonexistent/bench-rank-run", "--data", kitchen, "--dump", "\(ScratchSpace.root.path)/bench-rank-\(UUID().uuidString)"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("/nonexistent/bench-rank-run"), r.stderr)
    }
}
