import Corpora
import Foundation
import IDGen
import Recommender
import Server
import Support
import TextEncoder
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `idgenrec serve` in-process on an ephemeral loopback port, called over real sockets: every
/// route, the bad inputs of issue 21, concurrent /items, batching, restart from the run folder.
final class ServerTests: XCTestCase {
    static let words = ["soap", "rose", "cream", "mint", "oil", "brush", "comb", "argan", "shampoo", "lotion"]

    static func toyDomain() -> Domain {
        var items: [(id: String, fields: [TextField])] = []
        for i in 0 ..< 20 { items.append((id: "i\(i)", fields: [TextField("title", "\(words[i % 10]) \(words[(i * 3 + 1) % 10]) \(i)")])) }
        var users: [String] = [], sequences: [[Int]] = []
        for u in 0 ..< 16 {
            users.append("u\(u)")
            sequences.append((0 ..< 5).map { (u + 3 * $0) % 20 })
        }
        return Domain(name: "toy", catalog: Catalog(items: items), interactions: Interactions(users: users, sequences: sequences),
                      report: ImportReport(format: .idgenrec, files: []))
    }

    /// One tiny run trained for one epoch on keyword IDs, shared; each test serves a copy.
    static let trainedRun: URL = {
        let folder = ScratchSpace.root.appendingPathComponent("serve-run-\(UUID().uuidString)")
        var config = RecommenderConfig()
        config.preset = .tiny
        config.epochs = 1
        config.batchSize = 8
        config.validationUsers = 8
        config.vocabularySize = 600
        config.numBeams = 4
        let domain = toyDomain()
        let ids = try! IDGeneration.keywords(catalog: domain.catalog, words: 2).table
        let runner = try! RecommenderPipeline.open(folder: folder, inputs: .init(dataPath: "toy", domain: domain, ids: ids, idsSource: "keywords"),
                                                   config: config, resume: false)
        runner.verbose = false
        try! runner.train(resume: false)
        return folder
    }()

    /// A served copy of the trained run.
    final class Served {
        let run: URL
        let engine: ServeEngine
        /// Stops the server as SIGTERM would.
        let shutdown: @Sendable () async -> Void
        let port: Int

        /// Serves `run` (default: a copy of `trainedRun`) on `domain` (default: the toy domain),
        /// following the run's scheme as `idgenrec serve` does.
        init(options: ServeOptions = ServeOptions(), run: URL? = nil, domain: Domain = ServerTests.toyDomain(), dataPath: String = "toy") throws {
            let folder: URL
            if let run {
                folder = run
            } else {
                folder = ScratchSpace.root.appendingPathComponent("serve-copy-\(UUID().uuidString)")
                try FileManager.default.copyItem(at: ServerTests.trainedRun, to: folder)
            }
            self.run = folder
            engine = try ServeEngine.load(run: folder, domain: domain, dataPath: dataPath, options: options)
            let bound = PortBox()
            let group = ServeServer.serviceGroup(engine: engine, host: "127.0.0.1", port: 0, handleSignals: false) { bound.set($0) }
            engine.start()
            shutdown = { await ServeServer.shutdown(group) }
            Task.detached { try? await group.run() }
            guard let port = bound.wait(seconds: 30) else { throw ServeError(500, "the server did not start", field: "") }
            self.port = port
        }

        func stop() {
            let done = DispatchSemaphore(value: 0)
            let shutdown = shutdown
            Task.detached {
                await shutdown()
                done.signal()
            }
            done.wait()
            engine.stop()
        }

        func call(_ method: String, _ path: String, _ body: String? = nil) throws -> (status: Int, json: Any?, text: String) {
            try HTTP.call(port: port, method: method, path: path, body: body.map { Data($0.utf8) })
        }

