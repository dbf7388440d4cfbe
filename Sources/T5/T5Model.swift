import Autograd
import Foundation
import Support
import Tokenizer
import TensorCore

/// One T5 attention sublayer's weights (HF `T5Attention`): q/k/v [H·dk, d_model], o
/// [d_model, H·dk], and in the first block of each stack the relative position bias table
/// [num_buckets, H].
public final class T5AttentionWeights: Module {
    public let q: Variable // [inner, d_model]
    public let k: Variable // [inner, d_model]
    public let v: Variable // [inner, d_model]
    public let o: Variable // [d_model, inner]
    public let relativeAttentionBias: Variable? // [buckets, heads]

    init(config c: T5Config, relativeBias: Bool, generator g: inout SeededGenerator) {
        let f = c.initializer_factor ?? 1, d = Float(c.d_model), inner = c.innerDimension
        // HF `_init_weights` for T5Attention.
        q = .parameter(.normal(shape: [inner, c.d_model], std: f * 1 / (d * Float(c.d_kv)).squareRoot(), generator: &g))
        k = .parameter(.normal(shape: [inner, c.d_model], std: f / d.squareRoot(), generator: &g))
        v = .parameter(.normal(shape: [inner, c.d_model], std: f / d.squareRoot(), generator: &g))
        o = .parameter(.normal(shape: [c.d_model, inner], std: f / Float(inner).squareRoot(), generator: &g))
        relativeAttentionBias = relativeBias
            ? .parameter(.normal(shape: [c.relative_attention_num_buckets, c.num_heads], std: f / d.squareRoot(), generator: &g))
            : nil
    }

    public func namedParameters() -> [(name: String, parameter: Variable)] {
        var p: [(name: String, parameter: Variable)] = [("q.weight", q), ("k.weight", k), ("v.weight", v), ("o.weight", o)]
        if let relativeAttentionBias { p.append(("relative_attention_bias.weight", relativeAttentionBias)) }
        return p
    }
}

/// HF `T5DenseActDense` (wi, wo) or `T5DenseGatedActDense` (wi_0, wi_1, wo).
public final class T5FeedForward: Module {
    public let wi: Variable? // [d_ff, d_model], ungated
    public let wi0: Variable? // [d_ff, d_model], gated: activation branch
    public let wi1: Variable? // [d_ff, d_model], gated: linear branch
    public let wo: Variable // [d_model, d_ff]
    public let activation: T5Config.Activation

    init(config c: T5Config, generator g: inout SeededGenerator) throws {
        let (act, gated) = try c.feedForward()
        activation = act
        let f = c.initializer_factor ?? 1
        let stdIn = f / Float(c.d_model).squareRoot(), stdOut = f / Float(c.d_ff).squareRoot()
        if gated {
            wi = nil
            wi0 = .parameter(.normal(shape: [c.d_ff, c.d_model], std: stdIn, generator: &g))
            wi1 = .parameter(.normal(shape: [c.d_ff, c.d_model], std: stdIn, generator: &g))
        } else {
            wi = .parameter(.normal(shape: [c.d_ff, c.d_model], std: stdIn, generator: &g))
            wi0 = nil; wi1 = nil
        }
        wo = .parameter(.normal(shape: [c.d_model, c.d_ff], std: stdOut, generator: &g))
    }

    public var gated: Bool { wi == nil }

    public func namedParameters() -> [(name: String, parameter: Variable)] {
        if let wi { return [("wi.weight", wi), ("wo.weight", wo)] }
        return [("wi_0.weight", wi0!), ("wi_1.weight", wi1!), ("wo.weight", wo)]
    }
}

/// One `T5Block`: self-attention, (decoder) cross-attention, feed-forward, each pre-normed.
public final class T5Block: Module {
    public let selfAttention: T5AttentionWeights
    public let selfAttentionNorm: Variable // [d_model]
    public let crossAttention: T5AttentionWeights?
    public let crossAttentionNorm: Variable? // [d_model]
    public let feedForward: T5FeedForward
    public let feedForwardNorm: Variable // [d_model]

