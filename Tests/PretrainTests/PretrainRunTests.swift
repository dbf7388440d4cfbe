import Corpora
import Foundation
import IDGen
@testable import Recommender
import Support
import T5
import Tokenizer
import XCTest
@testable import Pretrain

final class PretrainRunTests: XCTestCase {
    /// A small catalog of product titles; each user's last two items (validation, test) have
    /// titles found nowhere else ("HELDOUTVAL…", "HELDOUTTEST…").
    func domain(users: Int = 24) -> Domain {
        let words = ["soap", "rose", "cream", "mint", "oil", "brush", "comb", "argan", "shampoo", "lotion", "lavender", "serum"]
        var items: [(id: String, fields: [TextField])] = []
        for i in 0 ..< 40 {
            items.append((id: "i\(i)", fields: [TextField("title", "\(words[i % 12]) \(words[(i * 5 + 1) % 12]) \(words[(i * 7 + 3) % 12]) pack"),
                                                TextField("categories", "Beauty, \(words[(i * 3) % 12])")]))
        }
        var sequences: [[Int]] = []
        for u in 0 ..< users {
            let v = items.count, t = items.count + 1
            items.append((id: "val\(u)", fields: [TextField("title", "HELDOUTVAL\(u) item")]))
            items.append((id: "test\(u)", fields: [TextField("title", "HELDOUTTEST\(u) item")]))
            sequences.append((0 ..< 4 + u % 3).map { (u + 3 * $0) % 40 } + [v, t])
        }
        return Domain(name: "toy", catalog: Catalog(items: items),
                      interactions: Interactions(users: (0 ..< users).map { "u\($0)" }, sequences: sequences),
                      report: ImportReport(format: .idgenrec, files: []))
    }

    func temporary(_ name: String) -> URL {
        ScratchSpace.root.appendingPathComponent("pretrain-\(name)-\(UUID().uuidString)")
    }

    func tinyConfig(steps: Int) -> PretrainConfig {
        var c = PretrainConfig()
        c.preset = .tiny
        c.vocabularySize = 600
        c.sequenceLength = 32
        c.batchSize = 8
        c.learningRate = 3e-3
        c.budget = .steps(steps)
        c.checkpointEvery = 4
        return c
    }

    /// Behaviour documents hold every user's training items and never a validation or test item.
    func testBehaviourTextHasNoHeldOutItems() throws {
        let d = domain()
        let corpus = try PretrainCorpus.build([PretrainSource(path: "toy", domain: d)], behaviour: .titles)
        let s = corpus.sources[0]
        XCTAssertEqual(s.itemDocuments, d.catalog.count)
        XCTAssertEqual(s.behaviourDocuments, 24)
        let behaviour = corpus.documents[s.itemDocuments...]
        for doc in behaviour { XCTAssertFalse(doc.contains("HELDOUT"), doc) }
        // The held-out titles are in the item text (the catalog is not interaction data) …
        XCTAssert(corpus.documents[..<s.itemDocuments].contains { $0.contains("HELDOUTTEST3") })
        // … and the behaviour text is the training part, titles joined by " ; ".
        let titles = d.interactions.sequences[1].dropLast(2).map { d.catalog.value("title", at: $0)! }
        XCTAssertEqual(behaviour[behaviour.startIndex + 1], titles.joined(separator: " ; "))
        // Without behaviour text: item documents only; the hash tells the two corpora apart.
        let itemsOnly = try PretrainCorpus.build([PretrainSource(path: "toy", domain: d)], behaviour: .none)
        XCTAssertEqual(itemsOnly.documents.count, d.catalog.count)
        XCTAssertNotEqual(itemsOnly.sources[0].sha256, s.sha256)
    }

    func testEmptyCatalogIsAClearError() {
        let empty = Domain(name: "empty", catalog: Catalog(items: [(id: "a", fields: [TextField("title", "  ")])]),
                           interactions: Interactions(users: [], sequences: []), report: ImportReport(format: .idgenrec, files: []))
        XCTAssertThrowsError(try PretrainCorpus.build([PretrainSource(path: "/data/empty", domain: empty)], behaviour: .titles)) { error in
            XCTAssert("\(error)".contains("/data/empty") && "\(error)".contains("no text"), "\(error)")
        }
    }

