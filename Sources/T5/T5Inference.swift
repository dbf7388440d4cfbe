import Autograd
import Decoding
import Foundation
import Support
import TensorCore

/// Graph-free copies of the weights in the layouts inference wants: q, k, v of each
/// self-attention concatenated into one [3·inner, d_model] projection, and the cross-attention
/// keys and values of every decoder layer into one [L·2·inner, d_model] projection (one GEMM
/// over the encoder output for all layers). A snapshot: build a new one after training steps.
public struct T5InferenceWeights {
    public let config: T5Config
    let shared: Tensor // [vocab, d]
    let head: Tensor // [vocab, d]
    /// `head` in 16-column panels for `BLAS.logitsAndLogSumExp(m:a:packed:…)`, packed once per
    /// generate call instead of by OpenBLAS at every step.
    let packedHead: PackedPanels
    let encoderQKV: [Tensor] // per layer [3·inner, d]
    let decoderQKV: [Tensor] // per layer [3·inner, d]
    let crossKV: Tensor // [L·2·inner, d]
    let encoderBiasTable: Tensor // [buckets, H]
    let decoderBiasTable: Tensor // [buckets, H]
    let model: T5Model

    public init(_ model: T5Model) {
        self.model = model
        config = model.config
        shared = model.shared.value
        head = model.headWeight.value
        packedHead = PackedPanels(b: head.pointer, n: head.shape[0], k: head.shape[1])
        func qkv(_ a: T5AttentionWeights) -> Tensor { Ops.concat([a.q.value, a.k.value, a.v.value], axis: 0) }
        encoderQKV = model.encoder.blocks.map { qkv($0.selfAttention) }
        decoderQKV = model.decoder.blocks.map { qkv($0.selfAttention) }
        crossKV = Ops.concat(model.decoder.blocks.flatMap { [$0.crossAttention!.k.value, $0.crossAttention!.v.value] }, axis: 0)
        encoderBiasTable = model.encoder.relativeAttentionBias.value
        decoderBiasTable = model.decoder.relativeAttentionBias.value
    }

    /// Bias [H, T, S] for queries at positions offset..<offset+T and keys 0..<S.
    func positionBias(table: Tensor, queries: Int, keys: Int, queryOffset: Int, bidirectional: Bool) -> Tensor {
        let h = config.num_heads
        let out = Tensor(uninitialized: [h, queries, keys])
        let tp = table.pointer, op = out.pointer
        for t in 0 ..< queries {
            for s in 0 ..< keys {
                let bucket = config.relativePositionBucket(s - (t + queryOffset), bidirectional: bidirectional)
                for head in 0 ..< h { op[(head * queries + t) * keys + s] = tp[bucket * h + head] }
            }
        }
        return out
    }

    func feedForward(_ ff: T5FeedForward, _ x: Tensor) -> Tensor {
        let act: (Tensor) -> Tensor = config.feedForwardActivationIsRelu ? Ops.relu : Ops.gelu
        if let wi = ff.wi {
            let h = Ops.linear(x, weight: wi.value)
            if config.feedForwardActivationIsRelu {
                Kernels.relu(h.pointer, h.pointer, h.count)
                return Ops.linear(h, weight: ff.wo.value)
            }
            return Ops.linear(act(h), weight: ff.wo.value)
        }
        let g = act(Ops.linear(x, weight: ff.wi0!.value))
        let l = Ops.linear(x, weight: ff.wi1!.value)
        return Ops.linear(Ops.mul(g, l), weight: ff.wo.value)
    }

    /// Runs the encoder once over padded inputs (graph-free) and projects the cross-attention
    /// keys and values of every decoder layer.
    public func encode(inputIDs: IntTensor, attentionMask: Tensor) -> T5EncoderOutput {
        encode(inputEmbeddings: Ops.embedding(shared, indices: inputIDs), attentionMask: attentionMask)
    }

