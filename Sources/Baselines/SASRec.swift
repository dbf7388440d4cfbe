import Autograd
import Foundation
import Support
import TensorCore

/// SASRec's architecture (Kang & McAuley, ICDM 2018) in RecBole's form (`SASRec` +
/// `TransformerEncoder`, recbole 1.2): item embedding (row 0 = padding, shared with the output
/// layer) + learned absolute positions counted from the oldest item of the window → LayerNorm →
/// dropout → `blocks` × [causal multi-head self-attention → dropout → residual → LayerNorm;
/// point-wise FFN d → inner → d with GELU → dropout → residual → LayerNorm].
/// Field names mirror RecBole's config keys where one exists.
public struct SASRecConfig: Codable, Equatable, Sendable {
    /// Catalog size N; token i + 1 is catalog item i, token 0 is padding.
    public var itemCount: Int
    public var hiddenSize = 64
    public var blocks = 2
    public var heads = 2
    /// FFN width (RecBole `inner_size`).
    public var innerSize = 256
    /// Dropout after the embedding, the attention output and the FFN (`hidden_dropout_prob`).
    public var hiddenDropout: Float = 0.5
    /// Dropout on the attention probabilities (`attn_dropout_prob`).
    public var attentionDropout: Float = 0.5
    /// Most recent items a history keeps (`MAX_ITEM_LIST_LENGTH`).
    public var maxLength = 50
    /// RecBole's `layer_norm_eps`.
    public var layerNormEps: Float = 1e-12
    /// N(0, std²) initialisation of embeddings and projections (RecBole `initializer_range`).
    public var initializerRange: Float = 0.02

    public init(itemCount: Int) { self.itemCount = itemCount }

    public func validate() throws {
        func bad(_ key: String, _ value: Any, _ expected: String) -> BaselinesError {
            .invalidConfig(key: key, value: "\(value)", expected: expected)
        }
        guard itemCount >= 1 else { throw bad("item_count", itemCount, "at least 1 item") }
        guard hiddenSize >= 1 else { throw bad("hidden_size", hiddenSize, "a positive size") }
        guard heads >= 1, hiddenSize % heads == 0 else { throw bad("heads", heads, "a positive divisor of hidden_size \(hiddenSize)") }
        guard blocks >= 0 else { throw bad("blocks", blocks, "0 or more") }
        guard innerSize >= 1 else { throw bad("inner_size", innerSize, "a positive size") }
        guard maxLength >= 1 else { throw bad("max_length", maxLength, "at least 1") }
        for (k, p) in [("hidden_dropout", hiddenDropout), ("attention_dropout", attentionDropout)] where !(p >= 0 && p < 1) {
            throw bad(k, p, "a probability in [0, 1)")
        }
    }
}

/// Errors of the Baselines module; messages name the key, file or value and what was expected.
public enum BaselinesError: Error, CustomStringConvertible {
    case invalidConfig(key: String, value: String, expected: String)
    case badCheckpoint(path: String, reason: String)
    case noTrainingData(String)

    public var description: String {
        switch self {
        case let .invalidConfig(key, value, expected): return "invalid \(key) = \(value): expected \(expected)"
        case let .badCheckpoint(path, reason): return "\(path): \(reason)"
        case let .noTrainingData(why): return "nothing to train on: \(why)"
        }
    }
}

/// One transformer block (post-LN, as RecBole's `TransformerLayer`).
final class SASRecBlock: Module {
    let query, key, value, dense: Linear // [d, d] each
    let attentionNorm: LayerNorm
    let ffnIn: Linear // [inner, d]
    let ffnOut: Linear // [d, inner]
    let ffnNorm: LayerNorm

