import Corpora
import Foundation
import IDGen
import Support
import XCTest
@testable import Recommender

/// End-to-end sanity: on a catalog where the next item is a fixed function of the last one, the
/// whole pipeline (IDs → prompts → training → trie-constrained beam search → metrics) must find
/// it. A bug anywhere on that path (misaligned targets, spans, trie indices, evaluation targets)
/// shows up here as a recall far below 1, where a popularity model gets ~1/items.
final class LearnabilityTests: XCTestCase {
    static let words = ["amber", "basil", "cedar", "dahlia", "elder", "fennel", "ginger", "hazel", "iris", "juniper",
                        "kelp", "lilac", "maple", "nutmeg", "olive", "peony", "quince", "rosemary", "sage", "thyme"]

    /// Items 0..<20; every user walks the cycle i → (i + 7) mod 20 from a random start.
    static func cycleDomain(users: Int, length: Int, seed: UInt64) -> Domain {
        let items = (0 ..< words.count).map { (id: "p\($0)", fields: [TextField("title", "\(words[$0]) candle")]) }
        var rng = SeededGenerator(seed: seed)
        var names: [String] = [], sequences: [[Int]] = []
        for u in 0 ..< users {
            let start = Int(rng.next() % UInt64(words.count))
            names.append("u\(u)")
            sequences.append((0 ..< length).map { (start + 7 * $0) % words.count })
        }
        return Domain(name: "cycle", catalog: Catalog(items: items), interactions: Interactions(users: names, sequences: sequences),
                      report: ImportReport(format: .idgenrec, files: []))
    }

    /// Trains the tiny pipeline on a cycle domain and returns its test metrics and epoch losses.
    static func trainAndTest(dataSeed: UInt64, trainingSeed: UInt64) throws -> (metrics: [String: Double], losses: [Double]) {
        let domain = cycleDomain(users: 160, length: 8, seed: dataSeed)
        var config = RecommenderConfig()
        config.preset = .tiny
        config.epochs = 12
        config.batchSize = 16
        config.learningRate = 3e-3
        config.validationUsers = 40
        config.vocabularySize = 600
        config.numBeams = 5
        config.seed = trainingSeed
        // Test prompts then look like training prompts (3 items), so only the pipeline is tested,
        // not how a tiny model generalises to histories longer than it was trained on.
        config.historyCap = 3
        let ids = try IDGeneration.keywords(catalog: domain.catalog, words: 1).table
        let folder = ScratchSpace.root.appendingPathComponent("learn-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let runner = try RecommenderPipeline.open(folder: folder, inputs: .init(dataPath: "cycle", domain: domain, ids: ids, idsSource: "keywords"),
                                                  config: config, resume: false)
        runner.verbose = false
        let state = try runner.train(resume: false)
        let (report, _) = try runner.evaluate(part: .test, users: nil, progress: false)
        return (report.metrics, state.log.map(\.loss))
    }

    /// The thresholds come from a measured distribution, not from one machine's run: the outcome
    /// depends on the training trajectory, and that on the BLAS kernel's rounding (this test
    /// asserted recall@1 > 0.97; it read 1.0 under OpenBLAS SkylakeX and 0.931 under Haswell and
    /// Zen). `testDistributionOverSeedsAndKernels` (long) measured, on an AMD EPYC with AVX-512,
    /// 2026-12-04, 5 seed pairs × OPENBLAS_CORETYPE Haswell, Zen, SkylakeX, Sandybridge ×
    /// OPENBLAS_L2_SIZE 512 / unset = 40 runs:
    ///   recall@1 1.0 in 34 runs, 0.9437 in 2 (Sandybridge, seed 2), 0.9313 in 4 (Haswell and
    ///   Zen, seed 0); recall@5 1.0 in all 40; MRR ≥ 0.9656 in all 40; final loss 0.057–0.070
    ///   (from 4.13).
    /// recall@1 is left out: it is what moves with the kernel. recall@5 ≥ 0.97 and MRR ≥ 0.93
    /// hold with a margin over the worst run, and still fail far from the bugs this test exists
    /// for (misaligned targets, spans, trie indices, evaluation targets), which popularity-level
    /// recall exposes: popularity gives ~0.05 recall@1 and ~0.25 recall@5 here.
    static let minimumRecallAt5 = 0.97
    static let minimumMRR = 0.93

    func testPipelineLearnsADeterministicNextItem() throws {
        let (metrics, losses) = try Self.trainAndTest(dataSeed: 3, trainingSeed: 0)
        let recall5 = try XCTUnwrap(metrics["recall@5"]), mrr = try XCTUnwrap(metrics["mrr"])
        XCTAssertGreaterThanOrEqual(recall5, Self.minimumRecallAt5, "losses \(losses), metrics \(metrics)")
        XCTAssertGreaterThanOrEqual(mrr, Self.minimumMRR, "losses \(losses), metrics \(metrics)")
        // Training must have fit the cycle: the loss falls by well over an order of magnitude.
        XCTAssertLessThan(try XCTUnwrap(losses.last), 0.1 * (try XCTUnwrap(losses.first)), "losses \(losses)")
    }

    /// Long (IDGENREC_LONG_TESTS=1): the distribution the thresholds above come from, printed as
    /// one line per seed pair, for the kernel this process runs (run it under each
    /// OPENBLAS_CORETYPE; `make test-kernels` does).
    func testDistributionOverSeedsAndKernels() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["IDGENREC_LONG_TESTS"] == "1", "long test: IDGENREC_LONG_TESTS=1")
        let kernel = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "default"
        let l2 = ProcessInfo.processInfo.environment["OPENBLAS_L2_SIZE"] ?? "unset"
        for seed in UInt64(0) ..< 5 {
            let (metrics, losses) = try Self.trainAndTest(dataSeed: 3 + seed, trainingSeed: seed)
            print(String(format: "learnability kernel=%@ l2=%@ seed=%d recall@1=%.4f recall@5=%.4f mrr=%.4f final_loss=%.4f",
                         kernel, l2, Int(seed), metrics["recall@1"] ?? -1, metrics["recall@5"] ?? -1, metrics["mrr"] ?? -1, losses.last ?? -1))
            XCTAssertGreaterThanOrEqual(metrics["recall@5"] ?? 0, Self.minimumRecallAt5, "seed \(seed)")
            XCTAssertGreaterThanOrEqual(metrics["mrr"] ?? 0, Self.minimumMRR, "seed \(seed)")
        }
    }
}
