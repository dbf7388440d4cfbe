import Support
import Foundation
import XCTest

final class IDsCLITests: XCTestCase {
    func testKeywordIDsForTheBundledCorpusAreUniqueAndComplete() throws {
        let out = ScratchSpace.root.appendingPathComponent("ids-\(UUID().uuidString).tsv")
        let data = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
        let r = try CLI.run(["ids", "generate", "--data", data, "--out", out.path, "--generator", "keywords", "--user-ids", out.path + ".users"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
        let items = try String(contentsOf: URL(fileURLWithPath: data).appendingPathComponent("item_plain_text.txt"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, items.count)
        XCTAssertEqual(Set(lines.map { $0.split(separator: "\t")[1] }).count, lines.count)
        XCTAssert(FileManager.default.fileExists(atPath: out.path + ".json"))
        XCTAssert(r.stdout.contains("items/s"), r.stdout)
    }

    func testBadGeneratorIsAClearError() throws {
        let data = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
        let r = try CLI.run(["ids", "generate", "--data", data, "--out", "\(ScratchSpace.root.path)/x.tsv", "--generator", "nonsense"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("--generator"), r.stderr)
    }
}
