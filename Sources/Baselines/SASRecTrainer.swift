import Autograd
import Corpora
import Foundation
import Optim
import Support
import TensorCore

/// How SASRec is trained. Defaults: the reference run of REFERENCE-RESULTS.md (Adam 1e-3,
/// batch 256, early stopping on validation Recall@10).
public struct SASRecTrainingConfig: Codable, Equatable, Sendable {
    public var loss: SASRecLoss = .ce
    /// Upper bound; early stopping usually ends sooner.
    public var epochs = 200
    /// Windows (user sequences) per step; every real position of a window is a training sample.
    public var batchSize = 256
    public var learningRate: Float = 1e-3
    /// AdamW decoupled weight decay; 0 = Adam (RecBole's default `weight_decay` 0).
    public var weightDecay: Float = 0
    /// Stop after this many epochs without a better validation Recall@10 (ties: NDCG@10).
    public var patience = 5
    public var seed: UInt64 = 0
    /// Validation users for early stopping: a seeded random sample of this size (nil = all).
    public var evalUsers: Int?
    /// Users scored per batched forward at evaluation.
    public var evalBatchSize = 512
    /// Length bucketing: windows are sorted by length within pools of this many batches
    /// (0 = plain random batches). See `SASRecTrainer.batchOrder`.
    public var lengthPoolBatches = 32

    public init(loss: SASRecLoss = .ce) { self.loss = loss }

    public func validate() throws {
        func bad(_ key: String, _ value: Any, _ expected: String) -> BaselinesError {
            .invalidConfig(key: key, value: "\(value)", expected: expected)
        }
        guard epochs >= 1 else { throw bad("epochs", epochs, "at least 1") }
        guard batchSize >= 1 else { throw bad("batch_size", batchSize, "at least 1") }
        guard learningRate > 0, learningRate.isFinite else { throw bad("lr", learningRate, "a positive learning rate") }
        guard weightDecay >= 0 else { throw bad("weight_decay", weightDecay, "0 or more") }
        guard patience >= 1 else { throw bad("patience", patience, "at least 1") }
        if let evalUsers, evalUsers < 1 { throw bad("eval_users", evalUsers, "at least 1 (or omit for all users)") }
        guard evalBatchSize >= 1 else { throw bad("eval_batch_size", evalBatchSize, "at least 1") }
    }
}

/// One epoch in the training log.
public struct SASRecEpochRecord: Codable, Equatable, Sendable {
    public var epoch: Int
    /// Mean training loss over the epoch's steps.
    public var loss: Double
    public var trainSeconds: Double
    /// Training samples (real positions = prefixes) per second.
    public var samplesPerSecond: Double
    public var validationRecall10: Double
    public var validationNDCG10: Double
    public var validationSeconds: Double
    public var best: Bool
}

/// Training windows: each user's training part cut into windows of at most maxLength + 1
/// items from the end, so every item after the first is a target exactly once (all prefixes;
/// the history of a target in an earlier window is cut at the window start). Inputs are a
/// window without its last item, targets the window without its first.
public struct TrainingWindows: Sendable {
    public var inputs: [[Int]]
    public var targets: [[Int]]
    /// Index into `Split.users` of each window (for negative sampling).
    public var users: [Int]

    public init(split: Split, maxLength: Int) {
        inputs = []; targets = []; users = []
        for (u, items) in split.train.enumerated() {
            var end = items.count
            while end >= 2 {
                let start = max(0, end - maxLength - 1)
                inputs.append(Array(items[start ..< end - 1]))
                targets.append(Array(items[start + 1 ..< end]))
                users.append(u)
                end = start + 1
            }
        }
    }

    public var count: Int { inputs.count }
    public var sampleCount: Int { targets.reduce(0) { $0 + $1.count } }
}

/// Everything a checkpoint holds besides the tensors.
struct SASRecCheckpointState: Codable {
    var format = "idgenrec-sasrec-1"
    var model: SASRecConfig
    var training: SASRecTrainingConfig
    var data: String
    var epochsDone: Int
    var bestEpoch: Int
    var bestValidationRecall10: Double
    var bestValidationNDCG10: Double
    var epochsWithoutImprovement: Int
    /// Shuffling, negative sampling and dropout draw from this stream, in that order per step.
    var generator: SeededGenerator
    var history: [SASRecEpochRecord]
    var trainSeconds: Double
}

/// Result of `SASRecTrainer.train`.
public struct SASRecTrainingSummary: Codable, Sendable {
    public var epochs: Int
    public var bestEpoch: Int
    public var bestValidationRecall10: Double
    public var stoppedEarly: Bool
    public var trainSeconds: Double
    public var meanEpochSeconds: Double
    public var history: [SASRecEpochRecord]
}

