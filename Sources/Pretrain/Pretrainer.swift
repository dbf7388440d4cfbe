import Autograd
import Foundation
import IDGen
import Optim
import Recommender
import Support
import T5
import Tokenizer

/// One point of the loss curve (a window of `steps` optimiser steps ending at `step`).
public struct PretrainLogPoint: Codable, Sendable, Equatable {
    public var step: Int
    public var epoch: Double
    public var loss: Double
    public var learningRate: Float
    public var tokensPerSecond: Double
    public var seconds: Double
}

/// Resumable state, saved in `last/state.json` with the model and optimizer.
struct PretrainState: Codable {
    var step = 0
    var totalSteps: Int
    var warmupSteps: Int
    var dropout: SeededGenerator
    var log: [PretrainLogPoint] = []
    /// Training seconds and tokens over all sessions (a resumed run adds to them).
    var trainingSeconds = 0.0
    var tokens = 0
    var secondsPerStepCalibrated: Double?
}

/// `pretrain.json`: what the folder is and how it was made. Written at the start
/// (`status` "running") and at the end ("finished").
public struct PretrainManifest: Codable, Sendable {
    public var status: String
    public var config: PretrainConfig
    public var model: T5Config
    public var sources: [PretrainSourceSummary]
    public var tokenizerHash: String
    public var documents: Int
    public var tokensPerEpoch: Int
    /// Raw tokens per example before corruption, and the corrupted lengths (eos included).
    public var rawTokensPerExample: Int
    public var inputsLength: Int
    public var targetsLength: Int
    public var batchesPerEpoch: Int
    public var seed: UInt64
    public var totalSteps: Int
    public var stepsDone: Int
    public var epochsDone: Double
    /// Mean loss over the last logged window (nil before the first).
    public var finalLoss: Double?
    /// Training time (all sessions) and the command's wall time (this session, setup included).
    public var trainingSeconds: Double
    public var wallSeconds: Double
    public var tokensPerSecond: Double
    public var stepsPerSecond: Double
    public var secondsPerStepCalibrated: Double?
}

/// A pre-training output folder:
/// ```
/// config.json, model.safetensors, spiece.model   a Hugging Face T5 folder (after the last step)
/// pretrain.json                                   PretrainManifest
/// log.json, curve.svg                             loss curve
/// last/                                           checkpoint while running (model, optimizer, state.json); removed at the end
/// ```
/// `train --init-from`, `cotrain --init-from / --generator-init-from` and
/// `ids generate --init-from` read the HF part.
public enum PretrainFolder {
    public static func manifestURL(_ folder: URL) -> URL { folder.appendingPathComponent("pretrain.json") }
    public static func tokenizerURL(_ folder: URL) -> URL { folder.appendingPathComponent("spiece.model") }
    public static func lastURL(_ folder: URL) -> URL { folder.appendingPathComponent("last") }
}

/// Span-corruption pre-training of a T5 (see `SpanCorruption`) on a `PretrainCorpus`.
public final class Pretrainer {
    public let folder: URL
    public let config: PretrainConfig
    public var verbose = true

    public init(folder: URL, config: PretrainConfig) {
        self.folder = folder
        self.config = config
    }

    /// Runs (or, with `resume`, continues) pre-training into `folder` and returns the manifest.
    /// `budgetStart` is when a `minutes` budget began (default: now). `stopAfter` ends this call
    /// after that many steps in total, as a kill would (for tests; the folder stays resumable).
    @discardableResult
    public func run(corpus: PretrainCorpus, resume: Bool, budgetStart: Date = Date(), stopAfter: Int? = nil) throws -> PretrainManifest {
        try config.validate()
        let fm = FileManager.default
        let last = PretrainFolder.lastURL(folder)
        RunFolder.recover(last)
        let statePath = last.appendingPathComponent("state.json").path
        let resuming = resume && fm.fileExists(atPath: statePath)
        if resume, !resuming, let saved = try? JSONOutput.decode(PretrainManifest.self, from: PretrainFolder.manifestURL(folder)), saved.status == "finished" {
            if verbose { Log.info("pretrain: \(folder.path) is finished (\(saved.stepsDone) steps); nothing to resume") }
            return saved
        }
        if !resuming {
            if fm.fileExists(atPath: last.path) || fm.fileExists(atPath: PretrainFolder.manifestURL(folder).path) {
                throw PretrainError.checkpoint(path: folder.path, message: "holds a pre-training run already; pass --resume to continue it or choose another --out")
            }
        } else if let saved = try? JSONOutput.decode(PretrainManifest.self, from: PretrainFolder.manifestURL(folder)) {
            guard saved.config == config else {
                throw PretrainError.checkpoint(path: PretrainFolder.manifestURL(folder).path, message: "was made with other settings; resume with the same options (\(try JSONOutput.string(saved.config)))")
            }
            guard saved.sources.map(\.sha256) == corpus.sources.map(\.sha256) else {
                throw PretrainError.checkpoint(path: PretrainFolder.manifestURL(folder).path, message: "was made from other data (source hashes differ)")
            }
        }
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)

