import Autograd
import Corpora
import Decoding
import Foundation
import IDGen
import Recommender
import Support
import T5
import TensorCore
import Tokenizer

/// The soft-embedding bridge (METHOD.md §4): the recommender's loss, differentiated with respect
/// to the ID generator's parameters.
///
/// For every history item of a batch the generator decodes its ID greedily (no gradient); one
/// teacher-forced pass over those tokens with gradients gives per-step logits;
/// `softmax(logits) × E` (E = the recommender's input embedding table, frozen) gives soft token
/// embeddings; they replace the item's tokens inside the exact prompt token sequence (positions
/// from the token ids); the frozen recommender's cross-entropy on the target's current ID is the
/// loss. Fixes over the original: probabilities, not log-probabilities, multiply the table; the
/// generator's learning rate is a real one; steps after end-of-sequence are masked (an item's
/// span only holds its tokens before eos).
public struct Bridge {
    public let generator: T5Model
    public let recommender: T5Model
    public let data: RecommenderData
    /// Generator input for every catalog item.
    public let sources: [[Int32]]
    /// Weight of the regulariser: the generator's cross-entropy toward the current IDs, which
    /// keeps IDs readable and stable.
    public var regularizerWeight: Float
    public var maxNewTokens = 9
    /// The recommender's item content (`--item-content`): its term is added to the prompt's input
    /// embeddings after the soft IDs are spliced in (at the soft ID positions for `add`, at the
    /// markers for `token`), with the projection frozen like the rest of the recommender.
    public var content: ItemContent?

    public init(generator: T5Model, recommender: T5Model, data: RecommenderData, sources: [[Int32]], regularizerWeight: Float) throws {
        guard generator.config.vocab_size == recommender.config.vocab_size else {
            throw T5Error.tokenizerMismatch("generator vocab_size \(generator.config.vocab_size) ≠ recommender vocab_size \(recommender.config.vocab_size); both must use one SentencePiece vocabulary")
        }
        self.generator = generator
        self.recommender = recommender
        self.data = data
        self.sources = sources
        self.regularizerWeight = regularizerWeight
    }

    public struct Losses {
        public var total: Variable
        public var recommendation: Float
        public var regularizer: Float
        public var softItems: Int
    }

    /// Greedy IDs (token ids before eos) of `items` from the current generator.
    public func decode(_ items: [Int]) throws -> [[Int32]] {
        var gen = GenerationConfig(maxNewTokens: maxNewTokens)
        gen.eosTokenId = data.eos
        let results = try GradMode.withoutGradients {
            try generator.generate(inputs: items.map { sources[$0] }, config: gen)
        }
        return results.map { r in
            let tokens = r.sequences.first?.tokens ?? []
            return Array(tokens.prefix { $0 != data.eos && $0 != 0 })
        }
    }

    /// The history items of a batch (capped histories), in first-seen order.
    public func items(of samples: [TrainingSample]) -> [Int] {
        var seen = Set<Int>()
        return samples.flatMap { $0.history.suffix(data.split.historyCap) }.filter { seen.insert($0).inserted }
    }

    /// The bridge loss for a batch of (history → target) samples, each with its template.
    /// `decoded` (the generator's greedy tokens per item of `items(of:)`) is computed when nil;
    /// the gradient check passes it to hold the discrete decoding fixed.
    public func loss(samples: [TrainingSample], templates: [Int], decoded given: [[Int32]]? = nil) throws -> Losses {
        // 1. Items in the batch's (capped) histories, in first-seen order.
        let items = items(of: samples)
        var rowOf: [Int: Int] = [:]
        for (n, i) in items.enumerated() { rowOf[i] = n }
        let decoded = try given ?? decode(items)
        precondition(decoded.count == items.count, "one decoded ID per history item")
        let usable = decoded.map { !$0.isEmpty }
        let vocabulary = recommender.config.vocab_size

        // 2. Teacher-forced generator pass over its own greedy tokens (+ eos), with gradients.
        let targets = decoded.map { $0 + [data.eos] }
        let genBatch = Seq2SeqBatch(sources: items.map { sources[$0] }, targets: targets)
        let logits = generator.logits(genBatch) // [N, T, V]
        let t = logits.shape[1]
        let probabilities = softmax(logits) // [N, T, V]
        let table = Variable(recommender.shared.value) // [V, d], frozen
        let soft = matmul(reshape(probabilities, [items.count * t, vocabulary]), table) // [N*T, d]

        // 3. Prompts built with the generator's tokens for the history items; soft positions
        //    index rows V + n*T + j of [E; soft].
        var itemTokens = data.itemTokens
        for (n, i) in items.enumerated() where usable[n] { itemTokens[i] = decoded[n] }
        var prompts: [EncodedPrompt] = []
        for (s, template) in zip(samples, templates) {
            prompts.append(data.prompts.encode(history: Array(s.history.suffix(data.split.historyCap)), template: template,
                                               itemTokens: itemTokens, userTokens: data.userTokens?[s.user]))
        }
        let length = prompts.map(\.tokens.count).max() ?? 1
        var index = [Int32](repeating: 0, count: prompts.count * length) // pad id 0
        let mask = Tensor(zeros: [prompts.count, length]) // storage is shared: filled below
        var softItems = 0
        for (b, p) in prompts.enumerated() {
            for (k, token) in p.tokens.enumerated() {
                index[b * length + k] = token
                mask.pointer[b * length + k] = 1
            }
            for span in p.itemSpans {
                guard let n = rowOf[span.item], usable[n] else { continue }
                softItems += 1
                for (j, position) in span.range.enumerated() {
                    index[b * length + position] = Int32(vocabulary + n * t + j)
                }
            }
        }
        let bigTable = concat([table, soft], axis: 0) // [V + N*T, d]
        var inputEmbeddings = embedding(bigTable, indices: IntTensor(shape: [prompts.count, length], values: index)) // [B, S, d]
        if let content { inputEmbeddings = inputEmbeddings + content.addition(prompts.map(\.itemSpans), length: length) }

        // 4. The frozen recommender's loss on the targets' current IDs.
        let recBatch = Seq2SeqBatch(sources: prompts.map(\.tokens), targets: samples.map { data.target($0.target) })
        var noDropout: SeededGenerator? = nil
        let recLoss = recommender.loss(inputEmbeddings: inputEmbeddings, attentionMask: mask, decoderInputs: recBatch.decoderInputIDs,
                                       labels: recBatch.labels, dropout: &noDropout)

        // 5. Regulariser toward the current IDs.
        var total = recLoss
        var regValue: Float = 0
        if regularizerWeight > 0 {
            let regBatch = Seq2SeqBatch(sources: items.map { sources[$0] }, targets: items.map { data.target($0) })
            let reg = generator.loss(regBatch)
            regValue = reg.value.item
            total = add(recLoss, scale(reg, regularizerWeight))
        }
        return Losses(total: total, recommendation: recLoss.value.item, regularizer: regValue, softItems: softItems)
    }
}
