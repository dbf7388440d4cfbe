import Corpora
import Foundation
import IDGen
import Recommender
import Server
import Support
import TensorCore
import TextEncoder
import XCTest

/// `idgenrec serve` on item-token runs (issue 20): /recommend ranks as `idgenrec recommend`
/// (`ItemTokenRunner.recommend`) does, with and without `--item-input add`; POST /items per row
/// kind (learned refused; id-mean rows from the new IDs; content rows from the new texts through
/// the trained projection, with the run's encoder); added items keep their rows after a restart.
final class ItemTokenServerTests: XCTestCase {
    static let kitchenPath = SharedDatasets.packageRoot(from: #filePath).appendingPathComponent("corpora/synthetic/kitchen").path
    static let tinyBert = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("TextEncoderTests/Fixtures/tiny-bert")

    /// corpora/synthetic/kitchen with 40 sampled users (`--sample-users 40`).
    static func kitchen() throws -> Domain {
        try DatasetImporter.load(URL(fileURLWithPath: kitchenPath), options: ImportOptions()).sampledUsers(40, seed: 0)
    }

    /// A tiny item-token run trained one epoch on the kitchen sample (as `train --scheme
    /// item-token --preset tiny --epochs 1 --batch-size 16 --validation-users 10` makes it).
    static func train(rows: ItemTokenSettings.Rows, input: ItemTokenSettings.Input?, historyBias: Bool = false) throws -> URL {
        let folder = ScratchSpace.root.appendingPathComponent("serve-item-token-\(rows.rawValue)-\(UUID().uuidString)")
        let domain = try kitchen()
        var config = RecommenderConfig()
        config.preset = .tiny
        config.epochs = 1
        config.batchSize = 16
        config.validationUsers = 10
        config.itemToken = ItemTokenSettings(rows: rows, input: input)
        if historyBias { config.itemToken?.historyBias = true }
        var embeddings: ItemEmbeddings?
        if rows == .content {
            let encoder = try SentenceEncoder(folder: tinyBert)
            embeddings = ItemEmbeddings.compute(ids: domain.catalog.ids, texts: (0 ..< domain.catalog.count).map { domain.catalog.text(at: $0) },
                                                encoder: encoder, encoderHash: try encoder.folder.contentHash())
            config.itemToken?.embeddings = "tiny-bert"
        }
        let ids = try IDGeneration.keywords(catalog: domain.catalog).table
        let runner = try ItemTokenRunner.open(folder: folder, inputs: .init(dataPath: kitchenPath, domain: domain, ids: ids, idsSource: "keywords"),
                                              config: config, embeddings: embeddings, resume: false)
        runner.verbose = false
        try runner.train()
        return folder
    }

    // Trained once each, shared by the tests; every test serves a copy.
    static let learnedRun = Result(catching: { try train(rows: .learned, input: nil) })
    static let idMeanAddRun = Result(catching: { try train(rows: .idMean, input: .add) })
    static let contentRun = Result(catching: { try train(rows: .content, input: nil) })
    static let learnedReplaceRun = Result(catching: { try train(rows: .learned, input: .replace) })
    static let learnedHistoryBiasRun = Result(catching: { try train(rows: .learned, input: nil, historyBias: true) })

    static func copy(_ run: URL) throws -> URL {
        let folder = ScratchSpace.root.appendingPathComponent("serve-item-token-copy-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: run, to: folder)
        return folder
    }

    static func serve(_ run: URL, workers: Int = 1, encoder: URL? = nil) throws -> ServerTests.Served {
        var options = ServeOptions()
        options.workers = workers
        options.encoder = encoder
        return try ServerTests.Served(options: options, run: run, domain: try kitchen(), dataPath: kitchenPath)
    }

    /// Histories of catalog ids: a user's, a single item, a long one past the history cap.
    static func queries(_ domain: Domain) -> [([String], Int)] {
        let ids = domain.catalog.ids
        let user = domain.interactions.sequences[0].map { ids[$0] }
        return [(user, 10), ([ids[5]], 3), ((0 ..< 30).map { ids[($0 * 7) % ids.count] }, 20), ([ids[1], ids[1], ids[2]], 1)]
    }

    /// /recommend gives the items `idgenrec recommend --run` gives (`ItemTokenRunner.recommend`),
    /// in order, with one worker (the same computation) and, where scores tie within 1e-4, with
    /// two; with `--item-input` off, add and replace (one marker position per history item), and
    /// with a learned history bias (input off: the spans are still needed, for the bias).
    func testRecommendMatchesItemTokenRecommendWithAndWithoutItemInput() throws {
        let domain = try Self.kitchen()
        for run in [try Self.learnedRun.get(), try Self.idMeanAddRun.get(), try Self.learnedReplaceRun.get(), try Self.learnedHistoryBiasRun.get()] {
            let library = try ItemTokenRunner.load(folder: run, domain: domain, dataPath: Self.kitchenPath)
            let queries = Self.queries(domain)
            let expected = try queries.map { try library.recommend(history: $0.0, count: $0.1) }
            for workers in [1, 2] {
                let served = try Self.serve(Self.copy(run), workers: workers)
                defer { served.stop() }
                XCTAssert(served.engine.isItemToken)
                for ((history, k), expected) in zip(queries, expected) {
                    let r = try served.recommend(history, k: k)
                    XCTAssertEqual(r.status, 200, r.text)
                    for (a, b) in zip(r.scores, expected.map(\.score)) { XCTAssertEqual(a, b, accuracy: 1e-4) }
                    ServerTests.assertRanking(r.items, expected.map { ($0.itemID, $0.score) }, exact: workers == 1,
                                              "\(library.settings.rows.rawValue) rows, input \((library.settings.input ?? .off).rawValue), \(workers) workers, history \(history)")
                }
            }
        }
    }

    /// Learned rows cannot score a new item: 422 naming why, nothing written, nothing added.
    func testLearnedRowsRefuseNewItems() throws {
        let served = try Self.serve(Self.copy(Self.learnedRun.get()))
        defer { served.stop() }
        let r = try served.call("POST", "/items", #"[{"id": "new1", "title": "steel chef knife"}]"#)
        XCTAssertEqual(r.status, 422, r.text)
        XCTAssertEqual((r.json as? [String: Any])?["field"] as? String, "items", r.text)
        XCTAssert(r.text.contains("learned item rows"), r.text)
        XCTAssertEqual(try IDTable.read(RunFolder.idsURL(served.run)).count, try Self.kitchen().catalog.count)
        XCTAssertFalse(FileManager.default.fileExists(atPath: AddedItemsFile.url(served.run).path))
        XCTAssertEqual(try served.call("GET", "/items/new1").status, 404)
    }

    /// Item-token runs with user IDs are refused at start-up, as `recommend` refuses them.
    func testUserIDRunsAreRefused() throws {
        let run = try Self.copy(Self.learnedRun.get())
        let url = RunFolder.manifestURL(run)
        var manifest = try JSONOutput.decode(RunManifest.self, from: url)
        manifest.config.useUserIDs = true
        try AtomicFile.writeJSON(manifest, to: url)
        let split = try Split.leaveOneOut(try Self.kitchen(), historyCap: manifest.config.historyCap)
        let users = try UserIDs.assign(split: split, items: IDTable.read(RunFolder.idsURL(run))).ids
        try UserIDs.write(users: split.users, ids: users, to: RunFolder.userIDsURL(run))
        let runner = try ItemTokenRunner.load(folder: run, domain: try Self.kitchen(), dataPath: Self.kitchenPath)
        XCTAssertThrowsError(try ServeEngine(run: run, itemToken: runner)) { error in
            XCTAssert("\(error)".contains("user IDs"), "\(error)")
        }
    }

    /// The ranking over the catalog plus `added` (ids and their served textual IDs) that the
    /// run's head gives when built over the extended item set (`ItemHead.retargeted`, as
    /// zero-shot builds it): the definition of the new items' rows, computed another way.
    static func expected(run: URL, added: [(item: String, textualID: String, text: String)], queries: [([String], Int)],
                         encoder: SentenceEncoder?) throws -> [[(item: String, score: Float)]] {
        let domain = try kitchen()
        let runner = try ItemTokenRunner.load(folder: run, domain: domain, dataPath: kitchenPath)
        let data = runner.trainer.data
        let ids = domain.catalog.ids + added.map(\.item)
        let tokens = data.itemTokens + added.map { data.tokenizer.encode($0.textualID) }
        var content: Tensor?
        if let encoder {
            var catalog = domain.catalog
            for item in added { catalog.append(id: item.item, fields: [TextField("title", item.text)]) }
            let embeddings = ItemEmbeddings(itemIDs: ids, vectors: encoder.encode((0 ..< catalog.count).map { catalog.text(at: $0) }), encoderHash: "", textsHash: "")
            content = try ItemTokenRunner.contentMatrix(embeddings, catalog: catalog, source: "test")
        }
        let head = try runner.model.head.retargeted(itemTokens: tokens, content: content, model: runner.model.t5)
        let model = ItemTokenModel(t5: runner.model.t5, head: head, input: runner.settings.input)
        let index = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        return queries.map { history, k in
            let prompt = data.prompts.encode(history: Array(history.map { index[$0]! }.suffix(data.split.historyCap)), template: 0, itemTokens: tokens, userTokens: nil)
            let scores = model.scores([prompt.tokens], spans: [prompt.itemSpans])
            return withExtendedLifetime(scores) { topK(scores.pointer, count: ids.count, k: k).map { (ids[$0.index], $0.score) } }
        }
    }

    /// Adds two items to a copy of `original`, checks they are ranked by the rows their
    /// definition gives, then restarts and checks the very same rankings come back. Returns the copy.
    @discardableResult
    func checkAddedItemsAreScoredAndSurviveARestart(run original: URL, encoder: URL?) throws -> URL {
        let run = try Self.copy(original)
        var served = try Self.serve(run, encoder: encoder)
        let texts = ["new1": "stainless steel chef knife", "new2": "cast iron skillet pan"]
        let r = try served.call("POST", "/items", #"[{"id": "new1", "title": "\#(texts["new1"]!)"}, {"id": "new2", "title": "\#(texts["new2"]!)"}]"#)
        XCTAssertEqual(r.status, 201, r.text)
        let added: [(item: String, textualID: String, text: String)] = ((r.json as? [String: Any])?["items"] as? [[String: String]] ?? [])
            .map { ($0["item"] ?? "", $0["textual_id"] ?? "", texts[$0["item"] ?? ""] ?? "") }
        XCTAssertEqual(added.map(\.item), ["new1", "new2"])

        let domain = try Self.kitchen()
        let all = domain.catalog.count + 2
        let ids = domain.catalog.ids
        // New items in the history (with --item-input add their rows enter the encoder) and as candidates.
        let queries: [([String], Int)] = [([ids[3], "new1"], all), (["new2"], all), (Array(ids.prefix(4)), all)]
        let expected = try Self.expected(run: run, added: added, queries: queries, encoder: encoder.map { try SentenceEncoder(folder: $0) })
        var before: [[String]] = []
        for ((history, k), expected) in zip(queries, expected) {
            let r = try served.recommend(history, k: k)
            XCTAssertEqual(r.status, 200, r.text)
            XCTAssert(r.items.contains("new1") && r.items.contains("new2"), "every served item is ranked")
            ServerTests.assertRanking(r.items, expected, exact: false, "history \(history)")
            for (a, b) in zip(r.scores, expected.map(\.score)) { XCTAssertEqual(a, b, accuracy: 1e-4) }
            before.append(r.items)
        }

        served.stop()
        served = try Self.serve(run, encoder: encoder)
        defer { served.stop() }
        let health = try served.call("GET", "/health").json as? [String: Any]
        XCTAssertEqual(health?["added_items"] as? Int, 2)
        XCTAssertEqual(health?["scheme"] as? String, "item-token")
        for ((history, k), items) in zip(queries, before) {
            XCTAssertEqual(try served.recommend(history, k: k).items, items, "after a restart, history \(history)")
        }
        return run
    }

    /// id-mean rows (with --item-input add): a new item's row is the mean of its new ID's token
    /// embeddings, in the output table and in the encoder's input; after a restart too.
    func testIDMeanRowsScoreNewItemsAndSurviveARestart() throws {
        try checkAddedItemsAreScoredAndSurviveARestart(run: Self.idMeanAddRun.get(), encoder: nil)
    }

    /// Content rows: a new item's row is its text's sentence embedding (the run's encoder)
    /// through the trained projection; without the encoder POST /items is 501 and a run with
    /// added items does not start (their rows could not be rebuilt).
    func testContentRowsScoreNewItemsWithTheRunsEncoder() throws {
        let run = try Self.copy(Self.contentRun.get())
        do {
            let served = try Self.serve(run, encoder: nil)
            defer { served.stop() }
            let r = try served.call("POST", "/items", #"[{"id": "new1", "title": "steel chef knife"}]"#)
            XCTAssertEqual(r.status, 501, r.text)
            XCTAssert(r.text.contains("sentence encoder"), r.text)
        }
        let withItems = try checkAddedItemsAreScoredAndSurviveARestart(run: run, encoder: Self.tinyBert)
        XCTAssertThrowsError(try Self.serve(withItems, encoder: nil)) { error in
            XCTAssert("\(error)".contains("served-items.json") && "\(error)".contains("sentence encoder"), "\(error)")
        }
    }
}