        // Vocabulary: the catalogs' text with 100 sentinels (SharedVocabulary), kept on resume.
        let tokenizer: Tokenizer
        if resuming {
            tokenizer = try Tokenizer(contentsOf: PretrainFolder.tokenizerURL(folder))
        } else {
            tokenizer = try SharedVocabulary.train(catalogs: corpus.catalogs, size: config.vocabularySize, seed: UInt32(truncatingIfNeeded: config.seed &+ 1),
                                                       framing: PromptTemplates.vocabularyFraming())
            try tokenizer.save(to: PretrainFolder.tokenizerURL(folder))
        }
        let sentinels = tokenizer.sentinelIDs()
        guard !sentinels.isEmpty, let eos = tokenizer.eosID else {
            throw PretrainError.invalid("\(PretrainFolder.tokenizerURL(folder).path): the vocabulary has no <extra_id_N> sentinels or no eos")
        }
        let corruption = SpanCorruption(noiseDensity: config.noiseDensity, meanNoiseSpanLength: config.meanNoiseSpanLength, sentinels: sentinels, eos: eos)
        let (rawLength, targetsLength) = corruption.rawLength(forInputsLength: config.sequenceLength)
        guard corruption.counts(length: rawLength).spans <= sentinels.count else {
            throw PretrainError.invalid("--sequence-length \(config.sequenceLength): needs \(corruption.counts(length: rawLength).spans) sentinels, the vocabulary has \(sentinels.count)")
        }
        let encoded = tokenizer.encode(batch: corpus.documents)
        let examples = try PretrainExamples(documents: encoded, corruption: corruption, rawLength: rawLength, batchSize: config.batchSize, seed: config.seed)

        var t5 = T5Config.preset(config.preset, vocabularySize: tokenizer.vocabularySize)
        t5.dropout_rate = config.dropout > 0 ? config.dropout : 0.1
        var initRNG = SeededGenerator(seed: config.seed)
        let model = try T5Model(config: t5, generator: &initRNG)
        let groups = ParameterGroup.split(model.namedParameters(), weightDecay: config.weightDecay) { $0.contains("layer_norm") }
        let optimizer = AdamW(groups: groups, learningRate: config.learningRate, eps: config.adamEpsilon)

        var state: PretrainState
        if resuming {
            state = try JSONOutput.decode(PretrainState.self, from: URL(fileURLWithPath: statePath))
            let saved = try T5Model.load(folder: last)
            guard saved.config == model.config else {
                throw PretrainError.checkpoint(path: last.path, message: "its model config differs from the run's")
            }
            for (a, b) in zip(model.namedParameters(), saved.namedParameters()) { a.parameter.value.assign(b.parameter.value) }
            try optimizer.loadState(from: last.appendingPathComponent("optimizer"))
            if verbose { Log.info("pretrain: resuming at step \(state.step) of \(state.totalSteps)") }
        } else {
            let (total, calibrated) = try fitSteps(model: model, examples: examples, budgetStart: budgetStart)
            state = PretrainState(totalSteps: total, warmupSteps: Int(Float(total) * config.warmupFraction),
                                  dropout: SeededGenerator(seed: config.seed &+ 17), secondsPerStepCalibrated: calibrated)
        }
        var schedule = LinearWarmupSchedule(baseLearningRate: config.learningRate, warmupSteps: state.warmupSteps, totalSteps: state.totalSteps)
        func manifest(status: String) -> PretrainManifest {
            let perEpoch = examples.batchesPerEpoch
            return PretrainManifest(
                status: status, config: config, model: model.config, sources: corpus.sources, tokenizerHash: tokenizer.modelHash,
                documents: corpus.documents.count, tokensPerEpoch: examples.tokensPerEpoch, rawTokensPerExample: rawLength,
                inputsLength: config.sequenceLength, targetsLength: targetsLength, batchesPerEpoch: perEpoch, seed: config.seed,
                totalSteps: state.totalSteps, stepsDone: state.step, epochsDone: Double(state.step) / Double(perEpoch),
                finalLoss: state.log.last?.loss, trainingSeconds: state.trainingSeconds, wallSeconds: Date().timeIntervalSince(budgetStart),
                tokensPerSecond: Double(state.tokens) / max(state.trainingSeconds, 1e-9),
                stepsPerSecond: Double(state.step) / max(state.trainingSeconds, 1e-9), secondsPerStepCalibrated: state.secondsPerStepCalibrated)
        }
        try AtomicFile.writeJSON(manifest(status: "running"), to: PretrainFolder.manifestURL(folder))
        if verbose {
            Log.info(String(format: "pretrain: %d documents, %d tokens per epoch, %d batches of %d × %d raw tokens (inputs %d, targets %d); %d steps = %.2f epochs",
                            corpus.documents.count, examples.tokensPerEpoch, examples.batchesPerEpoch, config.batchSize, rawLength,
                            config.sequenceLength, targetsLength, state.totalSteps, Double(state.totalSteps) / Double(examples.batchesPerEpoch)))
        }

