import Foundation
import Support
import XCTest
@testable import Corpora

final class MetricsTests: XCTestCase {
    func testMetricFormulas() {
        // Ranks 1, 3, 6, 15, missing.
        let ranks: [Int?] = [1, 3, 6, 15, nil]
        let m = Metrics.means(ranks)
        XCTAssertEqual(m["recall@1"]!, 1.0 / 5, accuracy: 1e-12)
        XCTAssertEqual(m["recall@5"]!, 2.0 / 5, accuracy: 1e-12)
        XCTAssertEqual(m["recall@10"]!, 3.0 / 5, accuracy: 1e-12)
        XCTAssertEqual(m["recall@20"]!, 4.0 / 5, accuracy: 1e-12)
        XCTAssertEqual(m["ndcg@1"]!, 1.0 / 5, accuracy: 1e-12)
        XCTAssertEqual(m["ndcg@5"]!, (1 + 1 / log2(4.0)) / 5, accuracy: 1e-12)
        XCTAssertEqual(m["ndcg@10"]!, (1 + 0.5 + 1 / log2(7.0)) / 5, accuracy: 1e-12)
        XCTAssertEqual(m["ndcg@20"]!, (1 + 0.5 + 1 / log2(7.0) + 0.25) / 5, accuracy: 1e-12)
        XCTAssertEqual(m["mrr"]!, (1 + 1.0 / 3 + 1.0 / 6 + 1.0 / 15) / 5, accuracy: 1e-12)
        XCTAssertEqual(Metrics.names.count, 9)
    }

    func evaluator(ids: [String], sequences: [[Int]]) throws -> (Evaluator, Split) {
        let d = Fixture.domain(sequences, items: ids.count, ids: ids)
        let split = try Split.leaveOneOut(d)
        return (Evaluator(split: split, catalog: d.catalog), split)
    }

    func testExactRankWithIDTieBreakInStringOrder() throws {
        let (e, _) = try evaluator(ids: ["b", "a", "10", "9", "c"], sequences: [[0, 1, 2]])
        // All equal: order is "10" < "9" < "a" < "b" < "c".
        let flat: [Float] = [1, 1, 1, 1, 1]
        XCTAssertEqual(try e.rank(of: 2, scores: flat), 1)
        XCTAssertEqual(try e.rank(of: 3, scores: flat), 2)
        XCTAssertEqual(try e.rank(of: 0, scores: flat), 4)
        // Higher scores first; ties among the 2.0s broken by id.
        let s: [Float] = [2, 3, 2, 0, 2]
        XCTAssertEqual(try e.rank(of: 1, scores: s), 1)
        XCTAssertEqual(try e.rank(of: 2, scores: s), 2)
        XCTAssertEqual(try e.rank(of: 0, scores: s), 3)
        XCTAssertEqual(try e.rank(of: 4, scores: s), 4)
        XCTAssertEqual(try e.rank(of: 3, scores: s), 5)
        // Excluding seen items 1 and 2 moves item 0 up; excluding the target itself does not.
        XCTAssertEqual(try e.rank(of: 0, scores: s, excluded: [1, 2, 0]), 1)
        assertCorporaError(["3 scores for 5 items"]) { _ = try e.rank(of: 0, scores: [1, 2, 3]) }
    }