        /// POST /recommend: the recommendations' items and scores, best first.
        func recommend(_ history: [String], k: Int) throws -> (status: Int, items: [String], scores: [Float], text: String) {
            let body = try JSONSerialization.data(withJSONObject: ["history": history, "k": k])
            let r = try call("POST", "/recommend", String(decoding: body, as: UTF8.self))
            let list = (r.json as? [String: Any])?["recommendations"] as? [[String: Any]] ?? []
            return (r.status, list.compactMap { $0["item"] as? String }, list.compactMap { ($0["score"] as? NSNumber)?.floatValue }, r.text)
        }
    }

    /// `items` (served, best first) against `expected` (the library's): the same items in the
    /// same order when `exact`, else items may trade places only where their scores tie within
    /// 1e-4 (two workers turn the engine's 2-way split off, which sums in another order).
    static func assertRanking(_ items: [String], _ expected: [(item: String, score: Float)], exact: Bool, _ context: String,
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(items.count, expected.count, context, file: file, line: line)
        if exact {
            XCTAssertEqual(items, expected.map(\.item), context, file: file, line: line)
            return
        }
        for (i, item) in items.enumerated() where i < expected.count && item != expected[i].item {
            let tied = expected.contains { $0.item == item && abs($0.score - expected[i].score) < 1e-4 }
            XCTAssert(tied, "\(context): rank \(i + 1) is \(item), the library gives \(expected[i].item) and their scores do not tie", file: file, line: line)
        }
    }

    // MARK: tests