    init(_ c: SASRecConfig, generator: inout SeededGenerator) {
        let d = c.hiddenSize, std = c.initializerRange
        query = Linear(inFeatures: d, outFeatures: d, bias: true, std: std, generator: &generator)
        key = Linear(inFeatures: d, outFeatures: d, bias: true, std: std, generator: &generator)
        value = Linear(inFeatures: d, outFeatures: d, bias: true, std: std, generator: &generator)
        dense = Linear(inFeatures: d, outFeatures: d, bias: true, std: std, generator: &generator)
        attentionNorm = LayerNorm(dimension: d, eps: c.layerNormEps)
        ffnIn = Linear(inFeatures: d, outFeatures: c.innerSize, bias: true, std: std, generator: &generator)
        ffnOut = Linear(inFeatures: c.innerSize, outFeatures: d, bias: true, std: std, generator: &generator)
        ffnNorm = LayerNorm(dimension: d, eps: c.layerNormEps)
    }

    func namedParameters() -> [(name: String, parameter: Variable)] {
        prefixed("multi_head_attention.query", query) + prefixed("multi_head_attention.key", key)
            + prefixed("multi_head_attention.value", value) + prefixed("multi_head_attention.dense", dense)
            + prefixed("multi_head_attention.LayerNorm", attentionNorm)
            + prefixed("feed_forward.dense_1", ffnIn) + prefixed("feed_forward.dense_2", ffnOut)
            + prefixed("feed_forward.LayerNorm", ffnNorm)
    }
}

/// Noise switches for one forward pass: `nil` generator = evaluation (no dropout).
struct DropoutContext {
    var hidden: Float
    var attention: Float
    var generator: SeededGenerator?

    mutating func apply(_ x: Variable, _ p: Float) -> Variable {
        guard generator != nil, p > 0 else { return x }
        return dropout(x, p: p, generator: &generator!)
    }
}

/// A batch of right-padded item windows: tokens [B, T] (catalog index + 1, 0 = padding) and
/// each row's length (≥ 1). Right padding with positions counted from the start keeps a real
/// position's output independent of how much padding follows it (the causal mask hides it).
public struct SequenceBatch: Equatable {
    public var tokens: IntTensor // [B, T]
    public var lengths: [Int]
    public var rows: Int { lengths.count }
    public var width: Int { tokens.shape[1] }

    /// Windows of catalog indices (each non-empty, at most the model's max length).
    public init(windows: [[Int]]) {
        precondition(!windows.isEmpty && windows.allSatisfy { !$0.isEmpty }, "empty batch or window")
        let width = windows.map(\.count).max()!
        var values = [Int32](repeating: 0, count: windows.count * width)
        for (r, w) in windows.enumerated() { for (t, i) in w.enumerated() { values[r * width + t] = Int32(i + 1) } }
        tokens = IntTensor(shape: [windows.count, width], values: values)
        lengths = windows.map(\.count)
    }

    /// Flat indices (row · T + t) of the real positions, row by row.
    public var realPositions: [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(lengths.reduce(0, +))
        for (r, n) in lengths.enumerated() { for t in 0 ..< n { out.append(Int32(r * width + t)) } }
        return out
    }

    /// Flat index of each row's last real position.
    public var lastPositions: [Int32] { lengths.enumerated().map { Int32($0.offset * width + $0.element - 1) } }
}

/// The SASRec model. Parameter names follow RecBole's state dict.
public final class SASRec: Module {
    public let config: SASRecConfig
    let itemEmbedding: Embedding // [N + 1, d]; row 0 = padding
    let positionEmbedding: Embedding // [maxLength, d]
    let inputNorm: LayerNorm
    let layers: [SASRecBlock]

    public init(config: SASRecConfig, generator: inout SeededGenerator) throws {
        try config.validate()
        self.config = config
        let d = config.hiddenSize, std = config.initializerRange
        itemEmbedding = Embedding(vocabulary: config.itemCount + 1, dimension: d, std: std, generator: &generator)
        // RecBole's padding_idx = 0: the padding row starts at zero (it never reaches a loss).
        itemEmbedding.weight.value.pointer.update(repeating: 0, count: d)
        positionEmbedding = Embedding(vocabulary: config.maxLength, dimension: d, std: std, generator: &generator)
        inputNorm = LayerNorm(dimension: d, eps: config.layerNormEps)
        var blocks: [SASRecBlock] = []
        for _ in 0 ..< config.blocks { blocks.append(SASRecBlock(config, generator: &generator)) }
        layers = blocks
    }