    init(config c: T5Config, isDecoder: Bool, relativeBias: Bool, generator g: inout SeededGenerator) throws {
        let f = c.initializer_factor ?? 1
        selfAttention = T5AttentionWeights(config: c, relativeBias: relativeBias, generator: &g)
        selfAttentionNorm = .parameter(Tensor(shape: [c.d_model], repeating: f))
        if isDecoder {
            crossAttention = T5AttentionWeights(config: c, relativeBias: false, generator: &g)
            crossAttentionNorm = .parameter(Tensor(shape: [c.d_model], repeating: f))
        } else {
            crossAttention = nil; crossAttentionNorm = nil
        }
        feedForward = try T5FeedForward(config: c, generator: &g)
        feedForwardNorm = .parameter(Tensor(shape: [c.d_model], repeating: f))
    }

    public func namedParameters() -> [(name: String, parameter: Variable)] {
        var p = prefixed("layer.0.SelfAttention", selfAttention)
        p.append(("layer.0.layer_norm.weight", selfAttentionNorm))
        var ff = 1
        if let crossAttention, let crossAttentionNorm {
            p += prefixed("layer.1.EncDecAttention", crossAttention)
            p.append(("layer.1.layer_norm.weight", crossAttentionNorm))
            ff = 2
        }
        p += prefixed("layer.\(ff).DenseReluDense", feedForward)
        p.append(("layer.\(ff).layer_norm.weight", feedForwardNorm))
        return p
    }
}

/// `T5Stack` (encoder or decoder) without its embedding (the model's `shared` table).
public final class T5Stack: Module {
    public let blocks: [T5Block]
    public let finalLayerNorm: Variable // [d_model]
    public let isDecoder: Bool

    init(config c: T5Config, isDecoder: Bool, generator g: inout SeededGenerator) throws {
        self.isDecoder = isDecoder
        let n = isDecoder ? c.decoderLayers : c.num_layers
        var b: [T5Block] = []
        for i in 0 ..< n { b.append(try T5Block(config: c, isDecoder: isDecoder, relativeBias: i == 0, generator: &g)) }
        blocks = b
        finalLayerNorm = .parameter(Tensor(shape: [c.d_model], repeating: c.initializer_factor ?? 1))
    }

    /// The relative position bias table [buckets, heads] (block 0 owns it; shared by all layers).
    public var relativeAttentionBias: Variable { blocks[0].selfAttention.relativeAttentionBias! }

    public func namedParameters() -> [(name: String, parameter: Variable)] {
        var p: [(name: String, parameter: Variable)] = []
        for (i, b) in blocks.enumerated() { p += prefixed("block.\(i)", b) }
        p.append(("final_layer_norm.weight", finalLayerNorm))
        return p
    }
}

/// Hugging Face `T5ForConditionalGeneration` on the engine: same parameter names, same
/// initialisation scheme, same forward (pre-norm RMS blocks, relative position bias computed
/// once per stack and shared by its layers, no attention scaling, tied head rescaled by
/// d_model^-0.5), same loss (mean cross-entropy, labels -100 ignored).
///
/// Training goes through autograd (`loss`, `logits`); inference through graph-free code
/// (`T5StepScorer`, `generate`, `encodeForInference`).
public final class T5Model: Module {
    public let config: T5Config
    /// The shared token embedding [vocab, d_model] (encoder and decoder input; the head when tied).
    public let shared: Variable
    public let encoder: T5Stack
    public let decoder: T5Stack
    /// Own output projection [vocab, d_model] when `tie_word_embeddings` is false.
    public let lmHead: Variable?
    let activation: T5Config.Activation

    /// A freshly initialised model (HF `_init_weights`, scaled by `initializer_factor`), drawing
    /// from `generator` in parameter order.
    public init(config: T5Config, generator: inout SeededGenerator) throws {
        try config.validate()
        self.config = config
        let f = config.initializer_factor ?? 1
        shared = .parameter(.normal(shape: [config.vocab_size, config.d_model], std: f, generator: &generator))
        encoder = try T5Stack(config: config, isDecoder: false, generator: &generator)
        decoder = try T5Stack(config: config, isDecoder: true, generator: &generator)
        lmHead = config.tied ? nil : .parameter(.normal(shape: [config.vocab_size, config.d_model], std: f, generator: &generator))
        activation = try config.feedForward().activation
        for (name, p) in namedParameters() { p.name = name }
    }

