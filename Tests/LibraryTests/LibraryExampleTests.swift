import Foundation
import IDGenRec
import XCTest

// The example of docs/library.md, compiled against the public API only (`import IDGenRec`, no
// @testable) and run on the bundled corpus. The function between the markers is the one the page
// shows; `testTheDocsShowThisExample` fails when the two drift apart.

// BEGIN EXAMPLE
/// Keyword IDs for a catalog, a small recommender trained on them, then the run loaded back and
/// asked for the next items after a user's history.
func recommendFromScratch(corpus: String, run: URL) throws -> [Recommendation] {
    // 1. A catalog and its interactions (IDGenRec/P5 layout, LC-Rec JSON or RecBole atomic files).
    let domain = try DatasetImporter.load(URL(fileURLWithPath: corpus)).sampledUsers(300, seed: 0)

    // 2. Short, unique, human-word IDs for every item.
    let ids = try IDGeneration.keywords(catalog: domain.catalog).table
    print("first item:", domain.catalog.ids[0], "→", ids.textualIDs[0])

    // 3. A recommender trained on them, in a resumable run folder.
    var config = RecommenderConfig()
    config.preset = .tiny
    config.epochs = 1
    config.validationUsers = 50
    let inputs = RecommenderPipeline.Inputs(dataPath: corpus, domain: domain, ids: ids, idsSource: "keywords")
    let runner = try RecommenderPipeline.open(folder: run, inputs: inputs, config: config, resume: false)
    runner.verbose = false
    try runner.train(resume: false)

    // 4. Later, elsewhere: load the run and recommend over the whole catalog.
    let loaded = try RecommenderPipeline.load(folder: run, domain: domain, dataPath: corpus)
    let history = Array(domain.catalog.ids.prefix(3))
    return try loaded.recommend(history: history, count: 5)
}
// END EXAMPLE

final class LibraryExampleTests: XCTestCase {
    static let packageRoot = SharedDatasets.packageRoot(from: #filePath)

    func testTheExampleRecommendsCatalogItems() throws {
        let corpus = Self.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let run = ScratchSpace.root.appendingPathComponent("library-example-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: run) }
        let recommendations = try recommendFromScratch(corpus: corpus, run: run)
        let catalog = try DatasetImporter.load(URL(fileURLWithPath: corpus)).catalog
        let table = try IDTable.read(run.appendingPathComponent("ids.tsv"))
        XCTAssertEqual(recommendations.count, 5)
        XCTAssertEqual(Set(recommendations.map(\.itemID)).count, 5, "distinct items")
        for r in recommendations {
            let i = try XCTUnwrap(catalog.index(of: r.itemID), "\(r.itemID) is a catalog item")
            XCTAssertEqual(r.textualID, table.textualIDs[i], "the textual ID is the item's")
            XCTAssertLessThanOrEqual(r.score, 0, "a log-probability")
        }
        XCTAssertEqual(recommendations.map(\.score), recommendations.map(\.score).sorted(by: >), "best first")
        // The library's errors name what is wrong.
        let loaded = try RecommenderPipeline.load(folder: run, domain: try DatasetImporter.load(URL(fileURLWithPath: corpus)).sampledUsers(300, seed: 0), dataPath: corpus)
        XCTAssertThrowsError(try loaded.recommend(history: ["no-such-item"])) { XCTAssertTrue("\($0)".contains("no-such-item"), "\($0)") }
        XCTAssertThrowsError(try loaded.recommend(history: [catalog.ids[0]], user: "u1")) { XCTAssertTrue("\($0)".contains("without user IDs"), "\($0)") }
    }

    /// docs/library.md shows exactly the function above.
    func testTheDocsShowThisExample() throws {
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let example = try XCTUnwrap(Self.between("// BEGIN EXAMPLE\n", "// END EXAMPLE", in: source))
        let page = try String(contentsOf: Self.packageRoot.appendingPathComponent("docs/library.md"), encoding: .utf8)
        XCTAssertTrue(page.contains(example), "docs/library.md must contain the example function of \(#fileID) verbatim")
    }

    static func between(_ start: String, _ end: String, in text: String) -> String? {
        guard let a = text.range(of: start), let b = text.range(of: end, range: a.upperBound ..< text.endIndex) else { return nil }
        return String(text[a.upperBound ..< b.lowerBound])
    }
}
