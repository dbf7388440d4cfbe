import Support
import Foundation
import XCTest

/// `idgenrec pretrain` end to end: its output folder starts `train --init-from`; bad input
/// gives a message naming the option or path.
final class PretrainCLITests: XCTestCase {
    func testPretrainThenTrainFromIt() throws {
        let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let base = ScratchSpace.root.appendingPathComponent("pretrain-cli-\(UUID().uuidString)")
        let pt = base.appendingPathComponent("pt").path
        let p = try CLI.run(["pretrain", "--data", kitchen, "--out", pt, "--preset", "tiny", "--steps", "4", "--vocabulary-size", "700",
                             "--sequence-length", "64", "--batch-size", "8"])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssert(p.stdout.contains("pretrain: 4 steps"), p.stdout)
        for name in ["config.json", "model.safetensors", "spiece.model", "pretrain.json"] {
            XCTAssert(FileManager.default.fileExists(atPath: pt + "/" + name), name)
        }
        let again = try CLI.run(["pretrain", "--data", kitchen, "--out", pt, "--preset", "tiny", "--steps", "4"])
        XCTAssertNotEqual(again.status, 0)
        XCTAssert(again.stderr.contains("--resume"), again.stderr)

        let t = try CLI.run(["train", "--data", kitchen, "--init-from", pt, "--sample-users", "40", "--epochs", "1", "--batch-size", "16",
                             "--validation-users", "10", "--test-users", "10", "--beams", "4", "--out", base.appendingPathComponent("run").path])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssert(t.stdout.contains("recall@10"), t.stdout)
        // evaluate --checkpoint last: the model after the last epoch, recorded in the report.
        let json = base.appendingPathComponent("last.json")
        let e = try CLI.run(["evaluate", "--run", base.appendingPathComponent("run").path, "--data", kitchen, "--sample-users", "40",
                             "--users", "10", "--checkpoint", "last", "--json", json.path])
        XCTAssertEqual(e.status, 0, e.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [String: Any]
        XCTAssertEqual((report["config"] as? [String: String])?["checkpoint"], "last")
    }

    func testBadInputNamesTheProblem() throws {
        let missing = try CLI.run(["pretrain", "--data", "/nonexistent/pretrain-data", "--out", "\(ScratchSpace.root.path)/x-\(UUID().uuidString)", "--steps", "1"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssert(missing.stderr.contains("/nonexistent/pretrain-data"), missing.stderr)
        let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let behaviour = try CLI.run(["pretrain", "--data", kitchen, "--out", "\(ScratchSpace.root.path)/x-\(UUID().uuidString)", "--behaviour", "ids"])
        XCTAssertNotEqual(behaviour.status, 0)
        XCTAssert(behaviour.stderr.contains("--behaviour"), behaviour.stderr)
        let both = try CLI.run(["pretrain", "--data", kitchen, "--out", "\(ScratchSpace.root.path)/x-\(UUID().uuidString)", "--steps", "3", "--minutes", "1"])
        XCTAssertNotEqual(both.status, 0)
        XCTAssert(both.stderr.contains("--minutes"), both.stderr)
    }
}
