import Corpora
import Foundation
import IDGen
import Support
import T5
import Tokenizer
import XCTest
@testable import Recommender

/// Zero-shot end to end on the bundled synthetic corpus: a tiny run trained on a sample of
/// kitchen + pets (merged), evaluated on outdoors and on a crafted bad target it never saw.
final class ZeroShotTests: XCTestCase {
    static let root = SharedDatasets.packageRoot(from: #filePath)

    static func load(_ name: String, users: Int? = nil) throws -> Domain {
        let d = try DatasetImporter.load(root.appendingPathComponent("corpora/synthetic/\(name)"))
        guard let users else { return d }
        let i = Interactions(users: Array(d.interactions.users.prefix(users)), sequences: Array(d.interactions.sequences.prefix(users)))
        return Domain(name: d.name, catalog: d.catalog, interactions: i, report: d.report)
    }

    /// The source: 120 users each of kitchen and pets, merged; one epoch of the tiny preset.
    static let run: Result<(folder: URL, source: Domain), Error> = Result {
        let source = try Domain.merged([load("kitchen", users: 120), load("pets", users: 120)])
        let table = try IDGeneration.keywords(catalog: source.catalog).table
        var config = RecommenderConfig()
        config.preset = .tiny
        config.vocabularySize = 600
        config.epochs = 1
        config.validationUsers = 20
        config.numBeams = 5
        let folder = ScratchSpace.root.appendingPathComponent("zeroshot-run-\(UUID().uuidString)")
        let runner = try RecommenderPipeline.open(folder: folder, inputs: .init(dataPath: "kitchen,pets", domain: source, ids: table, idsSource: "keywords"),
                                                  config: config, resume: false)
        runner.verbose = false
        try runner.train(resume: false)
        return (folder, source)
    }

    /// A target with bad input: an item without any text, one whose text has no word, an item
    /// id and a user id that also exist in the source, and two users too short for a split.
    static func badTarget() throws -> Domain {
        let outdoors = try load("outdoors")
        var items: [(id: String, fields: [TextField])] = (0 ..< 40).map { (outdoors.catalog.ids[$0], outdoors.catalog.fields[$0]) }
        items.append(("EMPTY1", []))
        items.append(("DASHES", [TextField("title", "--- !!")]))
        let source = try run.get().source
        let sharedItem = MultiDomain.rawID(source.catalog.ids[0])
        items.append((sharedItem, [TextField("title", "Garden Hose Reel, 50 ft")]))
        let n = items.count
        var users: [String] = [], sequences: [[Int]] = []
        for k in 0 ..< 30 {
            users.append(k == 0 ? MultiDomain.rawID(source.interactions.users[0]) : "garden_u\(k)")
            sequences.append((0 ..< 5).map { j in (k * 7 + j * 9) % n })
        }
        users += ["short1", "short2"]
        sequences += [[0, 1], [2]]
        return Domain(name: "garden", catalog: Catalog(items: items), interactions: Interactions(users: users, sequences: sequences),
                      report: ImportReport(format: .idgenrec, files: []))
    }

    func testKeywordZeroShotOnAnUnseenDomain() throws {
        let (folder, source) = try Self.run.get()
        let frozen = try FrozenRun.load(folder)
        XCTAssertEqual(frozen.checkpoint.lastPathComponent, "best")
        let target = try Self.load("outdoors")
        let (result, ranks, prepared) = try ZeroShot.evaluate(run: frozen, target: target, dataPath: "outdoors", idSource: .keywords, source: source, users: 40, seed: 3)
        XCTAssertEqual(result.zeroShot.users, 40)
        XCTAssertEqual(ranks.count, 40)
        XCTAssertEqual(result.mostPop.users, 40)
        XCTAssertEqual(result.zeroShot.split.domain, "outdoors")
        XCTAssertEqual(result.zeroShot.split.catalogItems, 800)
        for name in Metrics.names {
            XCTAssertNotNil(result.zeroShot.metrics[name], name)
            XCTAssertNotNil(result.mostPop.metrics[name], name)
        }
        // Same users for the model and MostPop.
        let targetIDs = Set(target.catalog.ids)
        XCTAssert(ranks.allSatisfy { targetIDs.contains($0.target) })
        // Every recommended item is a target item: the trie holds only the target's IDs.
        let lists = try prepared.trainer.rank(model: frozen.model, targets: Array(prepared.split.test.prefix(8)))
        XCTAssertEqual(lists.count, 8)
        let sourceIDs = Set(source.catalog.ids)
        for list in lists {
            XCTAssertFalse(list.isEmpty)
            XCTAssertEqual(Set(list).count, list.count)
            for i in list {
                XCTAssert((0 ..< target.catalog.count).contains(i))
                XCTAssertFalse(sourceIDs.contains(target.catalog.ids[i]))
            }
        }
        // Coverage and overlap: synthetic domains share no titles; byte fallback, no unknowns.
        XCTAssertEqual(result.coverage.unknownPieces, 0)
        XCTAssertGreaterThan(result.coverage.pieces, 0)
        XCTAssertEqual(result.overlap?.identicalTitles, 0)
        XCTAssertEqual(result.overlap?.sourceTitles, 1600)
        XCTAssertEqual(result.input.usersTooShort, 0)
        // JSON keys: the zero-shot report is encoded like `evaluate`'s.
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode([result])) as! [[String: Any]]
        let z = json[0]["zero_shot"] as! [String: Any]
        for key in ["recall@10", "ndcg@10", "recall@5", "ndcg@5", "mrr", "users", "split", "model", "confidence"] { XCTAssertNotNil(z[key], key) }
        for key in ["mostpop", "title_overlap", "coverage", "input", "ids", "target", "seconds"] { XCTAssertNotNil(json[0][key], key) }
        XCTAssert(ZeroShot.markdown([result]).contains("| outdoors | 40 |"))
    }

