import Corpora
import Foundation
import IDGen
import Support
import TensorCore
import TextEncoder
import XCTest
@testable import Recommender

/// `--resume` of an item-token run: a run stopped after epoch 1 and resumed equals one that ran
/// 2 epochs straight, bit for bit (T5 and item head weights, loss and validation log, step
/// count), for the full softmax, a sampled loss (its negative-sampling generator is restored),
/// content rows and id-mean rows; settings that contradict the run's, and a last/ without
/// optimizer state, are refused by name. Both runs use the same binary in the same process, so
/// exact equality is a fair test on any CPU and BLAS kernel.
final class ItemTokenResumeTests: XCTestCase {
    func runner(_ folder: URL, domain: Domain, settings: ItemTokenSettings, embeddings: ItemEmbeddings?, resume: Bool) throws -> ItemTokenRunner {
        var config = ResumeTests.toyConfig()
        config.numBeams = RecommenderConfig().numBeams // the ranked list length; no beams here
        config.scheme = RecommenderConfig.itemTokenScheme
        config.itemToken = settings
        let ids = try IDGeneration.keywords(catalog: domain.catalog, words: 2).table
        let r = try ItemTokenRunner.open(folder: folder, inputs: .init(dataPath: "toy", domain: domain, ids: ids, idsSource: "keywords"),
                                         config: config, embeddings: embeddings, resume: resume)
        r.verbose = false
        return r
    }