        var end = min(state.totalSteps, stopAfter ?? .max)
        let logEvery = max(1, state.totalSteps / 200)
        var line = ProgressLine(state.step == 0 ? "pretrain" : "pretrain from step \(state.step)", total: end - state.step, unit: "steps", enabled: verbose)
        // A time budget is re-fitted twice (at 20% and 60% of the planned steps) from the rate
        // measured so far, since the load on a shared machine changes; the decay then ends at
        // the new total (a small step in the learning rate). Not in a resumed session.
        var refitAt: Set<Int> = []
        if case .minutes = config.budget, !resuming, state.totalSteps >= 20 { refitAt = [state.totalSteps / 5, state.totalSteps * 3 / 5] }
        let loopStart = Date(), loopStartStep = state.step
        var windowLoss = 0.0, windowSteps = 0, windowTokens = 0
        var windowStart = Date()
        var recent: [Double] = []
        var streamEpoch = 0
        var stream: [Int32] = []
        func checkpoint() throws {
            let snapshot = state
            try RunFolder.replaceFolder(last) { dir in
                try model.save(folder: dir, tokenizer: tokenizer)
                try optimizer.saveState(to: dir.appendingPathComponent("optimizer"))
                try AtomicFile.writeJSON(snapshot, to: dir.appendingPathComponent("state.json"))
            }
            try writeLog(state.log)
            try AtomicFile.writeJSON(manifest(status: "running"), to: PretrainFolder.manifestURL(folder))
        }
        while state.step < end {
            let epoch = state.step / examples.batchesPerEpoch + 1
            if epoch != streamEpoch {
                stream = examples.stream(epoch: epoch)
                streamEpoch = epoch
            }
            let stepStart = Date()
            let (inputs, targets) = try examples.batch(epoch: epoch, index: state.step % examples.batchesPerEpoch, stream: stream)
            let batch = Seq2SeqBatch(sources: inputs, targets: targets)
            optimizer.zeroGrad()
            let loss = config.dropout > 0 ? model.loss(batch, dropout: &state.dropout) : model.loss(batch)
            let value = Double(loss.value.item)
            guard value.isFinite else {
                throw PretrainError.invalid("training diverged at step \(state.step + 1) (loss \(value)); lower --lr")
            }
            loss.backward()
            if config.clipNorm > 0 { _ = clipGradNorm(optimizer.allParameters, maxNorm: config.clipNorm) }
            optimizer.learningRate = schedule.learningRate(step: state.step)
            optimizer.step()
            let tokens = inputs.reduce(0) { $0 + $1.count } + targets.reduce(0) { $0 + $1.count }
            state.step += 1
            state.trainingSeconds += Date().timeIntervalSince(stepStart)
            state.tokens += tokens
            windowLoss += value
            windowSteps += 1
            windowTokens += tokens
            recent.append(value)
            if recent.count > 50 { recent.removeFirst() }
            let rate = Double(state.tokens) / max(state.trainingSeconds, 1e-9)
            line.advance(String(format: "loss %.4f | %.0f tok/s", recent.reduce(0, +) / Double(recent.count), rate))
            if windowSteps == logEvery || state.step == state.totalSteps {
                let seconds = Date().timeIntervalSince(windowStart)
                state.log.append(PretrainLogPoint(step: state.step, epoch: Double(state.step) / Double(examples.batchesPerEpoch),
                                                  loss: windowLoss / Double(windowSteps), learningRate: schedule.learningRate(step: state.step - 1),
                                                  tokensPerSecond: Double(windowTokens) / max(seconds, 1e-9), seconds: state.trainingSeconds))
                windowLoss = 0; windowSteps = 0; windowTokens = 0; windowStart = Date()
            }
            if refitAt.contains(state.step), case let .minutes(minutes) = config.budget {
                let perStep = Date().timeIntervalSince(loopStart) / Double(state.step - loopStartStep)
                let left = minutes * 60 * 0.99 - Date().timeIntervalSince(budgetStart)
                let total = state.step + max(1, Int(left / perStep))
                if total != state.totalSteps {
                    if verbose { Log.info(String(format: "pretrain: %.3fs per step so far; total steps %d → %d to fit the budget", perStep, state.totalSteps, total)) }
                    line.finish()
                    state.totalSteps = total
                    schedule = LinearWarmupSchedule(baseLearningRate: config.learningRate, warmupSteps: state.warmupSteps, totalSteps: total)
                    end = min(total, stopAfter ?? .max)
                    line = ProgressLine("pretrain from step \(state.step)", total: end - state.step, unit: "steps", enabled: verbose)
                }
            }
            if state.step % config.checkpointEvery == 0 || state.step == end { try checkpoint() }
        }
        line.finish(String(format: "loss %.4f", recent.isEmpty ? .nan : recent.reduce(0, +) / Double(recent.count)))
        guard state.step >= state.totalSteps else { return manifest(status: "running") }