    func testListAndBatchedRankingsAndFilterSeen() throws {
        let (e, split) = try evaluator(ids: ["a", "b", "c", "d", "e"], sequences: [[0, 1, 2, 3], [4, 0, 1], [2, 3, 4]])
        // Test targets: u0 → 3 (history 0,1,2), u1 → 1 (history 4,0), u2 → 4 (history 2,3).
        let list: Ranking = .list { t in [0, 1, 2, 3, 4].filter { $0 != 4 || t.user != 2 } }
        let ranks = try e.ranks(split.test, ranking: list)
        XCTAssertEqual(ranks.map(\.rank), [4, 2, nil])
        XCTAssertEqual(ranks.map(\.target), ["d", "b", "e"])
        let filtered = try e.ranks(split.test, ranking: list, filterSeen: true)
        XCTAssertEqual(filtered.map(\.rank), [1, 1, nil])
        var batches: [Int] = []
        let batched: Ranking = .batchedList(batchSize: 2) { targets in
            batches.append(targets.count)
            return targets.map { _ in [4, 3, 2, 1, 0] }
        }
        XCTAssertEqual(try e.ranks(split.test, ranking: batched).map(\.rank), [2, 4, 1])
        XCTAssertEqual(batches, [2, 1])
        let scores: Ranking = .scores { t in (0 ..< 5).map { Float($0 == t.target ? 0 : 1) } }
        XCTAssertEqual(try e.ranks(split.test, ranking: scores).map(\.rank), [5, 5, 5])
        XCTAssertEqual(try e.ranks(split.test, ranking: scores, filterSeen: true).map(\.rank), [2, 3, 3])
    }

    func testReportJSONKeysAndRoundTrip() throws {
        let (e, _) = try evaluator(ids: ["a", "b", "c", "d"], sequences: [[0, 1, 2, 3], [3, 2, 1, 0]])
        let (report, ranks) = try e.evaluate(model: "oracle", part: .test, ranking: .scores { t in (0 ..< 4).map { Float($0 == t.target ? 1 : 0) } },
                                             data: "toy", config: ["k": "v"])
        XCTAssertEqual(ranks.map(\.rank), [1, 1])
        XCTAssertEqual(report.metrics["recall@1"], 1)
        let json = try JSONSerialization.jsonObject(with: try JSONOutput.encode(report)) as! [String: Any]
        for key in ["recall@1", "recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10", "mrr", "users", "split", "data", "config"] {
            XCTAssertNotNil(json[key], key)
        }
        XCTAssertEqual(json["users"] as? Int, 2)
        XCTAssertEqual(json["recall@10"] as? Double, 1)
        let decoded = try JSONDecoder().decode(MetricsReport.self, from: try JSONOutput.encode(report))
        XCTAssertEqual(decoded, report)
        XCTAssert(report.markdown.contains("| recall@10 | 1.0000 |"), report.markdown)
    }

    func testSeededUserSampleIsRandomNotFirstN() throws {
        let (_, split) = try evaluator(ids: (0 ..< 5).map { "i\($0)" }, sequences: Array(repeating: [0, 1, 2], count: 100))
        let a = Evaluator.sample(split.test, count: 10, seed: 1)
        XCTAssertEqual(a, Evaluator.sample(split.test, count: 10, seed: 1))
        XCTAssertNotEqual(a.map(\.user), Array(0 ..< 10))
        XCTAssertEqual(Set(a.map(\.user)).count, 10)
    }

    func testBootstrapInterval() {
        var rng = SeededGenerator(seed: 1)
        let constant = Bootstrap.interval([0.5, 0.5, 0.5], resamples: 200, level: 0.95, using: &rng)
        XCTAssertEqual(constant.low, 0.5)
        XCTAssertEqual(constant.high, 0.5)
        // Bernoulli(0.3), n = 2000: the 95% interval is about ±1.96·sqrt(0.21/2000) ≈ ±0.020.
        let values = (0 ..< 2000).map { Double($0 % 10 < 3 ? 1 : 0) }
        let ci = Bootstrap.interval(values, resamples: 1000, level: 0.95, using: &rng)
        XCTAssert(ci.low < 0.3 && ci.high > 0.3)
        XCTAssertEqual(ci.high - ci.low, 2 * 1.96 * (0.21 / 2000).squareRoot(), accuracy: 0.006)
    }

