import Foundation
import XCTest
@testable import Corpora

final class MergeTests: XCTestCase {
    func testMergePrefixesIdsAndConcatenates() throws {
        // Both domains use item ids i0.. and user ids u0..: they collide raw.
        let a = Fixture.domain([[0, 1, 2], [2, 1, 0, 1]], items: 3, name: "a")
        let b = Fixture.domain([[1, 0, 3, 2]], items: 4, name: "b")
        let m = try Domain.merged([a, b])
        XCTAssertEqual(m.name, "a+b")
        XCTAssertEqual(m.catalog.count, 7)
        XCTAssertEqual(m.catalog.ids, ["a/i0", "a/i1", "a/i2", "b/i0", "b/i1", "b/i2", "b/i3"])
        XCTAssertEqual(m.interactions.users, ["a/u0", "a/u1", "b/u0"])
        XCTAssertEqual(m.interactions.interactionCount, a.interactions.interactionCount + b.interactions.interactionCount)
        // Sequences point at the same items (by id) as before.
        XCTAssertEqual(m.itemIDs(ofUser: 2), b.itemIDs(ofUser: 0).map { "b/" + $0 })
        XCTAssertEqual(m.itemIDs(ofUser: 1), a.itemIDs(ofUser: 1).map { "a/" + $0 })
        XCTAssertEqual(m.catalog.text(of: "b/i3"), b.catalog.text(of: "i3"))
        // Collisions the prefix avoided are reported.
        let (items, users) = MultiDomain.collisions([a, b])
        XCTAssertEqual(items, ["i0", "i1", "i2"])
        XCTAssertEqual(users, ["u0"])
        XCTAssert(m.report.warnings.contains { $0.contains("3 raw item ids occur in more than one domain") }, "\(m.report.warnings)")
        XCTAssert(m.report.warnings.contains { $0.contains("1 raw user ids") }, "\(m.report.warnings)")
        // The merged domain splits as the parts do.
        let split = try Split.leaveOneOut(m)
        XCTAssertEqual(split.users.count, 3)
        XCTAssertEqual(split.test[2].target, m.catalog.index(of: "b/i2"))
    }

    func testMergeCombinesReportsAndTimestamps() throws {
        var a = Fixture.domain([[0, 1, 2]], items: 3, timestamps: [[1, 2, 3]], name: "a")
        a.report.skipped = ["unknown item": 2]
        a.report.warnings = ["w"]
        a.report.files = ["a.inter"]
        var b = Fixture.domain([[0, 1]], items: 2, ids: ["x", "y"], timestamps: [[5, 6]], name: "b")
        b.report.skipped = ["unknown item": 1, "malformed line": 4]
        b.report.files = ["b.inter"]
        let m = try Domain.merged([a, b])
        XCTAssertEqual(m.report.skipped, ["unknown item": 3, "malformed line": 4])
        XCTAssertEqual(m.report.files, ["a.inter", "b.inter"])
        XCTAssert(m.report.warnings.contains("a: w"))
        XCTAssertEqual(m.interactions.timestamps, [[1, 2, 3], [5, 6]])
        XCTAssertTrue(MultiDomain.collisions([a, b]).items.isEmpty)
        // One domain without timestamps: none kept, said so.
        let c = Fixture.domain([[0, 1, 2]], items: 3, name: "c")
        let m2 = try Domain.merged([a, c])
        XCTAssertNil(m2.interactions.timestamps)
        XCTAssert(m2.report.warnings.contains { $0.contains("only some merged domains have timestamps") })
    }

    func testMergeRejectsBadNames() {
        let a = Fixture.domain([[0, 1, 2]], items: 3, name: "a")
        assertCorporaError(["two domains are named \"a\""]) { _ = try Domain.merged([a, a]) }
        assertCorporaError(["no domains"]) { _ = try Domain.merged([]) }
        let slash = Fixture.domain([[0, 1, 2]], items: 3, name: "x/y")
        assertCorporaError(["x/y", "'/'"]) { _ = try Domain.merged([a, slash]) }
    }

    func testPrefixHelpersAndPerDomainMetrics() {
        XCTAssertEqual(MultiDomain.domain(ofPrefixed: "beauty/B01"), "beauty")
        XCTAssertNil(MultiDomain.domain(ofPrefixed: "B01"))
        XCTAssertEqual(MultiDomain.rawID("beauty/B/01"), "B/01")
        XCTAssertEqual(MultiDomain.parts(ofName: "a+b+c"), ["a", "b", "c"])
        let ranks = [UserRank(user: "a/u1", target: "a/i", rank: 1), UserRank(user: "b/u1", target: "b/i", rank: 20),
                     UserRank(user: "a/u2", target: "a/i", rank: nil), UserRank(user: "b/u2", target: "b/i", rank: 3)]
        let parts = Metrics.perDomain(ranks)
        XCTAssertEqual(parts.map(\.domain), ["a", "b"])
        XCTAssertEqual(parts.map(\.users), [2, 2])
        XCTAssertEqual(parts[0].metrics["recall@10"]!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(parts[1].metrics["recall@10"]!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(parts[1].metrics["ndcg@10"]!, 0.5 * (1 / log2(4.0)), accuracy: 1e-12)
        XCTAssertEqual(parts[1].metrics["recall@20"]!, 1, accuracy: 1e-12)
        XCTAssert(Metrics.perDomainMarkdown(parts).contains("| a | 2 |"))
    }
}