    /// `encode(inputIDs:…)` from input embeddings [B, S, d_model] built by the caller (rows of
    /// `shared`, possibly with item content added; issue 18 part 3). The tensor is overwritten.
    public func encode(inputEmbeddings x: Tensor, attentionMask: Tensor) -> T5EncoderOutput {
        precondition(x.shape.count == 3 && x.shape[2] == config.d_model && attentionMask.count == x.shape[0] * x.shape[1],
                     "T5 encode: input embeddings \(x.shape), mask \(attentionMask.shape)")
        let b = x.shape[0], s = x.shape[1], dm = config.d_model, inner = config.innerDimension
        let eps = config.layer_norm_epsilon, heads = config.num_heads
        let keyMask = Seq2SeqBatch.additiveMask(attentionMask)
        let bias = positionBias(table: encoderBiasTable, queries: s, keys: s, queryOffset: 0, bidirectional: true)
        let shape = Attention.Shape(batch: b, queries: s, keys: s, heads: heads, headDim: config.d_kv)
        for (l, block) in model.encoder.blocks.enumerated() {
            let n = Ops.rmsNorm(x, weight: block.selfAttentionNorm.value, eps: eps)
            let qkv = Ops.linear(n, weight: encoderQKV[l]) // [B, S, 3·inner]
            let a = Tensor(uninitialized: [b, s, inner])
            Attention.forward(shape, q: qkv.pointer, ldq: 3 * inner, k: qkv.pointer + inner, ldk: 3 * inner,
                              v: qkv.pointer + 2 * inner, ldv: 3 * inner, out: a.pointer, ldo: inner, bias: bias.pointer,
                              keyMask: keyMask.pointer, causal: false, probabilities: nil, dropoutMask: nil)
            Ops.addInPlace(x, Ops.linear(a, weight: block.selfAttention.o.value))
            let m = Ops.rmsNorm(x, weight: block.feedForwardNorm.value, eps: eps)
            Ops.addInPlace(x, feedForward(block.feedForward, m))
        }
        let hidden = Ops.rmsNorm(x, weight: model.encoder.finalLayerNorm.value, eps: eps)
        _ = dm
        let kv = Ops.linear(hidden, weight: crossKV) // [B, S, L·2·inner]
        // Keys again, transposed per (input, layer, head) for `singleQueryTransposedKeys`.
        let layers = config.decoderLayers, dk = config.d_kv, padded = (s + 15) / 16 * 16, w = layers * 2 * inner
        let keysT = Tensor(shape: [b, layers, inner, padded], repeating: 0)
        let src = kv.pointer, dst = keysT.pointer
        for i in 0 ..< b {
            for l in 0 ..< layers {
                let block = dst + (i * layers + l) * inner * padded
                for pos in 0 ..< s {
                    let key = src + (i * s + pos) * w + l * 2 * inner
                    for c in 0 ..< heads * dk { block[c * padded + pos] = key[c] }
                }
            }
        }
        return T5EncoderOutput(hidden: hidden, keyMask: keyMask, crossKV: kv, crossKeysT: keysT)
    }
}

extension T5Config {
    var feedForwardActivationIsRelu: Bool { (try? feedForward().activation) == .relu }
}

/// The encoder's result for a batch of inputs, computed once per input.
public struct T5EncoderOutput {
    /// [N, S, d_model] after the final RMS norm (HF `encoder_last_hidden_state`).
    public let hidden: Tensor
    /// [N, S] additive key mask (0 / -1e9).
    public let keyMask: Tensor
    /// [N, S, L·2·inner]: per decoder layer l, keys at columns l·2·inner and values after them.
    public let crossKV: Tensor
    /// [N, L, inner, S rounded up to 16]: the cross-attention keys of each input and decoder
    /// layer transposed (head h, dimension d at row h·d_kv + d; padding zero).
    public let crossKeysT: Tensor
}