/// Trains SASRec on a split with early stopping, writing a checkpoint, a JSON log and an SVG
/// curve into `runDirectory` after every epoch. Leaves the model at its best-validation weights.
public final class SASRecTrainer {
    public let model: SASRec
    public let split: Split
    public let config: SASRecTrainingConfig
    public let data: String
    public let runDirectory: URL?
    let evaluator: Evaluator
    let windows: TrainingWindows
    let optimizer: AdamW
    var state: SASRecCheckpointState
    var best: [String: Tensor] = [:]
    /// Each user's training items, for BCE negatives (an item the user never had in training).
    let seen: [Set<Int>]

    public init(model: SASRec, split: Split, catalog: Catalog, config: SASRecTrainingConfig, data: String,
                runDirectory: URL?) throws {
        try config.validate()
        guard model.config.itemCount == split.itemCount else {
            throw BaselinesError.invalidConfig(key: "item_count", value: "\(model.config.itemCount)", expected: "the split's \(split.itemCount) items")
        }
        self.model = model
        self.split = split
        self.config = config
        self.data = data
        self.runDirectory = runDirectory
        evaluator = Evaluator(split: split, catalog: catalog)
        windows = TrainingWindows(split: split, maxLength: model.config.maxLength)
        guard windows.count > 0 else { throw BaselinesError.noTrainingData("no user has two training items") }
        if config.loss == .bce, split.itemCount < 2 { throw BaselinesError.noTrainingData("BCE needs at least 2 items") }
        // Biases, LayerNorm parameters and embeddings are exempt from decay (usual practice); with
        // the default weight decay 0 this is plain Adam.
        let groups = ParameterGroup.split(model.namedParameters(), weightDecay: config.weightDecay) {
            $0.hasSuffix("bias") || $0.contains("LayerNorm") || $0.contains("embedding")
        }
        optimizer = AdamW(groups: groups, learningRate: config.learningRate)
        state = SASRecCheckpointState(model: model.config, training: config, data: data, epochsDone: 0, bestEpoch: 0,
                                      bestValidationRecall10: -1, bestValidationNDCG10: -1, epochsWithoutImprovement: 0,
                                      generator: SeededGenerator(seed: config.seed), history: [], trainSeconds: 0)
        seen = split.train.map(Set.init)
    }

    // MARK: checkpoints

    static let checkpointName = "checkpoint"

