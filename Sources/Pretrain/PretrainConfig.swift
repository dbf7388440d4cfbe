import Foundation
import T5

/// How long to pre-train.
public enum PretrainBudget: Codable, Sendable, Equatable {
    /// Wall-clock minutes, counted from the start the caller gives (the CLI: command start, so
    /// vocabulary training and corpus building count). The first steps are timed and the total
    /// step count — and with it the warm-up / linear-decay schedule — is fitted to what remains.
    case minutes(Double)
    case steps(Int)
    case epochs(Int)

    // JSON: {"minutes": 2} / {"steps": 500} / {"epochs": 3}.
    enum CodingKeys: String, CodingKey { case minutes, steps, epochs }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let m = try c.decodeIfPresent(Double.self, forKey: .minutes) { self = .minutes(m) }
        else if let s = try c.decodeIfPresent(Int.self, forKey: .steps) { self = .steps(s) }
        else if let e = try c.decodeIfPresent(Int.self, forKey: .epochs) { self = .epochs(e) }
        else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "budget: expected one of minutes, steps, epochs"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case let .minutes(m): try c.encode(m, forKey: .minutes)
        case let .steps(s): try c.encode(s, forKey: .steps)
        case let .epochs(e): try c.encode(e, forKey: .epochs)
        }
    }
}

/// Everything that shapes a pre-training run; saved in `pretrain.json`.
public struct PretrainConfig: Codable, Sendable, Equatable {
    public var preset: T5Config.Preset = .cpu
    /// SentencePiece pieces (trained on the catalogs' text, 100 sentinels reserved).
    public var vocabularySize = 8000
    public var behaviour: BehaviourText = .titles
    /// Encoder input length after corruption, eos included (T5: 512). The raw tokens per example
    /// follow from it (T5 `random_spans_helper`: 128 → 141 raw tokens, targets 29).
    public var sequenceLength = 128
    public var noiseDensity = 0.15
    public var meanNoiseSpanLength = 3.0
    public var batchSize = 32
    public var learningRate: Float = 1e-3
    public var warmupFraction: Float = 0.05
    public var weightDecay: Float = 0.01
    public var adamEpsilon: Float = 1e-6
    public var clipNorm: Float = 1.0
    /// Dropout during pre-training (T5 v1.1 turns it off for pre-training). The saved
    /// `config.json` carries this rate, or 0.1 (for fine-tuning) when it is 0.
    public var dropout: Float = 0
    public var budget: PretrainBudget = .minutes(30)
    /// Atomic checkpoint (`last/`) every this many steps, and at the end.
    public var checkpointEvery = 200
    /// Timed steps for a `minutes` budget (after one untimed warm-up step).
    public var calibrationSteps = 3
    public var seed: UInt64 = 0

    public init() {}

    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ message: String) throws {
            if !ok { throw PretrainError.invalid("\(key): \(message)") }
        }
        try check(vocabularySize >= 200, "--vocabulary-size", "expected at least 200 (100 are sentinels), found \(vocabularySize)")
        try check(sequenceLength >= 8 && sequenceLength <= 2048, "--sequence-length", "expected 8…2048, found \(sequenceLength)")
        try check(noiseDensity > 0 && noiseDensity < 1, "noise density", "expected in (0, 1), found \(noiseDensity)")
        try check(meanNoiseSpanLength >= 1, "mean noise span length", "expected ≥ 1, found \(meanNoiseSpanLength)")
        try check(batchSize > 0, "--batch-size", "must be positive, found \(batchSize)")
        try check(learningRate > 0 && learningRate.isFinite, "--lr", "must be positive, found \(learningRate)")
        try check(dropout >= 0 && dropout < 1, "--dropout", "expected in [0, 1), found \(dropout)")
        try check(checkpointEvery > 0, "checkpoint interval", "must be positive, found \(checkpointEvery)")
        switch budget {
        case let .minutes(m): try check(m > 0 && m.isFinite, "--minutes", "must be positive, found \(m)")
        case let .steps(s): try check(s > 0, "--steps", "must be positive, found \(s)")
        case let .epochs(e): try check(e > 0, "--epochs", "must be positive, found \(e)")
        }
    }
}