    /// HF `named_parameters()` keys: `shared.weight`, `encoder.block.0.layer.0.SelfAttention.q.weight`,
    /// …, `lm_head.weight` only when untied.
    public func namedParameters() -> [(name: String, parameter: Variable)] {
        var p: [(name: String, parameter: Variable)] = [("shared.weight", shared)]
        p += prefixed("encoder", encoder)
        p += prefixed("decoder", decoder)
        if let lmHead { p.append(("lm_head.weight", lmHead)) }
        return p
    }

    /// The output projection's weight [vocab, d_model] (the shared table when tied).
    public var headWeight: Variable { lmHead ?? shared }

    // MARK: Hugging Face folders

    /// Keys HF checkpoints may carry as aliases of `shared.weight` (older `save_pretrained`
    /// versions and the original t5-small write them); they are accepted and ignored.
    static let tiedAliases: Set<String> = ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"]

    /// Loads `config.json` and `model.safetensors` from a Hugging Face folder, strictly: every
    /// parameter must be present with its shape and no other tensor may appear (the tied
    /// embedding aliases, and `lm_head.weight` when tied, excepted). A tokenizer in the folder
    /// (`spiece.model`) is the caller's business (`Tokenizer(contentsOf:)`).
    public static func load(folder: URL) throws -> T5Model {
        let config = try T5Config.load(folder.appendingPathComponent("config.json"))
        var g = SeededGenerator(seed: 0)
        let model = try T5Model(config: config, generator: &g)
        var ignoring = tiedAliases
        if config.tied { ignoring.insert("lm_head.weight") }
        try ParameterIO.load(model.namedParameters(), from: folder.appendingPathComponent("model.safetensors"), ignoring: ignoring)
        return model
    }

    /// Writes a complete Hugging Face folder: `config.json` and `model.safetensors` (F32, metadata
    /// `format: pt`, no `lm_head.weight` when tied), as `save_pretrained(safe_serialization=True)`
    /// does, and the tokenizer beside them (`spiece.model`, `tokenizer_config.json`,
    /// `special_tokens_map.json`), so `T5ForConditionalGeneration.from_pretrained(folder)` and
    /// `AutoTokenizer.from_pretrained(folder)` both load it (tools/check_hf_roundtrip.py checks
    /// with transformers 4.x and 5.x).
    public func save(folder: URL, tokenizer: Tokenizer) throws {
        guard tokenizer.vocabularySize == config.vocab_size else {
            throw T5Error.tokenizerMismatch("saving \(folder.path): the tokenizer has \(tokenizer.vocabularySize) pieces but the model's vocab_size is \(config.vocab_size)")
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try config.save(folder.appendingPathComponent("config.json"))
        try ParameterIO.save(namedParameters(), metadata: ["format": "pt"], to: folder.appendingPathComponent("model.safetensors"))
        try HFTokenizerFiles.write(tokenizer, to: folder)
    }
}

// MARK: relative position buckets

extension T5Config {
    /// HF `T5Attention._relative_position_bucket` for `relative_position = key − query`, with
    /// the logarithm computed in Float as PyTorch does.
    public func relativePositionBucket(_ relativePosition: Int, bidirectional: Bool) -> Int {
        var buckets = relative_attention_num_buckets
        var result = 0
        var rp = relativePosition
        if bidirectional {
            buckets /= 2
            if rp > 0 { result += buckets }
            rp = abs(rp)
        } else {
            rp = -min(rp, 0)
        }
        let maxExact = buckets / 2
        if rp < maxExact { return result + rp }
        let scale = Float(log(Double(relative_attention_max_distance) / Double(maxExact)))
        let large = maxExact + Int(logf(Float(rp) / Float(maxExact)) / scale * Float(buckets - maxExact))
        return result + min(large, buckets - 1)
    }

    /// Bucket of every (query, key) pair: [queries · keys], query positions offset by `queryOffset`.
    func bucketIndices(queries: Int, keys: Int, queryOffset: Int = 0, bidirectional: Bool) -> IntTensor {
        var v = [Int32](repeating: 0, count: queries * keys)
        for t in 0 ..< queries {
            for s in 0 ..< keys {
                v[t * keys + s] = Int32(relativePositionBucket(s - (t + queryOffset), bidirectional: bidirectional))
            }
        }
        return IntTensor(shape: [queries * keys], values: v)
    }
}
