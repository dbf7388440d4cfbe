import ArgumentParser
import Corpora
import Foundation
import IDGen
import Recommender
import Support
import TensorCore
import TextEncoder

/// `train --scheme item-token` options (issue 20; docs/item-token.md).
struct ItemTokenOptions: ParsableArguments {
    @Option(name: .long, help: "textual-id (generate the item's textual ID under the trie) or item-token (one decoder step scores every item through an item output table).")
    var scheme: String = "textual-id"
    @Option(name: .long, help: "Item-token rows: learned, content (item embeddings through a learned projection; needs --item-embeddings) or id-mean (mean of the item's ID-token embeddings).")
    var itemRows: String = "learned"
    @Option(name: .long, help: "Item-token loss: ce (full softmax), sampled-softmax (logQ-corrected, in-batch + uniform negatives), warp or lambdarank (sampled, corrected rank estimates).")
    var loss: String = "ce"
    @Option(name: .long, help: "Uniform negatives per batch for the sampled losses.") var negatives: Int = 1000
    @Option(name: .long, help: "Item embeddings from 'idgenrec embed' (for --item-rows content).") var itemEmbeddings: String?

    /// Records the scheme in `config`; true for item-token.
    func apply(to config: inout RecommenderConfig, itemContent: Bool = false) throws -> Bool {
        switch scheme {
        case "textual-id":
            guard itemRows == "learned", loss == "ce", itemEmbeddings == nil || itemContent else {
                throw ValidationErrorMessage(message: "--item-rows, --loss and --item-embeddings need --scheme item-token")
            }
            return false
        case RecommenderConfig.itemTokenScheme:
            guard !itemContent else { throw ValidationErrorMessage(message: "--item-content needs --scheme textual-id (the item-token scheme has no content slot yet)") }
            guard let rows = ItemTokenSettings.Rows(rawValue: itemRows) else {
                throw ValidationErrorMessage(message: "--item-rows: expected one of \(ItemTokenSettings.Rows.allCases.map(\.rawValue).joined(separator: ", ")), found '\(itemRows)'")
            }
            guard let l = ItemTokenSettings.Loss(rawValue: loss) else {
                throw ValidationErrorMessage(message: "--loss: expected one of \(ItemTokenSettings.Loss.allCases.map(\.rawValue).joined(separator: ", ")), found '\(loss)'")
            }
            guard negatives > 0 else { throw ValidationErrorMessage(message: "--negatives must be positive") }
            if rows == .content, itemEmbeddings == nil {
                throw ValidationErrorMessage(message: "--item-rows content needs --item-embeddings FILE (idgenrec embed --data … --out FILE)")
            }
            config.scheme = RecommenderConfig.itemTokenScheme
            config.itemToken = ItemTokenSettings(rows: rows, loss: l, negatives: negatives,
                                                 embeddings: itemEmbeddings.map { URL(fileURLWithPath: $0).standardizedFileURL.path })
            return true
        default:
            throw ValidationErrorMessage(message: "--scheme: expected textual-id or item-token, found '\(scheme)'")
        }
    }
}

extension TrainCommand {
    func trainItemToken(domain: Domain, config: RecommenderConfig) throws {
        let (resolved, source) = try idTable(domain)
        let embeddings = try itemToken.itemEmbeddings.map { try ItemEmbeddings.load(URL(fileURLWithPath: $0)) }
        let runner = try ItemTokenRunner.open(
            folder: URL(fileURLWithPath: out),
            inputs: .init(dataPath: data, domain: domain, ids: resolved.table, idsSource: source, initFolder: options.initFrom.map { URL(fileURLWithPath: $0) },
                           encoder: try options.loadEncoder(), codes: resolved.codes, idsURL: resolved.url),
            config: config, embeddings: embeddings, resume: resume)
        let t5 = runner.model.t5.config
        Log.info("training \(t5.d_model)-d T5, item-token scheme (rows \(runner.settings.rows.rawValue), loss \(runner.settings.loss.rawValue)) on \(runner.trainer.batchesPerEpoch()) batches per epoch")
        let start = Date()
        try runner.train()
        let trainSeconds = Date().timeIntervalSince(start)
        let final = try ItemTokenRunner.load(folder: runner.folder, domain: domain, dataPath: data)
        let report = try final.finalTest(dataPath: data, users: testUsers)
        print(report.markdown, terminator: "")
        print(String(format: "training %.0fs; run folder %@", trainSeconds, out))
    }
}

extension BenchRank {
    /// `bench rank` on an item-token run: one decoder step and exact top-`beams` over the whole
    /// catalog for the same seeded users, timed the same way (one untimed batch first).
    func benchItemToken(folder: URL, domain: Domain) throws {
        var runner = try ItemTokenRunner.load(folder: folder, domain: domain, dataPath: data)
        var config = runner.trainer.config
        config.evaluationBatchSize = max(1, batchSize / 4)
        runner = ItemTokenRunner(folder: folder, trainer: RecommenderTrainer(config: config, data: runner.trainer.data), model: runner.model)
        let targets = Evaluator.sample(runner.trainer.data.split.targets(.test), count: users, seed: seed)
        guard !targets.isEmpty else { throw ValidationErrorMessage(message: "\(self.data) has no test users") }
        _ = runner.rank(Array(targets.prefix(batchSize)), k: beams)
        let ((ranked, seconds), flops) = FlopCounter.measure { () -> ([[(index: Int, score: Float)]], Double) in
            let t0 = DispatchTime.now().uptimeNanoseconds
            let r = runner.rank(targets, k: beams)
            return (r, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        let hits = zip(targets, ranked).filter { t, r in r.contains { $0.index == t.target } }.count
        let parameters = runner.model.namedParameters().reduce(0) { $0 + $1.parameter.value.count }
        let result: [String: Any] = [
            "implementation": "swift", "scheme": "item-token", "users": targets.count, "seconds": seconds,
            "users_per_second": Double(targets.count) / seconds, "batch_size": batchSize, "top_k": beams, "threads": threads,
            "items": domain.catalog.count, "recall_at_k": Double(hits) / Double(targets.count), "parameters": parameters,
            "run": runFolder, "data": self.data, "seed": Int(seed), "load_average": Self.loadAverage() as Any,
            "matrix_gflop_per_user": Double(flops) / 1e9 / Double(targets.count),
            "blas_kernel": BLAS.backend.kernel, "openblas_coretype": BLAS.backend.forcedCoreType ?? NSNull(),
        ]
        let json = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: json, as: UTF8.self))
        if let path = self.json { try AtomicFile.write(json + Data("\n".utf8), to: URL(fileURLWithPath: path)) }
    }
}