/// `StepScorer` for T5 decoding: the decoder runs one position per step for every row, with a
/// self-attention key/value cache that grows by one position per step and cross-attention
/// keys/values computed once per input (rows point at their input, so expanding to beams
/// copies nothing but the row→input map). `reorder` gathers the self-attention cache rows.
public struct T5StepScorer: StepScorer {
    public let weights: T5InferenceWeights
    public let encoded: T5EncoderOutput
    /// Input index of every current row.
    public private(set) var rowInput: [Int]
    /// Self-attention cache [rows, capacity, L·2·inner]: position p of layer l holds keys at
    /// l·2·inner and values right after.
    var cache: Tensor
    var capacity: Int
    var filled = 0

    public var vocabularySize: Int { weights.config.vocab_size }
    public var rows: Int { rowInput.count }

    public init(weights: T5InferenceWeights, encoded: T5EncoderOutput, initialCapacity: Int = 16) {
        self.weights = weights
        self.encoded = encoded
        rowInput = Array(0 ..< encoded.hidden.shape[0])
        capacity = max(1, initialCapacity)
        cache = Tensor(uninitialized: [rowInput.count, capacity, T5StepScorer.width(weights.config)])
    }

    static func width(_ c: T5Config) -> Int { c.decoderLayers * 2 * c.innerDimension }

    public mutating func reorder(sourceRows: [Int]) throws {
        let w = T5StepScorer.width(weights.config), stride = capacity * w, used = filled * w
        let next = Tensor(uninitialized: [sourceRows.count, capacity, w])
        let src = cache.pointer, dst = next.pointer
        for (r, old) in sourceRows.enumerated() {
            precondition(old >= 0 && old < rowInput.count, "reorder: source row \(old) of \(rowInput.count)")
            (dst + r * stride).update(from: src + old * stride, count: used)
        }
        cache = next
        rowInput = sourceRows.map { rowInput[$0] }
    }

    private mutating func grow() {
        let w = T5StepScorer.width(weights.config)
        let newCapacity = capacity * 2
        let next = Tensor(uninitialized: [rows, newCapacity, w])
        for r in 0 ..< rows { (next.pointer + r * newCapacity * w).update(from: cache.pointer + r * capacity * w, count: filled * w) }
        cache = next
        capacity = newCapacity
    }