    func testPerDomainBreakdownOfAMergedRun() throws {
        let (folder, source) = try Self.run.get()
        let runner = try RecommenderPipeline.load(folder: folder, domain: source, dataPath: "kitchen,pets")
        let (report, ranks, domains) = try runner.evaluatePerDomain(part: .validation, users: 30, progress: false)
        XCTAssertEqual(domains.map(\.domain).sorted(), ["kitchen", "pets"])
        XCTAssertEqual(domains.map(\.users).reduce(0, +), 30)
        // The parts average back to the whole.
        let total = domains.reduce(0.0) { $0 + $1.metrics["recall@10"]! * Double($1.users) } / 30
        XCTAssertEqual(total, report.metrics["recall@10"]!, accuracy: 1e-12)
        XCTAssertEqual(ranks.count, 30)
        // Training on merged domains logged validation per domain, summing to the sample.
        let log = try JSONDecoder().decode([EpochLog].self, from: Data(contentsOf: folder.appendingPathComponent("log.json")))
        let logged = try XCTUnwrap(log.last?.validationPerDomain)
        XCTAssertEqual(logged.map(\.domain).sorted(), ["kitchen", "pets"])
        XCTAssertEqual(logged.map(\.users).reduce(0, +), 20)
        XCTAssert(try String(contentsOf: folder.appendingPathComponent("curve.svg"), encoding: .utf8).contains("valid R@10 pets"))
    }

    func testRunGeneratorOnBadInputIsHandledAndReported() throws {
        let (folder, source) = try Self.run.get()
        let frozen = try FrozenRun.load(folder)
        let target = try Self.badTarget()
        // A generator trained with the run's tokenizer, stored where co-training puts it.
        var config = GeneratorConfig()
        config.epochs = 1
        let generator = try GeneratorFolder.bootstrap(catalogs: [source.catalog], tokenizer: frozen.tokenizer, config: config, verbose: false)
        try generator.save(FrozenRun.generatorURL(folder))
        let loaded = try GeneratorFolder.load(FrozenRun.generatorURL(folder))
        let (result, ranks, prepared) = try ZeroShot.evaluate(run: frozen, target: target, dataPath: "garden",
                                                              idSource: .generator(loaded, path: "generator"), source: source)
        XCTAssertEqual(result.input.itemsWithEmptyText, 2)
        // The generator writes some ID even for an empty input; keyword IDs fall back to the key.
        XCTAssertFalse(prepared.ids.textualID(of: "EMPTY1")!.isEmpty)
        let keywordIDs = try ZeroShot.prepare(run: frozen, target: target, idSource: .keywords)
        XCTAssertEqual(keywordIDs.idReport.namedFromKey, 2)
        XCTAssertEqual(keywordIDs.ids.textualID(of: "EMPTY1"), "empty1")
        XCTAssertEqual(result.input.usersTooShort, 2)
        XCTAssertEqual(Set(result.input.usersTooShortExamples), ["short1", "short2"])
        XCTAssertEqual(result.input.itemIDsAlsoInSource, 1)
        XCTAssertEqual(result.input.userIDsAlsoInSource, 1)
        XCTAssert(result.input.notes.contains { $0.contains("harmless") })
        XCTAssert(result.input.notes.contains { $0.contains("fewer than 3 items") })
        XCTAssertEqual(ranks.count, 30)
        XCTAssertEqual(prepared.ids.count, target.catalog.count)
        XCTAssertEqual(Set(prepared.ids.textualIDs).count, target.catalog.count)
        XCTAssert(result.idSource.hasPrefix("generator"))
    }

