import Corpora
import Foundation
import Support
import XCTest

/// `idgenrec baseline sasrec` end to end on the bundled synthetic corpus (the built binary, as
/// in Tests/CLITests; `make test` builds it first).
final class BaselineCLITests: XCTestCase {
    static let packageRoot = SharedDatasets.packageRoot(from: #filePath)

    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = Self.packageRoot.appendingPathComponent(".build/release/idgenrec")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("\(binary.path) not built; run `swift build -c release --product idgenrec` (make test does)")
        }
        let r = try Subprocess.run(binary, arguments)
        return (r.status, r.stdout, r.stderr)
    }

    /// Trains on the kitchen domain (1,500 users, 800 items), validates and tests on the same
    /// seeded 300 users as MostPop, and checks every output of the run folder.
    func testSASRecOnSyntheticCorpus() throws {
        let data = Self.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let dir = temporaryFolder("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let runDir = dir.appendingPathComponent("sasrec")
        let r = try run(["baseline", "sasrec", "--data", data, "--loss", "ce", "--out", runDir.path,
                         "--dim", "16", "--batch-size", "16", "--lr", "3e-3", "--dropout", "0.3", "--epochs", "12",
                         "--patience", "3", "--eval-users", "300", "--test-users", "300", "--seed", "0"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stdout.contains("| recall@10 |"), r.stdout)
        XCTAssert(r.stderr.contains("samples/s") && r.stderr.contains("ETA"), "progress line: \(r.stderr.suffix(500))")
        for f in ["report.json", "report.md", "metrics.json", "metrics.md", "ranks.tsv", "filter-seen/metrics.json", "log.json",
                  "curve.svg", "model.safetensors", "config.json", "checkpoint/state.json", "checkpoint/model.safetensors"] {
            XCTAssert(FileManager.default.fileExists(atPath: runDir.appendingPathComponent(f).path), "missing \(f)")
        }
        let (report, ranks) = try EvaluationRun.load(runDir)
        XCTAssertEqual(report.users, 300)
        XCTAssertEqual(ranks.count, 300)
        XCTAssertFalse(report.split.filterSeen)
        XCTAssertTrue(try EvaluationRun.load(runDir.appendingPathComponent("filter-seen")).report.split.filterSeen)
        // A ranking by chance puts the target in the top 10 of 800 items 1.25% of the time.
        let recall = try XCTUnwrap(report.metrics["recall@10"])
        XCTAssertGreaterThan(recall, 3 * 10.0 / 800, "SASRec learned nothing")

        // MostPop on the same seeded users; `compare` pairs them user by user.
        let mostPop = dir.appendingPathComponent("mostpop")
        let m = try run(["evaluate-baseline", "mostpop", "--data", data, "--users", "300", "--seed", "0", "--out", mostPop.path])
        XCTAssertEqual(m.status, 0, m.stderr)
        let c = try run(["compare", mostPop.path, runDir.path])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssert(c.stdout.contains("recall@10"), c.stdout)
        print("SASRec vs MostPop on 300 kitchen users:\n" + c.stdout)
    }

    func testBadOptionsFailWithTheKey() throws {
        let data = Self.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let r = try run(["baseline", "sasrec", "--data", data, "--out", temporaryFolder("bad").path, "--dim", "10", "--heads", "3"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("heads"), r.stderr)
    }
}