    func testRecommendMatchesTheLibraryAndEveryRouteAnswers() throws {
        // What `idgenrec recommend` prints, computed before any server runs (the engine's 2-way
        // split on, as in the CLI).
        let queries: [([String], Int)] = [(["i0", "i3"], 5), (["i7"], 10), (["i1", "i4", "i7", "i10"], 3)]
        let library = try RecommenderPipeline.load(folder: Self.trainedRun, domain: Self.toyDomain(), dataPath: "toy")
        let expected = try queries.map { try library.recommend(history: $0.0, count: $0.1) }

        // One worker ranks with the split on: the very search `recommend` runs, so the same items
        // in the same order. Two workers turn the split off, which sums the log-sum-exp of the
        // vocabulary in another order: scores may move in the last bits, so only items whose
        // scores tie within 1e-4 may trade places.
        for workers in [1, 2] {
            var options = ServeOptions()
            options.workers = workers
            let served = try Served(options: options)
            defer { served.stop() }
            for ((history, k), expected) in zip(queries, expected) {
                let body = try JSONSerialization.data(withJSONObject: ["history": history, "k": k])
                let r = try served.call("POST", "/recommend", String(decoding: body, as: UTF8.self))
                XCTAssertEqual(r.status, 200, r.text)
                let list = try XCTUnwrap((r.json as? [String: Any])?["recommendations"] as? [[String: Any]])
                let items = list.compactMap { $0["item"] as? String }, scores = list.compactMap { ($0["score"] as? NSNumber)?.floatValue }
                XCTAssertEqual(list.compactMap { $0["rank"] as? Int }, Array(1 ... expected.count))
                XCTAssertEqual(scores.count, expected.count)
                for (a, b) in zip(scores, expected.map(\.score)) { XCTAssertEqual(a, b, accuracy: 1e-4) }
                Self.assertRanking(items, expected.map { ($0.itemID, $0.score) }, exact: workers == 1, "history \(history)")
                if workers == 1 { XCTAssertEqual(list.compactMap { $0["textual_id"] as? String }, expected.map(\.textualID)) }
            }
        }

        let served = try Served()
        defer { served.stop() }
        let runner = library
        for (history, k) in queries {
            _ = try served.call("POST", "/recommend", String(decoding: try JSONSerialization.data(withJSONObject: ["history": history, "k": k]), as: UTF8.self))
        }
        let health = try served.call("GET", "/health")
        XCTAssertEqual(health.status, 200, health.text)
        XCTAssertEqual((health.json as? [String: Any])?["items"] as? Int, 20)
        let item = try served.call("GET", "/items/i3")
        XCTAssertEqual(item.status, 200, item.text)
        XCTAssertEqual((item.json as? [String: Any])?["textual_id"] as? String, runner.trainer.data.ids.textualIDs[3])
        XCTAssertEqual((item.json as? [String: Any])?["added"] as? Bool, false)

        let metrics = try served.call("GET", "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssert(metrics.text.contains(#"idgenrec_http_requests_total{route="/recommend",status="200"} 3"#), metrics.text)
        XCTAssert(metrics.text.contains("idgenrec_http_request_duration_seconds_bucket"), metrics.text)
        XCTAssert(metrics.text.contains("idgenrec_recommend_batch_size_count 3"), metrics.text)
    }

    func testBadInputsGetFourHundredsNamingTheField() throws {
        var options = ServeOptions()
        options.maxBodyBytes = 4096
        let served = try Served(options: options)
        defer { served.stop() }
        let cases: [(method: String, path: String, body: String?, status: Int, field: String)] = [
            ("POST", "/recommend", #"{"history": ["i1", "#, 400, "body"),
            ("POST", "/recommend", #"{"k": 3}"#, 400, "history"),
            ("POST", "/recommend", #"{"history": "i1"}"#, 400, "history"),
            ("POST", "/recommend", #"{"history": ["i1", 7]}"#, 400, "history[1]"),
            ("POST", "/recommend", #"{"history": ["i1", "nope"]}"#, 404, "history[1]"),
            ("POST", "/recommend", #"{"history": []}"#, 400, "history"),
            ("POST", "/recommend", #"{"history": ["i1"], "k": 0}"#, 400, "k"),
            ("POST", "/recommend", #"{"history": ["i1"], "k": 21}"#, 400, "k"),
            ("POST", "/recommend", #"{"history": ["i1"], "k": "3"}"#, 400, "k"),
            ("POST", "/recommend", #"{"history": ["i1"], "user": "u1"}"#, 400, "user"),
            ("POST", "/recommend", #"{"history": [""# + String(repeating: "x", count: 5000) + #""]}"#, 413, "body"),
            ("POST", "/items", "[]", 400, "items"),
            ("POST", "/items", #"{"id": "n1"}"#, 400, "items"),
            ("POST", "/items", #"[{"title": "rose soap"}]"#, 400, "items[0].id"),
            ("POST", "/items", #"[{"id": "n1"}]"#, 400, "items[0]"),
            ("POST", "/items", #"[{"id": "n1", "title": 5}]"#, 400, "items[0].title"),
            ("POST", "/items", #"[{"id": "n1", "title": "a"}, {"id": "n1", "title": "b"}]"#, 409, "items[1].id"),
            ("POST", "/items", #"[{"id": "i4", "title": "rose soap"}]"#, 409, "items[0].id"),
            ("POST", "/items", #"[{"id": "a\tb", "title": "rose soap"}]"#, 400, "items[0].id"),
            ("GET", "/items/none", nil, 404, "id"),
            ("GET", "/nowhere", nil, 404, "path"),
        ]
        for c in cases {
            let r = try served.call(c.method, c.path, c.body)
            XCTAssertEqual(r.status, c.status, "\(c.method) \(c.path) \(c.body?.prefix(60) ?? ""): \(r.text)")
            let error = r.json as? [String: Any]
            XCTAssertEqual(error?["field"] as? String, c.field, "\(c.method) \(c.path) \(c.body?.prefix(60) ?? ""): \(r.text)")
            XCTAssertFalse((error?["error"] as? String ?? "").isEmpty, r.text)
        }
        // Nothing was added, the table is the run's own, and the server still answers.
        XCTAssertEqual(try IDTable.read(RunFolder.idsURL(served.run)).count, 20)
        XCTAssertEqual(try served.call("POST", "/recommend", #"{"history": ["i1"], "k": 2}"#).status, 200)
    }

    func testConcurrentItemsGetUniqueIDsAndAreServedAtOnceAndAfterARestart() throws {
        var served = try Served()
        let calls = 8
        var results = [(status: Int, json: Any?, text: String)?](repeating: nil, count: calls)
        let lock = NSLock()
        // Every call posts two items with the same texts as every other call's.
        concurrently(calls) { c in
            let body = #"[{"id": "new\#(c)a", "title": "argan rose soap", "brand": "Acme", "categories": ["Beauty", "Bath"]},"#
                + #" {"id": "new\#(c)b", "title": "argan rose soap", "description": "a bar"}]"#
            let r = try? served.call("POST", "/items", body)
            lock.lock()
            results[c] = r
            lock.unlock()
        }
        var newIDs: [String: String] = [:]
        for r in results {
            let r = try XCTUnwrap(r)
            XCTAssertEqual(r.status, 201, r.text)
            for entry in (r.json as? [String: Any])?["items"] as? [[String: String]] ?? [] { newIDs[entry["item"]!] = entry["textual_id"]! }
        }
        XCTAssertEqual(newIDs.count, 2 * calls)
        let table = try IDTable.read(RunFolder.idsURL(served.run)) // rejects duplicate IDs
        XCTAssertEqual(table.count, 20 + 2 * calls)
        XCTAssertEqual(Array(table.itemIDs.prefix(20)), Self.toyDomain().catalog.ids, "existing IDs never change")
        let original = try IDTable.read(RunFolder.idsURL(Self.trainedRun))
        XCTAssertEqual(Array(table.textualIDs.prefix(20)), original.textualIDs)
        for (item, id) in newIDs { XCTAssertEqual(table.textualID(of: item), id) }

        // Served at once: in a history, by id, and as a candidate (the trie holds every ID).
        let item = try served.call("GET", "/items/new3a")
        XCTAssertEqual((item.json as? [String: Any])?["added"] as? Bool, true, item.text)
        let r = try served.call("POST", "/recommend", #"{"history": ["i1", "new3a"], "k": 36}"#)
        XCTAssertEqual(r.status, 200, r.text)
        let list = (r.json as? [String: Any])?["recommendations"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(list.compactMap { $0["item"] as? String }).count, list.count)
        XCTAssertEqual((try served.call("GET", "/health").json as? [String: Any])?["items"] as? Int, 36)

        // A restart reads the added items back; `recommend` on the run still loads (it leaves them out).
        served.stop()
        served = try Served(run: served.run)
        defer { served.stop() }
        XCTAssertEqual((try served.call("GET", "/health").json as? [String: Any])?["added_items"] as? Int, 2 * calls)
        XCTAssertEqual(try served.call("GET", "/items/new7b").status, 200)
        XCTAssertEqual(try RecommenderPipeline.load(folder: served.run, domain: Self.toyDomain(), dataPath: "toy").trainer.data.ids.count, 20)
        let again = try served.call("POST", "/items", #"[{"id": "later", "title": "argan rose soap"}]"#)
        XCTAssertEqual(again.status, 201, again.text)
        let laterID = ((again.json as? [String: Any])?["items"] as? [[String: String]])?.first?["textual_id"]
        XCTAssertNotNil(laterID)
        XCTAssertFalse(Set(newIDs.values).union(original.textualIDs).contains(laterID ?? ""))
    }

    /// POST /items gives the IDs `idgenrec ids generate --existing` gives on the catalog with the
    /// new items (same generator, options and word statistics), and leaves the existing ones.
    func testItemsGetTheIDsOfIdsGenerateExisting() throws {
        let served = try Served()
        defer { served.stop() }
        let r = try served.call("POST", "/items", #"[{"id": "n1", "title": "argan rose soap bar"}, {"id": "n2", "title": "argan rose soap bar", "brand": "Acme"}, {"id": "n3", "title": "mint comb", "categories": ["Hair", "Combs"]}]"#)
        XCTAssertEqual(r.status, 201, r.text)
        let servedIDs = ((r.json as? [String: Any])?["items"] as? [[String: String]] ?? []).map { $0["textual_id"] ?? "" }

        var catalog = Self.toyDomain().catalog
        catalog.append(id: "n1", fields: [TextField("title", "argan rose soap bar")])
        catalog.append(id: "n2", fields: [TextField("title", "argan rose soap bar"), TextField("brand", "Acme")])
        catalog.append(id: "n3", fields: [TextField("title", "mint comb"), TextField("categories", "Hair, Combs")])
        let options = IDOptions(), items = ItemText.all(catalog)
        var generator = KeywordCandidateGenerator(extractor: KeywordExtractor(catalog: items, fieldWeights: options.fieldWeights,
                                                                               caseHandling: options.assignment.normalizer.caseHandling),
                                                  items: items, words: options.keywordCount)
        let existing = try IDTable.read(RunFolder.idsURL(Self.trainedRun))
        let table = try IDGeneration.assign(catalog: catalog, generator: &generator, options: options, existing: existing, progress: false).table
        XCTAssertEqual(servedIDs, ["n1", "n2", "n3"].map { table.textualID(of: $0) ?? "?" })
        XCTAssertEqual(Array(table.textualIDs.prefix(20)), existing.textualIDs)
    }

    /// A run on semantic IDs: POST /items names new items with the semantic generator (the table's
    /// saved settings, the encoder of `ServeOptions.encoder`) exactly as `ids generate --generator
    /// semantic --existing` would; without an encoder it answers 501 saying what is missing.
    func testItemsOfASemanticRunGetTheSemanticGeneratorsIDs() throws {
        let tinyBert = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("TextEncoderTests/Fixtures/tiny-bert")
        func semanticRun() throws -> URL {
            let folder = ScratchSpace.root.appendingPathComponent("serve-sem-\(UUID().uuidString)")
            try FileManager.default.copyItem(at: Self.trainedRun, to: folder)
            // The ID source the run names: a table whose metadata says it is semantic.
            let table = folder.appendingPathComponent("source-ids.tsv")
            let existing = try IDTable.read(RunFolder.idsURL(folder))
            try existing.write(to: table)
            var semantic = SemanticWordOptions()
            semantic.diversity = 0.5
            let metadata = IDTableMetadata(data: "toy", items: existing.count, generator: "semantic", generatorHash: nil, tokenizerHash: nil,
                                           options: IDOptions(), report: try IDGeneration.keywords(catalog: Self.toyDomain().catalog, words: 2).report, examples: [], semantic: semantic)
            try AtomicFile.writeJSON(metadata, to: table.appendingPathExtension("json"))
            let manifestURL = folder.appendingPathComponent("run.json")
            var manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as! [String: Any]
            manifest["idsSource"] = table.path
            try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
            return folder
        }
        let body = #"[{"id": "n1", "title": "argan rose soap bar"}, {"id": "n2", "title": "argan rose soap bar", "brand": "Acme"}, {"id": "n3", "title": "mint comb lotion"}]"#

        let without = try Served(run: try semanticRun())
        let refused = try without.call("POST", "/items", body)
        without.stop()
        XCTAssertEqual(refused.status, 501, refused.text)
        XCTAssert(refused.text.contains("sentence encoder"), refused.text)

        var options = ServeOptions()
        options.encoder = tinyBert
        let run = try semanticRun()
        let served = try Served(options: options, run: run)
        defer { served.stop() }
        XCTAssert(served.engine.idSource.hasPrefix("semantic words"), served.engine.idSource)
        let r = try served.call("POST", "/items", body)
        XCTAssertEqual(r.status, 201, r.text)
        let servedIDs = ((r.json as? [String: Any])?["items"] as? [[String: String]] ?? []).map { $0["textual_id"] ?? "" }

        var catalog = Self.toyDomain().catalog
        catalog.append(id: "n1", fields: [TextField("title", "argan rose soap bar")])
        catalog.append(id: "n2", fields: [TextField("title", "argan rose soap bar"), TextField("brand", "Acme")])
        catalog.append(id: "n3", fields: [TextField("title", "mint comb lotion")])
        var semantic = SemanticWordOptions()
        semantic.diversity = 0.5
        let encoder = try SentenceEncoder(folder: tinyBert)
        let vectors = encoder.encode(IDGeneration.embeddingTexts(catalog))
        let existing = try IDTable.read(RunFolder.idsURL(Self.trainedRun))
        let table = try IDGeneration.semantic(catalog: catalog, itemVectors: vectors, encoder: encoder, semanticOptions: semantic,
                                              existing: existing, progress: false).table
        XCTAssertEqual(servedIDs, ["n1", "n2", "n3"].map { table.textualID(of: $0) ?? "?" })
        XCTAssertEqual(Set(servedIDs).count, 3)
        for id in servedIDs { XCTAssertFalse(existing.textualIDs.contains(id)) }
    }

    /// POST /items on a run of semantic codes (issue 19): the run's quantiser codes the new items
    /// exactly as `SemanticCodeAssignment.extend` (what `ids generate --scheme semantic
    /// --existing` calls) does, and they are recommendable at once; 501 without the encoder or
    /// without the quantiser.
    func testItemsOfASemanticCodeRunGetTheQuantisersCodes() throws {
        let tinyBert = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("TextEncoderTests/Fixtures/tiny-bert")
        let domain = Self.toyDomain()
        let encoder = try SentenceEncoder(folder: tinyBert)
        let vectors = encoder.encode(IDGeneration.embeddingTexts(domain.catalog))
        var settings = SemanticQuantiserSettings(kind: .rkmeans)
        settings.levels = 2
        settings.codebookSize = 4
        settings.disambiguationSize = 16
        let trained = try SemanticQuantiserTraining.train(embeddings: vectors, settings: settings)
        let table = try SemanticCodeAssignment.assign(itemIDs: domain.catalog.ids, codes: trained.codes, layout: settings.layout)
        let folder = ScratchSpace.root.appendingPathComponent("serve-codes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        var config = RecommenderConfig()
        config.preset = .tiny
        config.epochs = 1
        config.batchSize = 8
        config.validationUsers = 8
        config.vocabularySize = 600
        config.numBeams = 4
        let runner = try RecommenderPipeline.open(folder: folder, inputs: .init(dataPath: "toy", domain: domain, ids: table, idsSource: "codes",
                                                                               codes: settings.layout),
                                                  config: config, resume: false)
        runner.verbose = false
        try runner.train(resume: false)
        let body = #"[{"id": "n1", "title": "argan rose soap bar"}, {"id": "n2", "title": "argan rose soap bar", "brand": "Acme"}, {"id": "n3", "title": "mint comb lotion"}]"#

        // No quantiser in the run folder yet: 501 naming it.
        var options = ServeOptions()
        options.encoder = tinyBert
        let noQuantiser = try Served(options: options, run: folder)
        let r0 = try noQuantiser.call("POST", "/items", body)
        noQuantiser.stop()
        XCTAssertEqual(r0.status, 501, r0.text)
        XCTAssert(r0.text.contains("quantiser"), r0.text)

        try trained.quantiser.save(to: RunFolder.quantiserURL(folder))
        let noEncoder = try Served(run: folder)
        let r1 = try noEncoder.call("POST", "/items", body)
        noEncoder.stop()
        XCTAssertEqual(r1.status, 501, r1.text)
        XCTAssert(r1.text.contains("sentence encoder"), r1.text)

        let served = try Served(options: options, run: folder)
        defer { served.stop() }
        XCTAssert(served.engine.idSource.hasPrefix("semantic codes"), served.engine.idSource)
        let r = try served.call("POST", "/items", body)
        XCTAssertEqual(r.status, 201, r.text)
        let servedIDs = ((r.json as? [String: Any])?["items"] as? [[String: String]] ?? []).map { $0["textual_id"] ?? "" }

        var catalog = domain.catalog
        catalog.append(id: "n1", fields: [TextField("title", "argan rose soap bar")])
        catalog.append(id: "n2", fields: [TextField("title", "argan rose soap bar"), TextField("brand", "Acme")])
        catalog.append(id: "n3", fields: [TextField("title", "mint comb lotion")])
        let all = encoder.encode(IDGeneration.embeddingTexts(catalog))
        let expected = try SemanticCodeAssignment.extend(existing: table, itemIDs: catalog.ids, embeddings: all, quantiser: trained.quantiser)
        XCTAssertEqual(servedIDs, ["n1", "n2", "n3"].map { expected.textualID(of: $0) ?? "?" })
        XCTAssertEqual(Set(servedIDs).count, 3)
        for id in servedIDs {
            XCTAssertNotNil(settings.layout.codes(of: id), id)
            XCTAssertFalse(table.textualIDs.contains(id))
        }
        let rec = try served.call("POST", "/recommend", #"{"history": ["n1", "i3"], "k": 3}"#)
        XCTAssertEqual(rec.status, 200, rec.text)
    }

    func testConcurrentRecommendsAreBatched() throws {
        var options = ServeOptions()
        options.batchWindow = 0.05
        options.maxBatch = 8
        let served = try Served(options: options)
        defer { served.stop() }
        let calls = 16
        var statuses = [Int](repeating: 0, count: calls)
        var lists = [[String]](repeating: [], count: calls)
        let lock = NSLock()
        concurrently(calls) { c in
            let r = try? served.call("POST", "/recommend", #"{"history": ["i\#(c)", "i\#((c + 3) % 20)"], "k": 4}"#)
            let items = ((r?.json as? [String: Any])?["recommendations"] as? [[String: Any]] ?? []).compactMap { $0["item"] as? String }
            lock.lock()
            statuses[c] = r?.status ?? -1
            lists[c] = items
            lock.unlock()
        }
        XCTAssertEqual(statuses, [Int](repeating: 200, count: calls))
        for list in lists {
            XCTAssert((1 ... 4).contains(list.count) && Set(list).count == list.count, "\(list)")
        }
        let metrics = try served.call("GET", "/metrics").text
        let batches = metrics.split(separator: "\n").first { $0.hasPrefix("idgenrec_recommend_batch_size_count") }
        let count = batches.flatMap { Int($0.split(separator: " ").last ?? "") } ?? .max
        XCTAssertLessThan(count, calls, "16 concurrent requests in fewer passes:\n\(metrics)")
    }
}

extension ServerTests {
    /// The built binary on SIGTERM: an /items request in flight is answered and written, the
    /// process exits 0, and the ID table is whole.
    func testSIGTERMFinishesTheRequestInFlightAndLeavesTheTableWhole() throws {
        let binary = SharedDatasets.packageRoot(from: #filePath).appendingPathComponent(".build/release/idgenrec")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { throw XCTSkip("no built binary at \(binary.path)") }
        let base = ScratchSpace.root.appendingPathComponent("serve-sigterm-\(UUID().uuidString)")
        let run = base.appendingPathComponent("run"), data = base.appendingPathComponent("toy")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.trainedRun, to: run)
        let domain = Self.toyDomain()
        try (0 ..< domain.catalog.count).map { "\(domain.catalog.ids[$0]) \(domain.catalog.text(at: $0))\n" }.joined()
            .write(to: data.appendingPathComponent("item_plain_text.txt"), atomically: true, encoding: .utf8)
        try zip(domain.interactions.users, domain.interactions.sequences).map { u, s in "\(u) " + s.map { domain.catalog.ids[$0] }.joined(separator: " ") + "\n" }.joined()
            .write(to: data.appendingPathComponent("user_sequence.txt"), atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--run", run.path, "--data", data.path, "--port", "0"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var log = ""
        var port: Int?
        let deadline = Date(timeIntervalSinceNow: 60)
        while port == nil, Date() < deadline, process.isRunning {
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            log += String(decoding: chunk, as: UTF8.self)
            if let r = log.range(of: #"listening on http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                port = Int(log[r].split(separator: ":").last ?? "")
            }
        }
        let bound = try XCTUnwrap(port, log)

        // Headers and half the body, then SIGTERM, then the rest: the request is in flight.
        let body = Data(#"[{"id": "late", "title": "argan rose soap"}]"#.utf8)
        let socket = try HTTP.open(port: bound)
        defer { close(socket) }
        try HTTP.send(socket, Data("POST /items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body.prefix(10))
        Thread.sleep(forTimeInterval: 0.3)
        kill(process.processIdentifier, SIGTERM)
        Thread.sleep(forTimeInterval: 0.3)
        try HTTP.send(socket, body.dropFirst(10))
        let response = try HTTP.receive(socket)
        XCTAssertEqual(response.status, 201, response.text)

        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, log + String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        let table = try IDTable.read(RunFolder.idsURL(run))
        XCTAssertEqual(table.count, 21)
        XCTAssertEqual(table.itemIDs.last, "late")
        XCTAssertThrowsError(try HTTP.call(port: bound, method: "GET", path: "/health", body: nil), "no longer accepting")
    }
}

/// Runs `body(0..<count)` on `count` threads at once (`concurrentPerform` runs only as many at a
/// time as there are cores) and waits for all.
func concurrently(_ count: Int, _ body: @escaping (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0 ..< count {
        group.enter()
        Thread {
            body(i)
            group.leave()
        }.start()
    }
    group.wait()
}

/// The bound port, handed from the server task to the test thread.
final class PortBox: @unchecked Sendable {
    // @unchecked: guarded by the semaphore (written once before signal, read after wait).
    private var port: Int?
    private let ready = DispatchSemaphore(value: 0)
    func set(_ port: Int) {
        self.port = port
        ready.signal()
    }
    func wait(seconds: Double) -> Int? {
        ready.wait(timeout: .now() + seconds) == .success ? port : nil
    }
}

/// A blocking HTTP/1.1 client over a loopback socket (one request per connection).
enum HTTP {
    static func call(port: Int, method: String, path: String, body: Data?) throws -> (status: Int, json: Any?, text: String) {
        let fd = try open(port: port)
        defer { close(fd) }
        var request = Data("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".utf8)
        if let body {
            request += Data("Content-Type: application/json\r\nContent-Length: \(body.count)\r\n".utf8)
        }
        request += Data("\r\n".utf8)
        if let body { request += body }
        try send(fd, request)
        return try receive(fd)
    }

    static func open(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServeError(0, "socket() failed", field: "") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw ServeError(0, "connect to 127.0.0.1:\(port) failed (errno \(errno))", field: "")
        }
        return fd
    }

    static func send(_ fd: Int32, _ data: Data) throws {
        data.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { break } // the server may answer 413 and close before reading all
                sent += n
            }
        }
    }

    /// Reads one response: to the end of the connection, or to Content-Length.
    static func receive(_ fd: Int32) throws -> (status: Int, json: Any?, text: String) {
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let text = String(data: response, encoding: .utf8), let headEnd = text.range(of: "\r\n\r\n"),
               let lengthLine = text[..<headEnd.lowerBound].lowercased().split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
               let length = Int(lengthLine.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)),
               text[headEnd.upperBound...].utf8.count >= length {
                break
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response.append(contentsOf: buffer[0 ..< n])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n") else { throw ServeError(0, "no HTTP response: \(text)", field: "") }
        let statusLine = text[..<headEnd.lowerBound].split(separator: "\r\n").first ?? ""
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        let head = text[..<headEnd.lowerBound].lowercased()
        var payload = String(text[headEnd.upperBound...])
        if head.contains("transfer-encoding: chunked") { payload = dechunk(payload) }
        return (status, try? JSONSerialization.jsonObject(with: Data(payload.utf8)), payload)
    }

    static func dechunk(_ text: String) -> String {
        var out = "", rest = Substring(text)
        while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let bytes = Array(rest[start...].utf8)
            out += String(decoding: bytes.prefix(size), as: UTF8.self)
            rest = Substring(String(decoding: bytes.dropFirst(size + 2), as: UTF8.self))
        }
        return out
    }
}