    func testResumeEqualsUninterruptedRun() throws {
        XCTAssertEqual(ItemTokenSettings.Rows.allCases.map(\.headParameters), [1, 1, 0, 2])
        let domain = ResumeTests.toyDomain()
        let embeddings = ItemContentResumeTests.toyEmbeddings(domain)
        let cases: [ItemTokenSettings] = [
            .init(rows: .learned, loss: .ce),
            .init(rows: .learned, loss: .sampledSoftmax, negatives: 5),
            .init(rows: .content, loss: .ce, embeddings: "test"),
            .init(rows: .idMean, loss: .lambdarank, negatives: 6),
            .init(rows: .content, loss: .ce, embeddings: "test", input: .add),
            .init(rows: .hybrid, loss: .ce, embeddings: "test", input: .add),
        ]
        for settings in cases {
            let name = "\(settings.rows.rawValue)/\(settings.loss.rawValue)/input \((settings.input ?? .off).rawValue)"
            let e = settings.rows.readsContent ? embeddings : nil
            let base = ScratchSpace.root.appendingPathComponent("item-token-resume-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: base) }
            let straight = try runner(base.appendingPathComponent("a"), domain: domain, settings: settings, embeddings: e, resume: false)
            let a = try straight.train()

            let first = try runner(base.appendingPathComponent("b"), domain: domain, settings: settings, embeddings: e, resume: false)
            let one = try first.train(stopAfter: 1) // as if killed after epoch 1
            XCTAssertEqual(one.completedEpochs, 1, name)
            if settings.loss != .ce { XCTAssertNotNil(one.negatives, "\(name): the sampling generator is saved") }
            // Resumed with the run's settings; content rows come from the run's copy (no embeddings passed).
            let second = try runner(base.appendingPathComponent("b"), domain: domain, settings: settings, embeddings: nil, resume: true)
            let b = try second.train(resume: true)

            XCTAssertEqual(a.completedEpochs, 2, name)
            XCTAssertEqual(a.globalStep, b.globalStep, name)
            XCTAssertEqual(a.log.map(\.loss), b.log.map(\.loss), name)
            XCTAssertEqual(a.log.map(\.validation), b.log.map(\.validation), name)
            XCTAssertEqual(a.bestEpoch, b.bestEpoch, name)
            XCTAssertEqual(a.negatives, b.negatives, name)
            let p = straight.model.namedParameters(), q = second.model.namedParameters()
            XCTAssertEqual(p.map(\.name), q.map(\.name), name)
            XCTAssertEqual(p.count, straight.model.t5.namedParameters().count + settings.rows.headParameters, "\(name): the head's table, projection or residuals are compared too")
            for (x, y) in zip(p, q) {
                XCTAssert(x.parameter.value.scalars == y.parameter.value.scalars, "\(name): \(x.name) differs after resume")
            }
            // The resumed folder's log.json is the straight run's log (up to timings).
            let logA = try JSONOutput.decode([EpochLog].self, from: base.appendingPathComponent("a/log.json"))
            let logB = try JSONOutput.decode([EpochLog].self, from: base.appendingPathComponent("b/log.json"))
            XCTAssertEqual(logA.map(\.loss), logB.map(\.loss), name)
            XCTAssertEqual(logA.map(\.epoch), [1, 2], name)
            // The saved last/ model ranks like the in-memory one: exact top-k, catalog items.
            let loaded = try ItemTokenRunner.load(folder: base.appendingPathComponent("b"), domain: domain, dataPath: "toy", checkpoint: .last)
            let targets = Array(straight.trainer.data.split.test.prefix(6))
            let ranked = loaded.rank(targets, k: 5)
            XCTAssertEqual(ranked.map { $0.map(\.index) }, straight.rank(targets, k: 5).map { $0.map(\.index) }, name)
            for list in ranked {
                XCTAssertEqual(list.count, 5, name)
                XCTAssertEqual(Set(list.map(\.index)).count, 5, name)
                XCTAssert(list.allSatisfy { (0 ..< domain.catalog.count).contains($0.index) }, name)
            }
        }
    }

    /// Contradicting settings, the wrong scheme and an old last/ without optimizer state are
    /// refused with a message that names them; nothing is trained or overwritten.
    func testContradictionsAndOldRunsAreRefused() throws {
        let domain = ResumeTests.toyDomain()
        let folder = ScratchSpace.root.appendingPathComponent("item-token-refuse-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let settings = ItemTokenSettings(rows: .learned, loss: .warp, negatives: 5)
        try runner(folder, domain: domain, settings: settings, embeddings: nil, resume: false).train(stopAfter: 1)
        let state = try Data(contentsOf: RunFolder.lastURL(folder).appendingPathComponent("state.json"))
        let manifest = try Data(contentsOf: RunFolder.manifestURL(folder))

        XCTAssertThrowsError(try runner(folder, domain: domain, settings: .init(rows: .learned, loss: .ce), embeddings: nil, resume: true)) {
            XCTAssert("\($0)".contains("loss 'ce' (the run's: 'warp')"), "\($0)")
        }
        XCTAssertThrowsError(try runner(folder, domain: domain, settings: .init(rows: .learned, loss: .warp, negatives: 7), embeddings: nil, resume: true)) {
            XCTAssert("\($0)".contains("negatives 7 (the run's: 5)"), "\($0)")
        }
        XCTAssertThrowsError(try runner(folder, domain: domain, settings: .init(rows: .learned, loss: .warp, negatives: 5, input: .add), embeddings: nil, resume: true)) {
            XCTAssert("\($0)".contains("item input 'add' (the run's: 'off')"), "\($0)")
        }
        // Without resume the folder is not overwritten.
        XCTAssertThrowsError(try runner(folder, domain: domain, settings: settings, embeddings: nil, resume: false)) {
            XCTAssert("\($0)".contains("--resume"), "\($0)")
        }
        // The textual-ID pipeline does not resume an item-token run (nor the reverse).
        var textual = RecommenderConfig()
        textual.preset = .tiny
        let ids = try IDGeneration.keywords(catalog: domain.catalog, words: 2).table
        XCTAssertThrowsError(try RecommenderPipeline.open(folder: folder, inputs: .init(dataPath: "toy", domain: domain, ids: ids, idsSource: "keywords"),
                                                          config: textual, resume: true)) {
            XCTAssert("\($0)".contains("is an item-token run"), "\($0)")
        }
        // Another catalog is refused by its size.
        var items = (0 ..< domain.catalog.count).map { (id: domain.catalog.ids[$0], fields: [TextField("title", domain.catalog.text(at: $0))]) }
        items.append((id: "extra", fields: [TextField("title", "extra item")]))
        let larger = Domain(name: "toy", catalog: Catalog(items: items), interactions: domain.interactions, report: domain.report)
        XCTAssertThrowsError(try runner(folder, domain: larger, settings: settings, embeddings: nil, resume: true)) {
            XCTAssert("\($0)".contains("20 items"), "\($0)")
        }
        // A last/ written before item-token resume existed (no optimizer state) is refused.
        try FileManager.default.removeItem(at: RunFolder.lastURL(folder).appendingPathComponent("optimizer.json"))
        XCTAssertThrowsError(try runner(folder, domain: domain, settings: settings, embeddings: nil, resume: true)) {
            XCTAssert("\($0)".contains("no optimizer state"), "\($0)")
        }
        XCTAssertEqual(try Data(contentsOf: RunFolder.lastURL(folder).appendingPathComponent("state.json")), state, "last/ untouched")
        XCTAssertEqual(try Data(contentsOf: RunFolder.manifestURL(folder)), manifest, "run.json untouched by every refusal")
    }
}

extension ItemTokenSettings.Rows {
    /// Parameters of the head itself.
    var headParameters: Int { switch self { case .learned, .content: 1; case .idMean: 0; case .hybrid: 2 } }
}
