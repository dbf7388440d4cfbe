import Corpora
import Support
import Foundation
import XCTest
@testable import IDGen

final class IDTableTests: XCTestCase {
    func tempFile(_ text: String) throws -> URL {
        let url = ScratchSpace.root.appendingPathComponent("ids-\(UUID().uuidString).tsv")
        try Data(text.utf8).write(to: url)
        return url
    }

    func testRoundTripAndChurn() throws {
        let table = try IDTable(itemIDs: ["a", "b", "c"], textualIDs: ["soap bar", "rose cream", "mint"])
        let url = try tempFile("")
        try table.write(to: url)
        XCTAssertEqual(try IDTable.read(url), table)
        let other = try IDTable(itemIDs: ["a", "b", "c"], textualIDs: ["soap bar", "rose oil", "mint"])
        XCTAssertEqual(table.churn(from: other), 1.0 / 3.0, accuracy: 1e-12)
    }

    func testBadTablesNameFileAndLine() throws {
        let cases: [(String, String)] = [
            ("a\tx\nb\tx\n", ":2: textual ID 'x' already used at line 1"),
            ("a\tx\na\ty\n", ":2: item a already listed at line 1"),
            ("a\tx\nb\n", ":2: expected 'item_id<TAB>textual id'"),
            ("a\t \n", ":1: empty item id or textual ID"),
        ]
        for (text, expected) in cases {
            let url = try tempFile(text)
            XCTAssertThrowsError(try IDTable.read(url)) { error in
                XCTAssert("\(error)".contains(url.path + expected), "\(error)")
            }
        }
    }

    /// User IDs are built from training items only: no validation or test item's ID words can
    /// reach a user ID unless the same words also name a training item of that user.
    func testUserIDsNeverSeeValidationOrTestItems() throws {
        var items: [(id: String, fields: [TextField])] = []
        for i in 0 ..< 30 { items.append((id: "i\(i)", fields: [TextField("title", "word\(i)")])) }
        let catalog = Catalog(items: items)
        var users: [String] = [], sequences: [[Int]] = []
        var g = SeededGenerator(seed: 3)
        for u in 0 ..< 40 {
            users.append("u\(u)")
            var seq: [Int] = []
            while seq.count < 6 { let i = Int(g.next() % 30); if !seq.contains(i) { seq.append(i) } }
            sequences.append(seq)
        }
        let domain = Domain(name: "toy", catalog: catalog, interactions: Interactions(users: users, sequences: sequences),
                            report: ImportReport(format: .idgenrec, files: []))
        let split = try Split.leaveOneOut(domain)
        let table = try IDTable(itemIDs: catalog.ids, textualIDs: (0 ..< 30).map { "word\($0)" })
        let (entries, texts) = try UserIDs.entries(split: split, items: table)
        var gen = KeywordLikeGenerator(entries: entries)
        let (ids, _) = try IDAssigner().assign(entries, generator: &gen)
        for (u, target) in zip(0..., split.test) {
            let heldOut = [split.validation[u].target, target.target].map { "word\($0)" }
            let words = Set(ids[split.users[u]]!.split(separator: " ").map(String.init))
            XCTAssert(words.isDisjoint(with: heldOut), "user \(u): \(words) contains a held-out item")
            XCTAssert(Set(texts[u].split(separator: " ").map(String.init)).isDisjoint(with: heldOut))
        }
        // Building from whole sequences (the original's leak) is refused by the leak check.
        XCTAssertThrowsError(try UserIDs.entries(split: split, items: table, sequences: sequences)) { error in
            XCTAssert("\(error)".contains("user IDs"), "\(error)")
        }
    }
}

struct KeywordLikeGenerator: CandidateGenerator {
    var entries: [IDEntry]
    mutating func candidates(for indices: [Int], level: RetryLevel) throws -> [[Candidate]] {
        indices.map { [Candidate(text: entries[$0].rankedWords.prefix(2).joined(separator: " "), score: 0)] }
    }
}