    func testGeneratorWithAnotherTokenizerIsRefused() throws {
        let (folder, _) = try Self.run.get()
        let frozen = try FrozenRun.load(folder)
        var options = TrainingOptions()
        options.vocabularySize = 300
        let other = try Tokenizer.train(sentences: (0 ..< 200).map { "garden hose reel \($0) tent lantern stove" }, options: options)
        var g = SeededGenerator(seed: 1)
        let model = try T5Model(config: T5Config.preset(.tiny, vocabularySize: other.vocabularySize), generator: &g)
        let foreign = GeneratorFolder(model: model, tokenizer: other, config: GeneratorConfig(), bootstrapLosses: [])
        XCTAssertThrowsError(try ZeroShot.prepare(run: frozen, target: try Self.load("outdoors"), idSource: .generator(foreign, path: "X.generator"))) { error in
            let text = "\(error)"
            XCTAssert(text.contains("X.generator") && text.contains("spiece.model") && text.contains("keywords"), text)
        }
    }

    func testTargetWithoutSplittableUsersIsAClearError() throws {
        let (folder, _) = try Self.run.get()
        let frozen = try FrozenRun.load(folder)
        let d = Domain(name: "tiny", catalog: Catalog(items: [("a", [TextField("title", "Red tent")]), ("b", [TextField("title", "Blue stove")])]),
                       interactions: Interactions(users: ["u"], sequences: [[0, 1]]), report: ImportReport(format: .idgenrec, files: []))
        XCTAssertThrowsError(try ZeroShot.prepare(run: frozen, target: d, idSource: .keywords)) { error in
            XCTAssert("\(error)".contains("3 items a leave-one-out split needs"), "\(error)")
        }
    }

    func testIDsThatTokeniseAlikeAreSeparated() throws {
        let (folder, _) = try Self.run.get()
        let tok = try FrozenRun.load(folder).tokenizer
        // NFKC folds full-width letters: "ｔｅｎｔ" and "tent" become the same pieces.
        let table = try IDTable(itemIDs: ["a", "b", "c"], textualIDs: ["tent", "ｔｅｎｔ", "stove"])
        XCTAssertEqual(tok.encode("tent"), tok.encode("ｔｅｎｔ"))
        let (fixed, renamed) = try ZeroShot.separateInTokenSpace(table, tokenizer: tok)
        XCTAssertEqual(renamed, 1)
        XCTAssertEqual(fixed.textualIDs, ["tent", "ｔｅｎｔ 2", "stove"])
        XCTAssertEqual(Set(tok.encode(batch: fixed.textualIDs)).count, 3)
    }
    /// `ZeroShot.historyShare`: the mean over users of |top k ∩ history| / k.
    func testHistoryShareIsTheMeanShareOfHistoryItemsInTheTopK() {
        let targets = [EvaluationTarget(user: 0, userID: "a", history: [1, 2, 3], target: 9),
                       EvaluationTarget(user: 1, userID: "b", history: [7], target: 8),
                       EvaluationTarget(user: 2, userID: "c", history: [4, 5], target: 6)]
        // k = 4: a has 1 and 3 in its top 4 (2 is fifth, past k); b none; c has 4 and 5.
        let ranked = [[1, 9, 3, 0, 2], [8, 0, 1, 2, 3], [4, 5, 6, 0, 1]]
        XCTAssertEqual(ZeroShot.historyShare(ranked, targets: targets, k: 4), (2.0 / 4 + 0 + 2.0 / 4) / 3, accuracy: 1e-12)
        XCTAssertEqual(ZeroShot.historyShare(ranked, targets: targets, k: 1), (1 + 0 + 1) / 3.0, accuracy: 1e-12)
        XCTAssertEqual(ZeroShot.historyShare([], targets: []), 0)
    }
}