    func testPairedComparison() throws {
        let users = (0 ..< 400).map { "u\($0)" }
        let a = users.map { UserRank(user: $0, target: "t", rank: 50) }
        let b = users.enumerated().map { UserRank(user: $1, target: "t", rank: $0 % 2 == 0 ? 1 : 50) }
        let same = try RunComparison.compare(a, a, nameA: "A", nameB: "A")
        XCTAssertEqual(same.metrics.first { $0.metric == "recall@10" }!.pValue, 1)
        let better = try RunComparison.compare(a, b.reversed(), nameA: "A", nameB: "B", resamples: 1000)
        let r10 = better.metrics.first { $0.metric == "recall@10" }!
        XCTAssertEqual(r10.difference, 0.5, accuracy: 1e-12)
        XCTAssertLessThan(r10.pValue, 0.01)
        XCTAssert(r10.interval[0] > 0.4 && r10.interval[1] < 0.6)
        // Noise: B differs from A on a few users in both directions.
        let noisyA = users.enumerated().map { UserRank(user: $1, target: "t", rank: (3 ..< 6).contains($0) ? 1 : 50) }
        let noisyB = users.enumerated().map { UserRank(user: $1, target: "t", rank: $0 < 3 ? 1 : 50) }
        XCTAssertGreaterThan(try RunComparison.compare(noisyA, noisyB, nameA: "A", nameB: "N").metrics.first { $0.metric == "recall@10" }!.pValue, 0.3)
        var other = a
        other[3].target = "x"
        assertCorporaError(["user \"u3\"", "different splits"]) { _ = try RunComparison.compare(a, other, nameA: "A", nameB: "B") }
        assertCorporaError(["B has 399"]) { _ = try RunComparison.compare(a, Array(a.dropLast()), nameA: "A", nameB: "B") }
    }

    func testRunFilesRoundTrip() throws {
        let folder = try Fixture.folder(text: [:])
        let (e, _) = try evaluator(ids: ["a", "b", "c"], sequences: [[0, 1, 2]])
        let (report, ranks) = try e.evaluate(model: "m", part: .validation, ranking: .list { _ in [2] }, data: "toy")
        try EvaluationRun.save(report: report, ranks: ranks, folder: folder)
        let loaded = try EvaluationRun.load(folder)
        XCTAssertEqual(loaded.ranks, [UserRank(user: "u0", target: "b", rank: nil)])
        XCTAssertEqual(loaded.report.rankedListLength, 1, "the longest list actually returned")
        try EvaluationRun.save(report: report, ranks: ranks, json: folder.appendingPathComponent("r.json"))
        XCTAssertEqual(try EvaluationRun.load(folder.appendingPathComponent("r.json")).ranks, loaded.ranks)
    }

    func testMostPopCountsTrainingOnlyAndBreaksTiesByID() throws {
        // Item "z" is everyone's test item: MostPop must not count it.
        let ids = ["z", "b", "a", "c"]
        let d = Fixture.domain([[1, 2, 3, 0], [2, 1, 3, 0], [3, 3, 1, 0]], items: 4, ids: ids)
        let split = try Split.leaveOneOut(d)
        let pop = try MostPop(split: split)
        XCTAssertEqual(pop.counts, [0, 2, 2, 2])
        XCTAssertEqual(pop.top(4, catalog: d.catalog).map { ids[$0] }, ["a", "b", "c", "z"])
        let ranks = try Evaluator(split: split, catalog: d.catalog).ranks(split.test, ranking: pop.ranking)
        XCTAssertEqual(ranks.map(\.rank), [4, 4, 4])
    }

    func testMostPopOnBeautyMatchesReference() throws {
        let root = try Fixture.datasets()
        let d = try DatasetImporter.load(root.appendingPathComponent("beauty"))
        let split = try Split.leaveOneOut(d)
        let (report, _) = try Evaluator(split: split, catalog: d.catalog).evaluate(model: "mostpop", part: .test, ranking: try MostPop(split: split).ranking, data: "beauty")
        // REFERENCE-RESULTS.md: R@5 0.0072, R@10 0.0112, N@5 0.0040, N@10 0.0053.
        XCTAssertEqual(report.users, 22363)
        XCTAssertEqual(report.metrics["recall@5"]!, 0.0072, accuracy: 0.00005)
        XCTAssertEqual(report.metrics["recall@10"]!, 0.0112, accuracy: 0.00005)
        XCTAssertEqual(report.metrics["ndcg@5"]!, 0.0040, accuracy: 0.00005)
        XCTAssertEqual(report.metrics["ndcg@10"]!, 0.0053, accuracy: 0.00005)
    }
}
