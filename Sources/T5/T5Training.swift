import Autograd
import Support
import TensorCore

/// Dropout settings of one forward pass: probability `dropout_rate`, or off when no generator.
struct DropoutState {
    var generator: SeededGenerator?
    let p: Float

    mutating func apply(_ x: Variable) -> Variable {
        guard p > 0, generator != nil else { return x }
        return dropout(x, p: p, generator: &generator!)
    }

    /// x + dropout(y) fused (x + y when dropout is off).
    mutating func residual(_ x: Variable, _ y: Variable) -> Variable {
        guard p > 0, generator != nil else { return x + y }
        return addDropout(x, y, p: p, generator: &generator!)
    }

    /// dropout(relu(x)) fused (relu alone when dropout is off).
    mutating func applyAfterRelu(_ x: Variable) -> Variable {
        guard p > 0, generator != nil else { return relu(x) }
        return reluDropout(x, p: p, generator: &generator!)
    }
}

extension T5Model {
    // MARK: public training API

    /// Decoder logits [B, T, vocab] of a teacher-forced pass. Dropout (`dropout_rate`) is applied
    /// only when `dropout` is given (train mode); without it this is HF eval mode.
    public func logits(_ batch: Seq2SeqBatch, dropout generator: inout SeededGenerator) -> Variable {
        var d = DropoutState(generator: generator, p: config.dropout_rate)
        defer { generator = d.generator! }
        return forwardLogits(batch, &d)
    }

    public func logits(_ batch: Seq2SeqBatch) -> Variable {
        var d = DropoutState(generator: nil, p: 0)
        return forwardLogits(batch, &d)
    }

    /// Mean cross-entropy over the label positions that are not -100 (HF `labels=` loss).
    public func loss(_ batch: Seq2SeqBatch, dropout generator: inout SeededGenerator) -> Variable {
        crossEntropy(flat(logits(batch, dropout: &generator)), targets: flatLabels(batch.labels))
    }

    public func loss(_ batch: Seq2SeqBatch) -> Variable {
        crossEntropy(flat(logits(batch)), targets: flatLabels(batch.labels))
    }

    /// Co-training entry: the encoder reads `inputEmbeddings` [B, S, d_model] (built by the
    /// caller, e.g. rows of `shared` with soft embeddings spliced in) instead of token ids, so
    /// the loss's gradient reaches those embeddings. `attentionMask` [B, S] is 1 / 0;
    /// `decoderInputs` and `labels` [B, T] as in `Seq2SeqBatch`.
    public func loss(inputEmbeddings: Variable, attentionMask: Tensor, decoderInputs: IntTensor, labels: IntTensor,
                     dropout generator: inout SeededGenerator?) -> Variable {
        var d = DropoutState(generator: generator, p: config.dropout_rate)
        defer { generator = d.generator }
        let logits = logits(inputEmbeddings: inputEmbeddings, attentionMask: attentionMask, decoderInputs: decoderInputs, &d)
        return crossEntropy(flat(logits), targets: flatLabels(labels))
    }

    /// Logits [B, T, vocab] from input embeddings (see `loss(inputEmbeddings:…)`).
    public func logits(inputEmbeddings: Variable, attentionMask: Tensor, decoderInputs: IntTensor,
                       dropout generator: inout SeededGenerator?) -> Variable {
        var d = DropoutState(generator: generator, p: config.dropout_rate)
        defer { generator = d.generator }
        return logits(inputEmbeddings: inputEmbeddings, attentionMask: attentionMask, decoderInputs: decoderInputs, &d)
    }

    /// Encoder output [B, S, d_model] (after the final RMS norm) with autograd.
    public func encode(inputEmbeddings: Variable, attentionMask: Tensor, dropout generator: inout SeededGenerator?) -> Variable {
        var d = DropoutState(generator: generator, p: config.dropout_rate)
        defer { generator = d.generator }
        return encoderStack(inputEmbeddings, keyMask: Seq2SeqBatch.additiveMask(attentionMask), &d)
    }

    /// Encoder output [B, S, d_model] for token ids, without dropout.
    public func encode(_ inputIDs: IntTensor, attentionMask: Tensor) -> Variable {
        var d = DropoutState(generator: nil, p: 0)
        return encoderStack(embedding(shared, indices: inputIDs), keyMask: Seq2SeqBatch.additiveMask(attentionMask), &d)
    }

    // MARK: forward

    private func flat(_ logits: Variable) -> Variable { logits.reshaped([-1, config.vocab_size]) }
    private func flatLabels(_ labels: IntTensor) -> IntTensor { labels.reshaped([labels.count]) }

    func forwardLogits(_ batch: Seq2SeqBatch, _ d: inout DropoutState) -> Variable {
        logits(inputEmbeddings: embedding(shared, indices: batch.inputIDs), attentionMask: batch.attentionMask,
               decoderInputs: batch.decoderInputIDs, &d)
    }

    func logits(inputEmbeddings: Variable, attentionMask: Tensor, decoderInputs: IntTensor, _ d: inout DropoutState) -> Variable {
        precondition(inputEmbeddings.shape.count == 3 && inputEmbeddings.shape[2] == config.d_model
            && attentionMask.count == inputEmbeddings.shape[0] * inputEmbeddings.shape[1],
            "T5: input embeddings \(inputEmbeddings.shape), mask \(attentionMask.shape)")
        let keyMask = Seq2SeqBatch.additiveMask(attentionMask)
        let enc = encoderStack(inputEmbeddings, keyMask: keyMask, &d)
        return decoderStack(decoderInputs, encoderOutput: enc, encoderKeyMask: keyMask, &d)
    }

