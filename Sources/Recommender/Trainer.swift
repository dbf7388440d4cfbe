import Autograd
import Corpora
import Decoding
import Foundation
import IDGen
import Optim
import Support
import T5
import TensorCore
import Tokenizer

/// One training example before batching: a prompt (template already chosen) and its target.
public struct PromptSample: Sendable {
    public var source: [Int32]
    public var target: [Int32]
    /// Where the history items sit in `source` (for item content; empty when not needed).
    public var spans: [EncodedPrompt.ItemSpan] = []
}

/// Training of the text-to-text recommender (METHOD.md §3) and its trie-constrained evaluation.
public struct RecommenderTrainer {
    public let config: RecommenderConfig
    public let data: RecommenderData
    /// Item content in the prompt (nil when the run has none).
    public var content: ItemContent?

    public init(config: RecommenderConfig, data: RecommenderData, content: ItemContent? = nil) {
        self.config = config
        self.data = data
        self.content = content
    }

    /// The epoch's batches, fully determined by (seed, epoch) so a resumed run replays the same
    /// order: every training prefix with freshly drawn templates, shuffled, then bucketed by
    /// prompt length (sorted inside windows of 50 batches, batches shuffled) to waste little on
    /// padding.
    public func batches(epoch: Int) -> [[PromptSample]] {
        var rng = SeededGenerator(seed: config.seed &+ 0x9E37_79B9 &* UInt64(epoch + 1))
        let templates = data.prompts.templates.count
        var samples: [PromptSample] = []
        let prefixes = data.split.trainingSamples(historyCap: config.historyCap)
        samples.reserveCapacity(prefixes.count * config.templatesPerSample)
        for s in prefixes {
            for _ in 0 ..< max(1, config.templatesPerSample) {
                let template = Int(rng.next() % UInt64(templates))
                let prompt = data.prompt(history: s.history, template: template, user: s.user)
                samples.append(PromptSample(source: prompt.tokens, target: data.target(s.target), spans: content == nil ? [] : prompt.itemSpans))
            }
        }
        return LengthBuckets.batches(samples, batchSize: config.batchSize, window: config.batchSize * 50,
                                     length: { $0.source.count }, using: &rng)
    }

    public func batchesPerEpoch() -> Int {
        let n = data.split.trainingSamples(historyCap: config.historyCap).count * max(1, config.templatesPerSample)
        return (n + config.batchSize - 1) / config.batchSize
    }

    /// Where the encoder's input tokens go: over every training prefix (templates taken in turn),
    /// the mean prompt length and the shares of history-item ID tokens, ` ; ` separators and the
    /// template's own words (user ID tokens, end-of-sequence and truncation count as template).
    public func promptComposition() -> (meanTokens: Double, itemShare: Double, separatorShare: Double, templateShare: Double) {
        let prefixes = data.split.trainingSamples(historyCap: config.historyCap)
        let templates = data.prompts.templates.count
        var total = 0, items = 0, separators = 0
        for (k, s) in prefixes.enumerated() {
            let prompt = data.prompt(history: s.history, template: k % templates, user: s.user)
            total += prompt.tokens.count
            items += prompt.itemSpans.reduce(0) { $0 + $1.range.count }
            separators += max(0, prompt.itemSpans.count - 1) * data.prompts.separator.count
        }
        guard total > 0 else { return (0, 0, 0, 0) }
        let t = Double(total)
        return (t / Double(prefixes.count), Double(items) / t, Double(separators) / t, Double(total - items - separators) / t)
    }

    public static func makeOptimizer(model: T5Model, config: RecommenderConfig, content: ItemContent? = nil) -> AdamW {
        // HF/IDGenRec: no weight decay on norm weights (T5 has no biases).
        let named = model.namedParameters() + (content?.projection.namedParameters() ?? [])
        let groups = ParameterGroup.split(named, weightDecay: config.weightDecay) { $0.contains("layer_norm") }
        return AdamW(groups: groups, learningRate: config.learningRate, eps: config.adamEpsilon)
    }

