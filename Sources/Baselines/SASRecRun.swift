import Autograd
import Corpora
import Foundation
import Support
import TensorCore

/// The final report of a SASRec run (`report.json`).
public struct SASRecRunReport: Codable, Sendable {
    public var model: String
    public var data: String
    public var domain: String
    public var modelConfig: SASRecConfig
    public var trainingConfig: SASRecTrainingConfig
    public var parameters: Int
    public var trainingSamplesPerEpoch: Int
    public var training: SASRecTrainingSummary
    /// Test metrics, history items not filtered (IDGenRec protocol).
    public var test: [String: Double]
    /// Test metrics with history items filtered out of the ranking (RecBole convention).
    public var testFilterSeen: [String: Double]
    public var testUsers: Int
    /// Scoring + ranking throughput of the unfiltered test pass (no bootstrap).
    public var testUsersPerSecond: Double
    public var totalSeconds: Double

    public var markdown: String {
        var out = "# \(model) on \(domain)\n\n"
        out += "Data `\(data)`; \(parameters) parameters; d \(modelConfig.hiddenSize), \(modelConfig.blocks) blocks, \(modelConfig.heads) heads, "
        out += String(format: "FFN %d, dropout %.2f/%.2f, max length %d; loss %@, lr %g, batch %d.\n\n",
                      modelConfig.innerSize, modelConfig.hiddenDropout, modelConfig.attentionDropout, modelConfig.maxLength,
                      trainingConfig.loss.rawValue, Double(trainingConfig.learningRate), trainingConfig.batchSize)
        out += String(format: "Training: %d epochs (best %d, valid R@10 %.4f%@), %.1f s (%.1f s/epoch, %d samples/epoch). Test: %d users, %.0f users/s. Total %.1f s.\n\n",
                      training.epochs, training.bestEpoch, training.bestValidationRecall10, training.stoppedEarly ? ", early stop" : "",
                      training.trainSeconds, training.meanEpochSeconds, trainingSamplesPerEpoch, testUsers, testUsersPerSecond, totalSeconds)
        out += "| test metric | history not filtered | history filtered (RecBole) |\n|---|---|---|\n"
        for name in Metrics.names {
            guard let a = test[name], let b = testFilterSeen[name] else { continue }
            out += String(format: "| %@ | %.4f | %.4f |\n", name, a, b)
        }
        return out
    }
}

/// Train, select on validation, test with full ranking, and write the run folder:
/// `checkpoint/` (resumable), `log.json`, `curve.svg`, `model.safetensors` + `config.json`
/// (best weights), `metrics.json|md` + `ranks.tsv` (test, not filtered), `filter-seen/`
/// (test, RecBole convention), `report.json|md`.
public enum SASRecRun {
    public static func run(domain: Domain, data: String, model modelConfig: SASRecConfig, training: SASRecTrainingConfig,
                           runDirectory: URL, resume: Bool = false, progress: Bool = true,
                           testUsers: Int? = nil) throws -> SASRecRunReport {
        let start = Date()
        let split = try Split.leaveOneOut(domain)
        var init0 = SeededGenerator(seed: training.seed &+ 0x5A5)
        let model = try SASRec(config: modelConfig, generator: &init0)
        let trainer = try SASRecTrainer(model: model, split: split, catalog: domain.catalog, config: training, data: data,
                                        runDirectory: runDirectory)
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        if progress {
            Log.info("SASRec (\(training.loss.rawValue)): \(split.users.count) users, \(split.itemCount) items, \(trainer.windows.count) windows, \(trainer.windows.sampleCount) samples/epoch, \(model.parameterCount) parameters")
        }
        let summary = try trainer.train(resume: resume, progress: progress)
        try ParameterIO.save(model.namedParameters(), metadata: ["format": "idgenrec-sasrec-1"],
                             to: runDirectory.appendingPathComponent("model.safetensors"))
        try AtomicFile.writeJSON(modelConfig, to: runDirectory.appendingPathComponent("config.json"))

        let name = "SASRec-\(training.loss.rawValue.uppercased())"
        let evaluator = Evaluator(split: split, catalog: domain.catalog)
        var targets = split.test
        if let testUsers { targets = Evaluator.sample(targets, count: testUsers, seed: training.seed) }
        var config: [String: String] = [
            "loss": training.loss.rawValue, "hidden_size": "\(modelConfig.hiddenSize)", "blocks": "\(modelConfig.blocks)",
            "heads": "\(modelConfig.heads)", "inner_size": "\(modelConfig.innerSize)", "dropout": "\(modelConfig.hiddenDropout)",
            "max_length": "\(modelConfig.maxLength)", "lr": "\(training.learningRate)", "batch_size": "\(training.batchSize)",
            "best_epoch": "\(summary.bestEpoch)", "epochs": "\(summary.epochs)", "seed": "\(training.seed)",
        ]
        var reports: [Bool: MetricsReport] = [:]
        for filterSeen in [false, true] {
            config["filter_seen"] = "\(filterSeen)"
            let (report, ranks) = try evaluator.evaluate(
                model: name, part: .test, ranking: model.ranking(expected: targets, batchSize: training.evalBatchSize), data: data,
                config: config, filterSeen: filterSeen, userSample: testUsers, seed: training.seed, progress: progress)
            let folder = filterSeen ? runDirectory.appendingPathComponent("filter-seen") : runDirectory
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try EvaluationRun.save(report: report, ranks: ranks, folder: folder)
            reports[filterSeen] = report
        }
        // Throughput without the bootstrap: time one more scoring + ranking pass.
        let t0 = Date()
        _ = try evaluator.ranks(targets, ranking: model.ranking(expected: targets, batchSize: training.evalBatchSize))
        let rankSeconds = Date().timeIntervalSince(t0)
        let report = SASRecRunReport(
            model: name, data: data, domain: split.domainName, modelConfig: modelConfig, trainingConfig: training,
            parameters: model.parameterCount, trainingSamplesPerEpoch: trainer.windows.sampleCount, training: summary,
            test: reports[false]!.metrics, testFilterSeen: reports[true]!.metrics, testUsers: targets.count,
            testUsersPerSecond: Double(targets.count) / max(rankSeconds, 1e-9), totalSeconds: Date().timeIntervalSince(start))
        try AtomicFile.writeJSON(report, to: runDirectory.appendingPathComponent("report.json"))
        try AtomicFile.write(report.markdown, to: runDirectory.appendingPathComponent("report.md"))
        return report
    }
}