    public func namedParameters() -> [(name: String, parameter: Variable)] {
        var p = prefixed("item_embedding", itemEmbedding) + prefixed("position_embedding", positionEmbedding)
            + prefixed("LayerNorm", inputNorm)
        for (i, l) in layers.enumerated() { p += prefixed("trm_encoder.layer.\(i)", l) }
        return p
    }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// Additive attention mask [B, 1, T, T]: 0 where key ≤ query and the key is a real item,
    /// -1e9 elsewhere. Every query row keeps key 0 (lengths ≥ 1), so no row is fully masked.
    static func attentionMask(_ batch: SequenceBatch) -> Tensor {
        let b = batch.rows, t = batch.width
        let mask = Tensor(shape: [b, 1, t, t], repeating: -1e9)
        let p = mask.pointer
        for r in 0 ..< b {
            let n = batch.lengths[r]
            for q in 0 ..< t {
                let row = p + (r * t + q) * t
                for k in 0 ... min(q, n - 1) { row[k] = 0 }
            }
        }
        return mask
    }

    /// Hidden states [B·T, d] of every position (graph recorded unless `GradMode` is off).
    func hidden(_ batch: SequenceBatch, noise: inout DropoutContext) -> Variable {
        let b = batch.rows, t = batch.width, d = config.hiddenSize, h = config.heads, dh = d / h
        precondition(t <= config.maxLength, "window of \(t) items for max length \(config.maxLength)")
        let items = embedding(itemEmbedding.weight, indices: batch.tokens) // [B, T, d]
        let positions = slice(positionEmbedding.weight, axis: 0, range: 0 ..< t) // [T, d], broadcast over B
        var x = noise.apply(inputNorm(items + positions), noise.hidden) // [B, T, d]
        let mask = Self.attentionMask(batch)
        let scale = 1 / Float(dh).squareRoot()
        for layer in layers {
            func heads(_ y: Variable) -> Variable { permute(y.reshaped([b, t, h, dh]), [0, 2, 1, 3]) } // [B, H, T, dh]
            let q = heads(layer.query(x)), k = heads(layer.key(x)), v = heads(layer.value(x))
            let scores = matmul(q, k, transposeB: true) * scale // [B, H, T, T]
            let probs = noise.apply(softmax(scores, mask: mask), noise.attention)
            let context = permute(matmul(probs, v), [0, 2, 1, 3]).reshaped([b, t, d]) // [B, T, d]
            x = layer.attentionNorm(noise.apply(layer.dense(context), noise.hidden) + x)
            let f = layer.ffnOut(gelu(layer.ffnIn(x))) // [B, T, d]
            x = layer.ffnNorm(noise.apply(f, noise.hidden) + x)
        }
        return x.reshaped([b * t, d])
    }

    /// The output layer: catalog rows of the shared item embedding, [N, d] (padding row left out).
    var outputTable: Variable { slice(itemEmbedding.weight, axis: 0, range: 1 ..< config.itemCount + 1) }

