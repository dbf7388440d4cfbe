import Autograd
import Corpora
import Decoding
import Foundation
import Optim
import Support
import T5
import Tokenizer

/// Settings of the T5 ID generator and its bootstrap training (saved with the generator).
public struct GeneratorConfig: Codable, Sendable, Equatable {
    public var preset: T5Config.Preset = .tiny
    /// Item text is cut to this many tokens (METHOD.md §1: 256).
    public var maximumSourceTokens = 256
    /// Bootstrap: words per keyword target.
    public var keywordCount = 4
    public var epochs = 30
    public var batchSize = 32
    public var learningRate: Float = 1e-3
    public var seed: UInt64 = 0
    /// Diverse beam search (METHOD.md §2): 10 beams in 10 groups, 10 returned.
    public var numBeams = 10
    public var numBeamGroups = 10
    public var numReturnSequences = 10
    public var generationBatchSize = 64
    /// What the bootstrap trained on: nil or "keywords" (IDF keywords), "semantic" (semantic
    /// ID words, `SemanticCandidateGenerator`). Optional so older generator.json files load.
    public var bootstrapTargets: String?
    public init() {}
}

/// The generator's input for an item: its `key: value; …` text cut to the token budget, + eos.
public func generatorSource(_ item: ItemText, tokenizer: Tokenizer, maximumTokens: Int) -> [Int32] {
    var ids = tokenizer.encode(item.rendered)
    if ids.count > maximumTokens - 1 { ids = Array(ids.prefix(maximumTokens - 1)) }
    if ids.isEmpty, let unk = tokenizer.unkID { ids = [unk] }
    return ids + [tokenizer.eosID ?? 1]
}

/// Diverse beam search over the T5 generator as the assigner's candidate source.
public struct T5CandidateGenerator: CandidateGenerator {
    public let model: T5Model
    public let tokenizer: Tokenizer
    public let sources: [[Int32]]
    public let config: GeneratorConfig

    public init(model: T5Model, tokenizer: Tokenizer, sources: [[Int32]], config: GeneratorConfig) {
        self.model = model
        self.tokenizer = tokenizer
        self.sources = sources
        self.config = config
    }

    public mutating func candidates(for entries: [Int], level: RetryLevel) throws -> [[Candidate]] {
        var gen = GenerationConfig(maxNewTokens: level.maxNewTokens)
        gen.minNewTokens = level.minNewTokens
        gen.numBeams = config.numBeams
        gen.numBeamGroups = config.numBeamGroups
        gen.diversityPenalty = Double(level.diversityPenalty)
        gen.numReturnSequences = config.numReturnSequences
        gen.eosTokenId = tokenizer.eosID ?? 1
        let results = try GradMode.withoutGradients {
            try model.generate(inputs: entries.map { sources[$0] }, config: gen, batchSize: config.generationBatchSize)
        }
        let eos = tokenizer.eosID ?? 1
        return try results.map { result in
            try result.realSequences.map { seq in
                Candidate(text: try tokenizer.decode(seq.tokens.filter { $0 != eos && $0 != 0 }), score: seq.score)
            }
        }
    }
}

/// Bootstrap without pretrained weights (issue 6): train the generator on
/// (item text → its most distinctive words in reading order) over the catalog, so that it learns
/// to write tag-like IDs. Returns the mean loss of each epoch.
public enum GeneratorBootstrap {
    /// `targetWords` (one list per item) replaces the keyword targets, e.g. semantic ID words.
    public static func train(model: T5Model, tokenizer: Tokenizer, items: [ItemText], extractor: KeywordExtractor,
                             config: GeneratorConfig, targetWords: [[String]]? = nil, verbose: Bool = true) throws -> [Double] {
        let eos = tokenizer.eosID ?? 1
        if let targetWords, targetWords.count != items.count {
            throw IDGenError.invalid("bootstrap: \(targetWords.count) target lists for \(items.count) items")
        }
        let sources = items.map { generatorSource($0, tokenizer: tokenizer, maximumTokens: config.maximumSourceTokens) }
        let targets: [[Int32]] = items.enumerated().map { index, item in
            var words = targetWords?[index] ?? extractor.keywords(of: item, count: config.keywordCount)
            if words.isEmpty { words = IDNormalizer.words(item.id, fold: true) }
            return Array(tokenizer.encode(words.joined(separator: " ")).prefix(15)) + [eos]
        }
        let groups = ParameterGroup.split(model.namedParameters(), weightDecay: 0.01) { $0.contains("layer_norm") }
        let optimizer = AdamW(groups: groups, learningRate: config.learningRate, eps: 1e-6)
        let perEpoch = (items.count + config.batchSize - 1) / config.batchSize
        let schedule = LinearWarmupSchedule(baseLearningRate: config.learningRate, warmupSteps: perEpoch * config.epochs / 20,
                                            totalSteps: perEpoch * config.epochs)
        var rng = SeededGenerator(seed: config.seed &+ 101)
        var step = 0
        var losses: [Double] = []
        for epoch in 1 ... max(1, config.epochs) {
            let batches = LengthBuckets.batches(Array(items.indices), batchSize: config.batchSize, window: config.batchSize * 20,
                                                length: { sources[$0].count }, using: &rng)
            let line = ProgressLine("generator bootstrap epoch \(epoch)/\(config.epochs)", total: batches.count, unit: "batches", enabled: verbose)
            var sum = 0.0, n = 0
            for batch in batches {
                let s2s = Seq2SeqBatch(sources: batch.map { sources[$0] }, targets: batch.map { targets[$0] })
                optimizer.zeroGrad()
                let loss = model.loss(s2s, dropout: &rng)
                let value = loss.value.item
                guard value.isFinite else { throw IDGenError.invalid("generator bootstrap diverged at step \(step + 1)") }
                loss.backward()
                _ = clipGradNorm(optimizer.allParameters, maxNorm: 1.0)
                optimizer.learningRate = schedule.learningRate(step: step)
                optimizer.step()
                step += 1
                sum += Double(value) * Double(batch.count)
                n += batch.count
                line.advance(String(format: "loss %.4f", sum / Double(n)))
            }
            line.finish(String(format: "loss %.4f", sum / Double(max(n, 1))))
            losses.append(sum / Double(max(n, 1)))
        }
        return losses
    }
}
