import Foundation
import Support
import XCTest

/// `idgenrec train --user-ids`, then `recommend`: the run keeps its user IDs, and recommending
/// for it needs a known `--user` (a run without user IDs refuses one).
final class TrainCLITests: XCTestCase {
    func testUserIDsRunRecommendsForANamedUser() throws {
        let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let base = ScratchSpace.root.appendingPathComponent("train-cli-\(UUID().uuidString)")
        let run = base.appendingPathComponent("run")
        let t = try CLI.run(["train", "--data", kitchen, "--sample-users", "40", "--preset", "tiny", "--epochs", "1", "--batch-size", "16",
                             "--validation-users", "10", "--test-users", "10", "--beams", "4", "--user-ids", "--out", run.path])
        XCTAssertEqual(t.status, 0, t.stderr)
        let userLines = try String(contentsOf: run.appendingPathComponent("user_ids.tsv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(userLines.count, 40, "one ID per sampled user")
        let user = String(userLines[0].split(separator: "\t")[0])
        let items = try String(contentsOf: run.appendingPathComponent("ids.tsv"), encoding: .utf8).split(separator: "\n")
            .prefix(3).map { String($0.split(separator: "\t")[0]) }
        let history = items.joined(separator: ",")

        let named = try CLI.run(["recommend", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--history", history,
                                 "--user", user, "-k", "3"])
        XCTAssertEqual(named.status, 0, named.stderr)
        XCTAssertEqual(named.stdout.split(separator: "\n").count, 4, named.stdout) // header + 3 items
        let anonymous = try CLI.run(["recommend", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--history", history])
        XCTAssertNotEqual(anonymous.status, 0)
        XCTAssert(anonymous.stderr.contains("--user"), anonymous.stderr)
        let stranger = try CLI.run(["recommend", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--history", history,
                                    "--user", "nobody-\(UUID().uuidString)"])
        XCTAssertNotEqual(stranger.status, 0)
        XCTAssert(stranger.stderr.contains("is not a user"), stranger.stderr)

        let plain = base.appendingPathComponent("plain")
        let p = try CLI.run(["train", "--data", kitchen, "--sample-users", "40", "--preset", "tiny", "--epochs", "1", "--batch-size", "16",
                             "--validation-users", "10", "--test-users", "10", "--beams", "4", "--out", plain.path])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: plain.appendingPathComponent("user_ids.tsv").path))
        let refused = try CLI.run(["recommend", "--run", plain.path, "--data", kitchen, "--sample-users", "40", "--history", history,
                                   "--user", user])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssert(refused.stderr.contains("without user IDs"), refused.stderr)
    }
}