    /// Training loss over every real position of `batch` (all prefixes at once): the target of
    /// input position p is `targets[row][p]` (the next item). CE: full softmax over the
    /// catalog. BCE: one negative per position, −log σ(s⁺) averaged + −log(1 − σ(s⁻)) averaged
    /// (SASRec.pytorch's form). `negatives` are required for BCE.
    public func loss(_ batch: SequenceBatch, targets: [[Int]], negatives: [[Int]]? = nil, kind: SASRecLoss,
                     generator: inout SeededGenerator) -> Variable {
        precondition(targets.count == batch.rows && zip(targets, batch.lengths).allSatisfy { $0.count == $1 },
                     "one target per real position")
        var noise = DropoutContext(hidden: config.hiddenDropout, attention: config.attentionDropout, generator: generator)
        defer { generator = noise.generator! }
        let states = embedding(hidden(batch, noise: &noise), indices: IntTensor(shape: [batch.lengths.reduce(0, +)], values: batch.realPositions)) // [R, d]
        let flatTargets = targets.flatMap { $0 }
        switch kind {
        case .ce:
            let logits = linear(states, weight: outputTable) // [R, N]
            return crossEntropy(logits, targets: IntTensor(shape: [flatTargets.count], values: flatTargets))
        case .bce:
            guard let negatives else { preconditionFailure("BCE needs one negative per position") }
            let flatNegatives = negatives.flatMap { $0 }
            precondition(flatNegatives.count == flatTargets.count, "one negative per position")
            let r = flatTargets.count
            let pos = embedding(itemEmbedding.weight, indices: IntTensor(shape: [r], values: flatTargets.map { $0 + 1 })) // [R, d]
            let neg = embedding(itemEmbedding.weight, indices: IntTensor(shape: [r], values: flatNegatives.map { $0 + 1 })) // [R, d]
            let posLogits = sumLastAxis(states * pos), negLogits = sumLastAxis(states * neg) // [R]
            return binaryCrossEntropyWithLogits(posLogits, targets: Tensor(shape: [r], repeating: 1))
                + binaryCrossEntropyWithLogits(negLogits, targets: Tensor(zeros: [r]))
        }
    }

    /// Full-catalog scores [B, N] for the last real position of each window (no dropout, no graph).
    public func scores(_ batch: SequenceBatch) -> Tensor {
        GradMode.withoutGradients {
            var noise = DropoutContext(hidden: 0, attention: 0, generator: nil)
            let last = Ops.embedding(hidden(batch, noise: &noise).value, indices: IntTensor(shape: [batch.rows], values: batch.lastPositions)) // [B, d]
            let table = Ops.slice(itemEmbedding.weight.value, axis: 0, range: 1 ..< config.itemCount + 1) // [N, d]
            return Ops.linear(last, weight: table) // [B, N]
        }
    }

    /// Hidden states of every position, [B, T, d], without dropout (for tests and inspection).
    public func encode(_ batch: SequenceBatch) -> Tensor {
        GradMode.withoutGradients {
            var noise = DropoutContext(hidden: 0, attention: 0, generator: nil)
            return hidden(batch, noise: &noise).value.reshaped([batch.rows, batch.width, config.hiddenSize])
        }
    }
}

/// The training objective.
public enum SASRecLoss: String, Codable, CaseIterable, Sendable {
    /// Full-softmax cross-entropy over the catalog (RecBole's default).
    case ce
    /// Binary cross-entropy with one sampled negative per position (the original paper).
    case bce
}

extension SASRec: ItemScorer {
    public var itemCount: Int { config.itemCount }

    /// Scores from the most recent `maxLength` items of each history (an empty history is
    /// scored from the padding token alone, so every user gets a ranking).
    public func scores(histories: [[Int]]) -> Tensor {
        let windows = histories.map { h -> [Int] in h.isEmpty ? [] : Array(h.suffix(config.maxLength)) }
        let empty = windows.indices.filter { windows[$0].isEmpty }
        if empty.isEmpty { return scores(SequenceBatch(windows: windows)) }
        // Padding-only rows: run them with a placeholder and overwrite with the padding-token scores.
        let batch = SequenceBatch(windows: windows.map { $0.isEmpty ? [0] : $0 })
        var tokens = batch.tokens
        for r in empty { tokens.values[r * batch.width] = 0 }
        return scores(SequenceBatch(tokens: tokens, lengths: batch.lengths))
    }
}

extension SequenceBatch {
    /// Raw tokens (for padding-only rows); lengths must match the tokens' width.
    init(tokens: IntTensor, lengths: [Int]) {
        self.tokens = tokens
        self.lengths = lengths
    }
}