    /// Writes model, optimizer, best weights and state into `folder/checkpoint` atomically: into
    /// a fresh sibling folder first, then swapped in by renames (a crash leaves either the old or
    /// the new checkpoint, `checkpoint.old` in the gap between the two renames).
    public func saveCheckpoint(in folder: URL) throws {
        let fm = FileManager.default
        let final = folder.appendingPathComponent(Self.checkpointName)
        let partial = folder.appendingPathComponent(Self.checkpointName + ".partial")
        let old = folder.appendingPathComponent(Self.checkpointName + ".old")
        try? fm.removeItem(at: partial)
        try fm.createDirectory(at: partial, withIntermediateDirectories: true)
        try ParameterIO.save(model.namedParameters(), metadata: ["format": state.format], to: partial.appendingPathComponent("model.safetensors"))
        let bestTensors = best.isEmpty ? Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter.value) }) : best
        try SafeTensors.save(bestTensors, metadata: ["format": state.format], to: partial.appendingPathComponent("best.safetensors"))
        try optimizer.saveState(to: partial.appendingPathComponent("optimizer"))
        try AtomicFile.writeJSON(state, to: partial.appendingPathComponent("state.json"))
        try? fm.removeItem(at: old)
        if fm.fileExists(atPath: final.path) { try fm.moveItem(at: final, to: old) }
        try fm.moveItem(at: partial, to: final)
        try? fm.removeItem(at: old)
    }

    /// Restores a checkpoint written by `saveCheckpoint` (strict: the model config must match).
    public func loadCheckpoint(from folder: URL) throws {
        var dir = folder.appendingPathComponent(Self.checkpointName)
        if !FileManager.default.fileExists(atPath: dir.path) {
            let old = folder.appendingPathComponent(Self.checkpointName + ".old")
            guard FileManager.default.fileExists(atPath: old.path) else {
                throw BaselinesError.badCheckpoint(path: dir.path, reason: "no checkpoint to resume from")
            }
            dir = old
        }
        let statePath = dir.appendingPathComponent("state.json")
        let loaded = try JSONOutput.decode(SASRecCheckpointState.self, from: statePath)
        guard loaded.format == state.format else {
            throw BaselinesError.badCheckpoint(path: statePath.path, reason: "format \(loaded.format), expected \(state.format)")
        }
        guard loaded.model == model.config else {
            throw BaselinesError.badCheckpoint(path: statePath.path, reason: "model config \(loaded.model) differs from the requested \(model.config)")
        }
        try ParameterIO.load(model.namedParameters(), from: dir.appendingPathComponent("model.safetensors"))
        let expected = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter.shape) })
        best = try SafeTensors.load(dir.appendingPathComponent("best.safetensors"), expecting: expected)
        try optimizer.loadState(from: dir.appendingPathComponent("optimizer"))
        optimizer.learningRate = config.learningRate
        state = loaded
        state.training = config
    }

    // MARK: training

    /// Validation Recall@10 and NDCG@10 (seeded user sample when `evalUsers` is set).
    public func validate() throws -> (recall10: Double, ndcg10: Double) {
        var targets = split.validation
        if let n = config.evalUsers { targets = Evaluator.sample(targets, count: n, seed: config.seed) }
        let ranks = try evaluator.ranks(targets, ranking: model.ranking(expected: targets, batchSize: config.evalBatchSize))
        let m = Metrics.means(ranks.map(\.rank))
        return (m["recall@10"]!, m["ndcg@10"]!)
    }

    /// Runs one epoch; returns the mean loss.
    func trainEpoch(progress: Bool) -> Double {
        var rng = state.generator
        let order = Self.batchOrder(lengths: windows.inputs.map(\.count), batchSize: config.batchSize,
                                    poolBatches: config.lengthPoolBatches, using: &rng)
        let line = ProgressLine("epoch \(state.epochsDone + 1)", total: windows.sampleCount, unit: "samples", enabled: progress)
        var lossSum = 0.0, steps = 0
        var start = 0
        while start < order.count {
            let ids = order[start ..< min(order.count, start + config.batchSize)]
            start += config.batchSize
            let batch = SequenceBatch(windows: ids.map { windows.inputs[$0] })
            let targets = ids.map { windows.targets[$0] }
            var negatives: [[Int]]?
            if config.loss == .bce {
                negatives = ids.map { w in
                    windows.targets[w].map { _ in sampleNegative(user: windows.users[w], using: &rng) }
                }
            }
            optimizer.zeroGrad()
            let loss = model.loss(batch, targets: targets, negatives: negatives, kind: config.loss, generator: &rng)
            let value = Double(loss.value.item)
            loss.backward()
            optimizer.step()
            lossSum += value
            steps += 1
            line.advance(by: targets.reduce(0) { $0 + $1.count }, String(format: "loss %.4f", lossSum / Double(steps)))
        }
        line.finish(String(format: "loss %.4f", lossSum / Double(max(steps, 1))))
        state.generator = rng
        return lossSum / Double(max(steps, 1))
    }

    /// The epoch's window order: shuffled, then (when `poolBatches` > 0) sorted by length
    /// inside pools of `poolBatches` batches so a batch pads to a similar width, with the
    /// batches of each pool shuffled again. Beauty's windows are 1–50 items long (mean ≈ 6):
    /// random batches of 256 pad to ~50 and are ~88% padding; pools of 32 batches cut that
    /// to a few percent while every window still lands in a random batch position each epoch.
    static func batchOrder(lengths: [Int], batchSize: Int, poolBatches: Int, using rng: inout SeededGenerator) -> [Int] {
        var order = Array(lengths.indices)
        order.shuffle(using: &rng)
        guard poolBatches > 0 else { return order }
        var out: [Int] = []
        out.reserveCapacity(order.count)
        let pool = batchSize * poolBatches
        var start = 0
        while start < order.count {
            let sorted = order[start ..< min(order.count, start + pool)].sorted { lengths[$0] < lengths[$1] }
            var batches = stride(from: 0, to: sorted.count, by: batchSize).map { Array(sorted[$0 ..< min(sorted.count, $0 + batchSize)]) }
            batches.shuffle(using: &rng)
            for b in batches { out += b }
            start += pool
        }
        return out
    }

    /// Uniform item the user never had in training (Kang & McAuley's `random_neq`); any other
    /// item when the user had them all.
    func sampleNegative(user: Int, using rng: inout SeededGenerator) -> Int {
        let n = split.itemCount
        let s = seen[user]
        if s.count >= n { return Int(rng.next() % UInt64(n)) }
        while true {
            let i = Int(rng.next() % UInt64(n))
            if !s.contains(i) { return i }
        }
    }

    /// Trains until early stopping or `epochs`, then restores the best-validation weights.
    /// With `resume`, continues from `runDirectory/checkpoint`.
    public func train(resume: Bool = false, progress: Bool = true) throws -> SASRecTrainingSummary {
        if resume {
            guard let runDirectory else { throw BaselinesError.badCheckpoint(path: "(none)", reason: "resume needs a run folder") }
            try loadCheckpoint(from: runDirectory)
            Log.info("resumed after epoch \(state.epochsDone) (best R@10 \(state.bestValidationRecall10) at epoch \(state.bestEpoch))")
        }
        var stoppedEarly = state.epochsWithoutImprovement >= config.patience
        while !stoppedEarly && state.epochsDone < config.epochs {
            let t0 = Date()
            let loss = trainEpoch(progress: progress)
            let trainSeconds = Date().timeIntervalSince(t0)
            let t1 = Date()
            let (r10, n10) = try validate()
            let validationSeconds = Date().timeIntervalSince(t1)
            state.epochsDone += 1
            state.trainSeconds += trainSeconds
            // Recall@10, ties broken by NDCG@10 (Recall@10 saturates on small catalogs).
            let improved = r10 > state.bestValidationRecall10 || (r10 == state.bestValidationRecall10 && n10 > state.bestValidationNDCG10)
            if improved {
                state.bestValidationRecall10 = r10
                state.bestValidationNDCG10 = n10
                state.bestEpoch = state.epochsDone
                state.epochsWithoutImprovement = 0
                best = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter.value.copy()) })
            } else {
                state.epochsWithoutImprovement += 1
            }
            state.history.append(SASRecEpochRecord(
                epoch: state.epochsDone, loss: loss, trainSeconds: trainSeconds,
                samplesPerSecond: Double(windows.sampleCount) / max(trainSeconds, 1e-9),
                validationRecall10: r10, validationNDCG10: n10, validationSeconds: validationSeconds, best: improved))
            if progress {
                Log.info(String(format: "epoch %d: loss %.4f, %.1f s (%.0f samples/s); valid R@10 %.4f N@10 %.4f (%.1f s)%@",
                                state.epochsDone, loss, trainSeconds, Double(windows.sampleCount) / max(trainSeconds, 1e-9),
                                r10, n10, validationSeconds, improved ? " *best*" : ""))
            }
            stoppedEarly = state.epochsWithoutImprovement >= config.patience
            if let runDirectory { try writeEpochOutputs(to: runDirectory) }
        }
        if !best.isEmpty {
            for (name, p) in model.namedParameters() { p.value.assign(best[name]!) }
        }
        return summary(stoppedEarly: stoppedEarly)
    }

    func summary(stoppedEarly: Bool) -> SASRecTrainingSummary {
        SASRecTrainingSummary(epochs: state.epochsDone, bestEpoch: state.bestEpoch,
                              bestValidationRecall10: state.bestValidationRecall10, stoppedEarly: stoppedEarly,
                              trainSeconds: state.trainSeconds,
                              meanEpochSeconds: state.trainSeconds / Double(max(state.epochsDone, 1)), history: state.history)
    }

    /// Checkpoint, `log.json` and `curve.svg` after an epoch.
    func writeEpochOutputs(to folder: URL) throws {
        try saveCheckpoint(in: folder)
        try AtomicFile.writeJSON(state.history, to: folder.appendingPathComponent("log.json"))
        let h = state.history
        let plot = SVGPlot(title: "SASRec (\(config.loss.rawValue)) on \(split.domainName)", xLabel: "epoch", series: [
            .init(name: "training loss", points: h.map { (Double($0.epoch), $0.loss) }),
            .init(name: "validation Recall@10", points: h.map { (Double($0.epoch), $0.validationRecall10) }),
            .init(name: "validation NDCG@10", points: h.map { (Double($0.epoch), $0.validationNDCG10) }),
        ])
        try AtomicFile.write(plot.render(), to: folder.appendingPathComponent("curve.svg"))
    }
}

/// Test hook for the batch order (kept out of the public trainer API).
public enum SASRecTrainerTesting {
    public static func batchOrder(lengths: [Int], batchSize: Int, poolBatches: Int, seed: UInt64) -> [Int] {
        var g = SeededGenerator(seed: seed)
        return SASRecTrainer.batchOrder(lengths: lengths, batchSize: batchSize, poolBatches: poolBatches, using: &g)
    }
}