    /// One optimisation step on a batch; returns the mean loss over target tokens.
    public static func step(model: T5Model, batch: [PromptSample], optimizer: AdamW, learningRate: Float, clipNorm: Float,
                            dropout: inout SeededGenerator, useDropout: Bool, freezeEmbeddings: Bool = false,
                            content: ItemContent? = nil) -> Float {
        let s2s = Seq2SeqBatch(sources: batch.map(\.source), targets: batch.map(\.target))
        optimizer.zeroGrad()
        let loss: Variable
        if let content {
            var generator: SeededGenerator? = useDropout ? dropout : nil
            loss = model.loss(inputEmbeddings: content.inputEmbeddings(model: model, batch: s2s, spans: batch.map(\.spans)),
                              attentionMask: s2s.attentionMask, decoderInputs: s2s.decoderInputIDs, labels: s2s.labels, dropout: &generator)
            if useDropout { dropout = generator! }
        } else {
            loss = useDropout ? model.loss(s2s, dropout: &dropout) : model.loss(s2s)
        }
        let value = loss.value.item
        loss.backward()
        if clipNorm > 0 { _ = clipGradNorm(optimizer.allParameters, maxNorm: clipNorm) }
        optimizer.learningRate = learningRate
        // A frozen table keeps its values exactly (no gradient step, no weight decay).
        let kept = freezeEmbeddings ? Array(UnsafeBufferPointer(start: model.shared.value.pointer, count: model.shared.value.count)) : nil
        optimizer.step()
        if let kept { kept.withUnsafeBufferPointer { model.shared.value.pointer.update(from: $0.baseAddress!, count: $0.count) } }
        return value
    }

    // MARK: evaluation

    /// One ranked item: its catalog index and its beam-search score, the sum of the ID's token
    /// log-probabilities including eos (HF `sequences_scores` with `length_penalty = 0`).
    public struct RankedItem: Equatable, Sendable {
        public var index: Int
        public var score: Float
        public init(index: Int, score: Float) {
            self.index = index
            self.score = score
        }
    }

    /// The encoder input of each target: its history in template 0.
    public func rankingInputs(_ targets: [EvaluationTarget]) -> [[Int32]] {
        targets.map { data.prompt(history: $0.history, template: 0, user: $0.user).tokens }
    }

    /// The beam search `rank` runs: beam = return sequences = `config.numBeams`, up to the
    /// longest ID + eos new tokens, the tokenizer's eos.
    public var rankingGenerationConfig: GenerationConfig {
        var gen = GenerationConfig(maxNewTokens: (data.itemTokens.map(\.count).max() ?? 1) + 1)
        gen.numBeams = config.numBeams
        gen.numReturnSequences = config.numBeams
        gen.eosTokenId = data.eos
        // Rank items by p(ID | prompt): no length normalisation, and no stopping before a better
        // item is impossible. HF's `early_stopping=True` stops once `num_beams` IDs are finished,
        // so short, unlikely IDs that finish early crowd out longer likely ones (a model sure of a
        // 7-token ID at p 0.98 returned four 4-token IDs instead; LearnabilityTests).
        gen.earlyStopping = .never
        gen.lengthPenalty = 0
        return gen
    }

    /// Top-K catalog indices per target: beam search (beam = config.numBeams) under the ID trie,
    /// prompts from template 0. Every returned item is a catalog item and none repeats.
    public func rank(model: T5Model, targets: [EvaluationTarget]) throws -> [[Int]] {
        try rankWithScores(model: model, targets: targets).map { $0.map(\.index) }
    }

    /// `rank` with each item's score, best first (HF order; filler beams left out).
    public func rankWithScores(model: T5Model, targets: [EvaluationTarget]) throws -> [[RankedItem]] {
        var addition: T5InputAddition?
        var inputs: [[Int32]]
        if let content {
            let prompts = targets.map { data.prompt(history: $0.history, template: 0, user: $0.user) }
            inputs = prompts.map(\.tokens)
            addition = { range, length in content.additionTensor(prompts[range].map(\.itemSpans), length: length) }
        } else {
            inputs = rankingInputs(targets)
        }
        let results = try model.generate(inputs: inputs, config: rankingGenerationConfig, constraint: data.trie,
                                         batchSize: config.evaluationBatchSize, inputAddition: addition)
        return results.map { result in
            var seen = Set<Int>()
            return result.realSequences.compactMap { seq in
                data.trie.index(of: seq.tokens).map { RankedItem(index: $0, score: seq.score) }
            }.filter { seen.insert($0.index).inserted }
        }
    }

    public func ranking(model: T5Model) -> Ranking {
        .batchedList(batchSize: config.evaluationBatchSize * 4) { targets in try rank(model: model, targets: targets) }
    }
}