    /// A tiny run writes a Hugging Face T5 folder that loads, and the recommender (train
    /// --init-from) and the generator bootstrap (ids/cotrain) start from its weights and tokenizer.
    func testTinyRunIsAcceptedAsInitialisation() throws {
        let d = domain()
        let out = temporary("e2e")
        let corpus = try PretrainCorpus.build([PretrainSource(path: "toy", domain: d)], behaviour: .titles)
        let trainer = Pretrainer(folder: out, config: tinyConfig(steps: 6))
        trainer.verbose = false
        let manifest = try trainer.run(corpus: corpus, resume: false)
        XCTAssertEqual(manifest.status, "finished")
        XCTAssertEqual(manifest.stepsDone, 6)
        XCTAssertNotNil(manifest.finalLoss)
        for name in ["config.json", "model.safetensors", "spiece.model", "pretrain.json", "log.json", "curve.svg"] {
            XCTAssert(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), name)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("last").path), "checkpoint removed at the end")
        let saved = try JSONOutput.decode(PretrainManifest.self, from: out.appendingPathComponent("pretrain.json"))
        XCTAssertEqual(saved.sources.map(\.sha256), corpus.sources.map(\.sha256))
        let model = try T5Model.load(folder: out)
        let tokenizer = try Tokenizer(contentsOf: out.appendingPathComponent("spiece.model"))
        XCTAssertEqual(model.config.vocab_size, tokenizer.vocabularySize)
        XCTAssertEqual(tokenizer.sentinelIDs().count, 100)

        // Recommender: RecommenderPipeline.open with initFolder (what `train --init-from` does).
        var rc = RecommenderConfig()
        rc.epochs = 1
        rc.batchSize = 16
        rc.validationUsers = 8
        rc.numBeams = 4
        let ids = try IDGeneration.keywords(catalog: d.catalog, words: 2).table
        let run = temporary("rec")
        let runner = try RecommenderPipeline.open(folder: run, inputs: .init(dataPath: "toy", domain: d, ids: ids, idsSource: "keywords", initFolder: out),
                                                  config: rc, resume: false)
        runner.verbose = false
        XCTAssertEqual(try Tokenizer(contentsOf: RunFolder.tokenizerURL(run)).modelHash, tokenizer.modelHash)
        XCTAssertEqual(runner.model.shared.value.scalars, model.shared.value.scalars)
        // Interrupted before its first epoch ended: a resume starts again from the init folder
        // (run.json's initFrom), not from a seeded random model.
        let reopened = try RecommenderPipeline.open(folder: run, inputs: .init(dataPath: "toy", domain: d, ids: ids, idsSource: "keywords"),
                                                    config: rc, resume: true)
        XCTAssertEqual(reopened.model.shared.value.scalars, model.shared.value.scalars)
        XCTAssertEqual(reopened.model.namedParameters().count, model.namedParameters().count)
        // run.json records where the model came from, not the (unused) preset default.
        let runManifest = try JSONOutput.decode(RunManifest.self, from: RunFolder.manifestURL(run))
        XCTAssertEqual(runManifest.config.initFrom, out.standardizedFileURL.path)
        XCTAssertEqual(runManifest.model.d_model, model.config.d_model)
        XCTAssertEqual(runner.configSummary()["preset"], "init from \(out.standardizedFileURL.path)")
        let state = try runner.train(resume: false)
        XCTAssertEqual(state.completedEpochs, 1)
        XCTAssert(state.log[0].loss.isFinite)

        // Generator: bootstrapped from the pre-trained weights and vocabulary.
        var gc = GeneratorConfig()
        gc.epochs = 1
        gc.batchSize = 16
        let generator = try GeneratorFolder.bootstrap(catalogs: [d.catalog], config: gc, initFrom: out, verbose: false)
        XCTAssertEqual(generator.tokenizer.modelHash, tokenizer.modelHash)
        XCTAssertEqual(generator.model.config, model.config)
    }

    /// Stopped after 4 of 8 steps (a checkpoint) and resumed: the same weights as a run straight through.
    func testResumeEqualsUninterruptedRun() throws {
        let corpus = try PretrainCorpus.build([PretrainSource(path: "toy", domain: domain())], behaviour: .titles)
        let a = temporary("a"), b = temporary("b")
        let straight = Pretrainer(folder: a, config: tinyConfig(steps: 8))
        straight.verbose = false
        try straight.run(corpus: corpus, resume: false)
        let first = Pretrainer(folder: b, config: tinyConfig(steps: 8))
        first.verbose = false
        let partial = try first.run(corpus: corpus, resume: false, stopAfter: 4)
        XCTAssertEqual(partial.status, "running")
        XCTAssertThrowsError(try first.run(corpus: corpus, resume: false)) { XCTAssert("\($0)".contains("--resume"), "\($0)") }
        let done = try first.run(corpus: corpus, resume: true)
        XCTAssertEqual(done.stepsDone, 8)
        let x = try T5Model.load(folder: a), y = try T5Model.load(folder: b)
        for (p, q) in zip(x.namedParameters(), y.namedParameters()) {
            XCTAssertEqual(p.parameter.value.scalars, q.parameter.value.scalars, p.name)
        }
        // Other settings on resume are refused.
        var other = tinyConfig(steps: 8)
        other.learningRate = 1e-2
        let c = temporary("c")
        let third = Pretrainer(folder: c, config: tinyConfig(steps: 8))
        third.verbose = false
        try third.run(corpus: corpus, resume: false, stopAfter: 4)
        XCTAssertThrowsError(try Pretrainer(folder: c, config: other).run(corpus: corpus, resume: true)) { XCTAssert("\($0)".contains("other settings"), "\($0)") }
    }

    /// ~50 steps on a tiny corpus; returns the mean loss of the first and last five steps.
    func lossFall(seed: UInt64) throws -> (first: Double, last: Double, log: [PretrainLogPoint], manifest: PretrainManifest) {
        let corpus = try PretrainCorpus.build([PretrainSource(path: "toy", domain: domain())], behaviour: .titles)
        var config = tinyConfig(steps: 50)
        config.checkpointEvery = 1000
        config.seed = seed
        let trainer = Pretrainer(folder: temporary("loss"), config: config)
        defer { try? FileManager.default.removeItem(at: trainer.folder) }
        trainer.verbose = false
        let manifest = try trainer.run(corpus: corpus, resume: false)
        let log = try JSONOutput.decode([PretrainLogPoint].self, from: trainer.folder.appendingPathComponent("log.json"))
        let first = Double(log.prefix(5).map(\.loss).reduce(0, +)) / 5
        let last = Double(log.suffix(5).map(\.loss).reduce(0, +)) / 5
        return (first, last, log, manifest)
    }

    /// The threshold comes from a measured distribution (`testLossFallDistribution`, long): the
    /// trajectory follows the BLAS kernel's rounding. Measured 2026-12-06 on an AMD EPYC with
    /// AVX-512, seeds 0-4 × OPENBLAS_CORETYPE Haswell, Zen, SkylakeX, Sandybridge ×
    /// OPENBLAS_L2_SIZE 512 / unset = 40 runs (`make test-kernels LONG=1 KERNEL_TESTS=Distribution`):
    /// mean loss of the first five steps 5.54-5.94, of the last five 3.16-3.47, ratio 0.539-0.585.
    /// 0.75 holds with a margin and still fails a run that does not learn.
    static let maximumLossRatio = 0.75

    /// ~50 steps on a tiny corpus: the loss falls well below where it started.
    func testLossDecreases() throws {
        let (first, last, log, manifest) = try lossFall(seed: 0)
        XCTAssertEqual(log.count, 50)
        XCTAssertLessThan(last, first * Self.maximumLossRatio, "loss \(first) → \(last)")
        XCTAssertEqual(manifest.finalLoss, log.last?.loss)
    }

    /// Long (IDGENREC_LONG_TESTS=1): the distribution behind `maximumLossRatio`, one line per seed.
    func testLossFallDistribution() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["IDGENREC_LONG_TESTS"] == "1", "long test: IDGENREC_LONG_TESTS=1")
        let env = ProcessInfo.processInfo.environment
        for seed in UInt64(0) ..< 5 {
            let (first, last, _, _) = try lossFall(seed: seed)
            print(String(format: "distribution pretrain-loss kernel=%@ l2=%@ seed=%d first=%.4f last=%.4f loss_ratio=%.4f",
                         env["OPENBLAS_CORETYPE"] ?? "default", env["OPENBLAS_L2_SIZE"] ?? "unset", Int(seed), first, last, last / first))
            XCTAssertLessThan(last, first * Self.maximumLossRatio, "seed \(seed)")
        }
    }

    /// A minutes budget times the first steps and fits the step count to it.
    func testMinutesBudgetFitsTheSchedule() throws {
        let corpus = try PretrainCorpus.build([PretrainSource(path: "toy", domain: domain())], behaviour: .none)
        var config = tinyConfig(steps: 1)
        config.budget = .minutes(0.04) // 2.4 s
        config.checkpointEvery = 10_000
        let trainer = Pretrainer(folder: temporary("budget"), config: config)
        trainer.verbose = false
        let start = Date()
        let manifest = try trainer.run(corpus: corpus, resume: false, budgetStart: start)
        let perStep = try XCTUnwrap(manifest.secondsPerStepCalibrated)
        XCTAssertGreaterThan(manifest.totalSteps, 1)
        XCTAssertEqual(manifest.stepsDone, manifest.totalSteps)
        XCTAssertGreaterThan(perStep, 0)
        // Fitted (and re-fitted) to the budget; loose bound for a loaded machine.
        XCTAssertLessThan(manifest.wallSeconds, 2.4 * 2 + 1)
    }
}