    /// Relative position bias [H, T, S] from a stack's table [buckets, H] (differentiable).
    func positionBias(_ table: Variable, queries: Int, keys: Int, bidirectional: Bool) -> Variable {
        let idx = config.bucketIndices(queries: queries, keys: keys, bidirectional: bidirectional)
        let rows = embedding(table, indices: idx) // [T·S, H]
        return permute(rows, [1, 0]).reshaped([config.num_heads, queries, keys]) // [H, T, S]
    }

    /// Self-attention: q, k and v in one projection (one GEMM forward, two backward).
    func selfAttend(_ w: T5AttentionWeights, _ x: Variable, bias: Variable?, keyMask: Tensor?, causal: Bool,
                    _ d: inout DropoutState) -> Variable {
        let qkv = linear(x, weight: concat([w.q, w.k, w.v], axis: 0)) // [B, T, 3·inner]
        let a = attention(packedQKV: qkv, heads: config.num_heads, bias: bias, keyMask: keyMask, causal: causal,
                          dropout: d.p, generator: &d.generator) // [B, T, inner]
        return linear(a, weight: w.o) // [B, T, d_model]
    }

    /// Cross-attention of decoder layer `layer`; `crossKV` [B, S, L·2·inner] holds every layer's
    /// keys and values of the encoder output (one GEMM: the encoder output is packed once).
    func crossAttend(_ w: T5AttentionWeights, _ x: Variable, crossKV: Variable, layer: Int, keyMask: Tensor?,
                     _ d: inout DropoutState) -> Variable {
        let inner = config.innerDimension
        let q = linear(x, weight: w.q) // [B, T, inner]
        let a = attention(query: q, keysAndValues: crossKV, keyOffset: layer * 2 * inner, valueOffset: layer * 2 * inner + inner,
                          heads: config.num_heads, keyMask: keyMask, dropout: d.p, generator: &d.generator) // [B, T, inner]
        return linear(a, weight: w.o) // [B, T, d_model]
    }

    func feedForward(_ ff: T5FeedForward, _ x: Variable, _ d: inout DropoutState) -> Variable {
        let act: (Variable) -> Variable = activation == .relu ? relu : gelu
        var h: Variable
        if let wi = ff.wi {
            if activation == .relu { // relu and dropout in one pass
                return linear(d.applyAfterRelu(linear(x, weight: wi)), weight: ff.wo) // hidden [B, T, d_ff]
            }
            h = act(linear(x, weight: wi)) // [B, T, d_ff]
        } else {
            h = act(linear(x, weight: ff.wi0!)) * linear(x, weight: ff.wi1!)
        }
        h = d.apply(h)
        return linear(h, weight: ff.wo)
    }

    func encoderStack(_ embeddings: Variable, keyMask: Tensor, _ d: inout DropoutState) -> Variable {
        let s = embeddings.shape[1], eps = config.layer_norm_epsilon
        var x = d.apply(embeddings)
        let bias = positionBias(encoder.relativeAttentionBias, queries: s, keys: s, bidirectional: true)
        for block in encoder.blocks {
            let n = rmsNorm(x, weight: block.selfAttentionNorm, eps: eps)
            x = d.residual(x, selfAttend(block.selfAttention, n, bias: bias, keyMask: keyMask, causal: false, &d))
            let m = rmsNorm(x, weight: block.feedForwardNorm, eps: eps)
            x = d.residual(x, feedForward(block.feedForward, m, &d))
        }
        return d.apply(rmsNorm(x, weight: encoder.finalLayerNorm, eps: eps))
    }

    func decoderStack(_ ids: IntTensor, encoderOutput: Variable, encoderKeyMask: Tensor, _ d: inout DropoutState) -> Variable {
        linear(decoderHidden(ids, encoderOutput: encoderOutput, encoderKeyMask: encoderKeyMask, &d), weight: headWeight) // [B, T, vocab]
    }

    /// Decoder output [B, T, d_model] before the LM head (after the final norm, dropout and, for a
    /// tied head, the `d_model**-0.5` rescale).
    func decoderHidden(_ ids: IntTensor, encoderOutput: Variable, encoderKeyMask: Tensor, _ d: inout DropoutState) -> Variable {
        let t = ids.shape[1], eps = config.layer_norm_epsilon
        var x = d.apply(embedding(shared, indices: ids)) // [B, T, d_model]
        let bias = positionBias(decoder.relativeAttentionBias, queries: t, keys: t, bidirectional: false)
        // Keys and values of the encoder output for every layer: [B, S, L·2·inner].
        let crossWeights = decoder.blocks.flatMap { [$0.crossAttention!.k, $0.crossAttention!.v] }
        let crossKV = linear(encoderOutput, weight: concat(crossWeights, axis: 0))
        for (l, block) in decoder.blocks.enumerated() {
            let n = rmsNorm(x, weight: block.selfAttentionNorm, eps: eps)
            x = d.residual(x, selfAttend(block.selfAttention, n, bias: bias, keyMask: nil, causal: true, &d))
            let c = rmsNorm(x, weight: block.crossAttentionNorm!, eps: eps)
            x = d.residual(x, crossAttend(block.crossAttention!, c, crossKV: crossKV, layer: l, keyMask: encoderKeyMask, &d))
            let m = rmsNorm(x, weight: block.feedForwardNorm, eps: eps)
            x = d.residual(x, feedForward(block.feedForward, m, &d))
        }
        var h = d.apply(rmsNorm(x, weight: decoder.finalLayerNorm, eps: eps))
        if config.scalesDecoderOutput { h = h * (1 / Float(config.d_model).squareRoot()) }
        return h
    }
}