    /// Decoder hidden state [rows, d_model] after the final norm (and head rescale) for the
    /// next position, appending this position's keys and values to the cache.
    mutating func step(lastTokens: [Int32]) -> Tensor {
        let c = weights.config, r = rows, inner = c.innerDimension, heads = c.num_heads, dk = c.d_kv
        let eps = c.layer_norm_epsilon, w = T5StepScorer.width(c)
        precondition(lastTokens.count == r, "T5StepScorer: \(lastTokens.count) tokens for \(r) rows")
        if filled == capacity { grow() }
        let t = filled
        let x = Ops.embedding(weights.shared, indices: IntTensor(shape: [r], values: lastTokens)) // [R, d]
        // Self-attention bias of query position t over keys 0…t: [H, t+1].
        let bias = weights.positionBias(table: weights.decoderBiasTable, queries: 1, keys: t + 1, queryOffset: t,
                                        bidirectional: false)
        let s = encoded.hidden.shape[1]
        let cacheBase = cache.pointer, kvBase = encoded.crossKV.pointer, maskBase = encoded.keyMask.pointer
        let rowStride = capacity * w, inputStride = s * w
        let keysTBase = encoded.crossKeysT.pointer, padded = encoded.crossKeysT.shape[3], layers = c.decoderLayers
        let rowInput = self.rowInput
        let a = Tensor(uninitialized: [r, inner])
        for (l, block) in weights.model.decoder.blocks.enumerated() {
            // Self-attention with the cache.
            let n = Ops.rmsNorm(x, weight: block.selfAttentionNorm.value, eps: eps)
            let qkv = Ops.linear(n, weight: weights.decoderQKV[l]) // [R, 3·inner]
            for row in 0 ..< r {
                (cacheBase + row * rowStride + t * w + l * 2 * inner).update(from: qkv.pointer + row * 3 * inner + inner, count: 2 * inner)
            }
            let layerOffset = l * 2 * inner
            Attention.singleQuery(rows: r, heads: heads, headDim: dk, length: t + 1, q: qkv.pointer, ldq: 3 * inner,
                                  out: a.pointer, ldo: inner, ld: w,
                                  keys: { UnsafePointer(cacheBase + $0 * rowStride + layerOffset) },
                                  values: { UnsafePointer(cacheBase + $0 * rowStride + layerOffset + inner) },
                                  bias: bias.pointer, mask: { _ in nil })
            Ops.addInPlace(x, Ops.linear(a, weight: block.selfAttention.o.value))
            // Cross-attention over the input's precomputed keys and values.
            let cross = block.crossAttention!
            let m = Ops.rmsNorm(x, weight: block.crossAttentionNorm!.value, eps: eps)
            let q = Ops.linear(m, weight: cross.q.value) // [R, inner]
            Attention.singleQueryTransposedKeys(
                rows: r, heads: heads, headDim: dk, length: s, paddedLength: padded, q: q.pointer, ldq: inner,
                out: a.pointer, ldo: inner,
                keysT: { UnsafePointer(keysTBase + (rowInput[$0] * layers + l) * inner * padded) },
                values: { UnsafePointer(kvBase + rowInput[$0] * inputStride + layerOffset + inner) }, ldv: w,
                mask: { UnsafePointer(maskBase + rowInput[$0] * s) })
            Ops.addInPlace(x, Ops.linear(a, weight: cross.o.value))
            let f = Ops.rmsNorm(x, weight: block.feedForwardNorm.value, eps: eps)
            Ops.addInPlace(x, weights.feedForward(block.feedForward, f))
        }
        filled += 1
        let h = Ops.rmsNorm(x, weight: weights.model.decoder.finalLayerNorm.value, eps: eps)
        if c.scalesDecoderOutput { Kernels.axpy(1 / Float(c.d_model).squareRoot(), h.pointer, h.pointer, h.count, accumulate: false) }
        return h
    }

    /// Logits and their log-sum-exp per row from one fused, cache-blocked pass
    /// (`BLAS.logitsAndLogSumExp`): log-probability = logit − normaliser, as `logProbabilities`.
    public mutating func unnormalizedLogProbabilities(lastTokens: [Int32], step: Int) throws -> (scores: [Float], normalizers: [Float]) {
        let h = self.step(lastTokens: lastTokens)
        let v = vocabularySize, d = weights.config.d_model, r = rows
        var normalizers = [Float](repeating: 0, count: r)
        let scores = [Float](unsafeUninitializedCapacity: r * v) { buf, count in
            normalizers.withUnsafeMutableBufferPointer { lse in
                precondition(weights.packedHead.n == v && weights.packedHead.k == d, "packed head [\(weights.packedHead.n), \(weights.packedHead.k)], expected [\(v), \(d)]")
                BLAS.logitsAndLogSumExp(m: r, a: h.pointer, packed: weights.packedHead,
                                        logits: buf.baseAddress!, logSumExp: lse.baseAddress!)
            }
            count = r * v
        }
        return (scores, normalizers)
    }

    public mutating func logProbabilities(lastTokens: [Int32], step: Int) throws -> [Float] {
        var (out, lse) = try self.unnormalizedLogProbabilities(lastTokens: lastTokens, step: step)
        let v = vocabularySize
        out.withUnsafeMutableBufferPointer { buf in
            let p = buf.baseAddress!
            Parallel.split(rows, costPerItem: v) { range in
                for row in range {
                    let shift = lse[row], q = p + row * v
                    for j in 0 ..< v { q[j] = q[j] - shift }
                }
            }
        }
        return out
    }
}