        // Finished: the HF folder at the top level, the checkpoint removed.
        try model.save(folder: folder, tokenizer: tokenizer)
        let done = manifest(status: "finished")
        try AtomicFile.writeJSON(done, to: PretrainFolder.manifestURL(folder))
        try writeLog(state.log)
        try? fm.removeItem(at: last)
        if verbose {
            Log.info(String(format: "pretrain: %d steps in %.0fs (%.2f steps/s, %.0f tokens/s), final loss %.4f; wrote %@",
                            done.stepsDone, done.trainingSeconds, done.stepsPerSecond, done.tokensPerSecond, done.finalLoss ?? .nan, folder.path))
        }
        return done
    }

    /// Total steps for the budget. For `minutes`, times `calibrationSteps` full steps (forward,
    /// backward, clipping, an AdamW update) on a throwaway optimizer with learning rate 0 — the
    /// weights do not move, so the run itself does not depend on the timing except through its
    /// length — and fits the steps to the time left.
    func fitSteps(model: T5Model, examples: PretrainExamples, budgetStart: Date) throws -> (steps: Int, secondsPerStep: Double?) {
        switch config.budget {
        case let .steps(s): return (s, nil)
        case let .epochs(e): return (e * examples.batchesPerEpoch, nil)
        case let .minutes(minutes):
            let groups = ParameterGroup.split(model.namedParameters(), weightDecay: 0) { _ in false }
            let probe = AdamW(groups: groups, learningRate: 0, eps: config.adamEpsilon)
            let stream = examples.stream(epoch: 1)
            var timed = 0.0
            let n = max(1, config.calibrationSteps)
            for k in 0 ... n {
                let (inputs, targets) = try examples.batch(epoch: 1, index: k % examples.batchesPerEpoch, stream: stream)
                let start = Date()
                probe.zeroGrad()
                let loss = model.loss(Seq2SeqBatch(sources: inputs, targets: targets))
                loss.backward()
                if config.clipNorm > 0 { _ = clipGradNorm(probe.allParameters, maxNorm: config.clipNorm) }
                probe.step()
                if k > 0 { timed += Date().timeIntervalSince(start) } // step 0 warms caches and allocations
            }
            probe.zeroGrad()
            let perStep = timed / Double(n)
            // Leave room for checkpoints and the final save (~1% of the budget).
            let left = minutes * 60 * 0.99 - Date().timeIntervalSince(budgetStart)
            let steps = max(1, Int(left / perStep))
            if verbose {
                Log.info(String(format: "pretrain: %.3fs per step measured; %.1f of %.1f minutes left → %d steps", perStep, max(left, 0) / 60, minutes, steps))
            }
            return (steps, perStep)
        }
    }

    func writeLog(_ log: [PretrainLogPoint]) throws {
        try AtomicFile.writeJSON(log, to: folder.appendingPathComponent("log.json"))
        let plot = SVGPlot(title: "T5 span-corruption pre-training", xLabel: "step", series: [
            .init(name: "training loss", points: log.map { (Double($0.step), $0.loss) }),
            .init(name: "learning rate", points: log.map { (Double($0.step), Double($0.learningRate)) }),
        ])
        try AtomicFile.write(plot.render(), to: folder.appendingPathComponent("curve.svg"))
    }
}