extension T5Model {
    /// Generates for every input (token ids as the encoder should see them: append eos
    /// yourself), `batchSize` inputs at a time: the encoder runs once per input, the decoder
    /// incrementally with KV caches, under HF `generate` semantics (greedy, beam, diverse beam;
    /// `constraint` sees global input indices). Graph-free; uses both cores.
    public func generate(inputs: [[Int32]], config gen: GenerationConfig, constraint: (any TokenConstraint)? = nil,
                         batchSize: Int = 64, inputAddition: T5InputAddition? = nil) throws -> [GenerationResult] {
        try generate(inputs: inputs, config: gen, constraint: constraint, batchSize: batchSize, weights: T5InferenceWeights(self),
                     inputAddition: inputAddition)
    }

    /// `generate` with this model's `T5InferenceWeights` made once by a caller that generates
    /// many times with unchanged weights (a server), instead of for every call.
    public func generate(inputs: [[Int32]], config gen: GenerationConfig, constraint: (any TokenConstraint)? = nil,
                         batchSize: Int = 64, weights: T5InferenceWeights, inputAddition: T5InputAddition? = nil) throws -> [GenerationResult] {
        for (i, row) in inputs.enumerated() {
            if row.isEmpty { throw T5Error.invalidInput("input \(i) is empty") }
            if let bad = row.first(where: { $0 < 0 || Int($0) >= config.vocab_size }) {
                throw T5Error.invalidInput("input \(i) holds token \(bad) outside the vocabulary 0..<\(config.vocab_size)")
            }
        }
        precondition(weights.model === self, "generate: the prepared weights are another model's")
        var results: [GenerationResult] = []
        results.reserveCapacity(inputs.count)
        var start = 0
        while start < inputs.count {
            let chunk = Array(inputs[start ..< min(inputs.count, start + max(1, batchSize))])
            let (ids, mask) = Seq2SeqBatch.pad(chunk, with: Int32(config.pad_token_id))
            let encoded: T5EncoderOutput
            if let inputAddition {
                let x = Ops.embedding(weights.shared, indices: ids) // [B, S, d]
                let extra = inputAddition(start ..< start + chunk.count, ids.shape[1])
                precondition(extra.shape == x.shape, "generate: the input addition is \(extra.shape), the inputs \(x.shape)")
                Ops.addInPlace(x, extra)
                encoded = weights.encode(inputEmbeddings: x, attentionMask: mask)
            } else {
                encoded = weights.encode(inputIDs: ids, attentionMask: mask)
            }
            var scorer = T5StepScorer(weights: weights, encoded: encoded, initialCapacity: gen.maxNewTokens)
            let shifted = constraint.map { OffsetConstraint(base: $0, offset: start) }
            results += try Generation.generate(scorer: &scorer, batchSize: chunk.count, config: gen, constraint: shifted)
            start += chunk.count
        }
        return results
    }
}

/// Something added to the encoder's input embeddings before `generate` encodes a chunk: given
/// the chunk's input indices and its padded length S, a [chunk, S, d_model] tensor (zero where
/// nothing is added). Item content in the prompt (issue 18 part 3) uses it.
public typealias T5InputAddition = (_ inputs: Range<Int>, _ paddedLength: Int) -> Tensor

/// Convenience spelling of `T5Model.generate(inputs:config:constraint:batchSize:)`.
public func generate(_ model: T5Model, inputs: [[Int32]], config: GenerationConfig,
                     constraint: (any TokenConstraint)? = nil, batchSize: Int = 64) throws -> [GenerationResult] {
    try model.generate(inputs: inputs, config: config, constraint: constraint, batchSize: batchSize)
}

/// Maps a chunk's batch index back to the global input index.
struct OffsetConstraint: TokenConstraint {
    let base: any TokenConstraint
    let offset: Int
    func allowedTokens(batchIndex: Int, prefix: [Int32]) -> [Int32]? {
        base.allowedTokens(batchIndex: batchIndex + offset, prefix: prefix)
    }
}
