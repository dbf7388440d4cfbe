import Autograd
import Support
import TensorCore

extension T5Model {
    /// Decoder output [B, T, d_model] of a teacher-forced pass, before the LM head: what a head
    /// other than the vocabulary (e.g. the single-token item table of `--scheme item-token`)
    /// scores. `inputIDs` / `attentionMask` [B, S] as in `Seq2SeqBatch`; `decoderInputs` [B, T].
    /// Dropout only when `generator` is given.
    public func decoderHidden(inputIDs: IntTensor, attentionMask: Tensor, decoderInputs: IntTensor,
                              dropout generator: inout SeededGenerator?) -> Variable {
        var d = DropoutState(generator: generator, p: generator == nil ? 0 : config.dropout_rate)
        defer { generator = d.generator }
        let keyMask = Seq2SeqBatch.additiveMask(attentionMask)
        let enc = encoderStack(embedding(shared, indices: inputIDs), keyMask: keyMask, &d)
        return decoderHidden(decoderInputs, encoderOutput: enc, encoderKeyMask: keyMask, &d)
    }

    /// `decoderHidden(inputIDs:…)` with the encoder reading `inputEmbeddings` [B, S, d_model]
    /// built by the caller (rows of `shared` plus a term, e.g. the item rows of
    /// `--item-input add`).
    public func decoderHidden(inputEmbeddings: Variable, attentionMask: Tensor, decoderInputs: IntTensor,
                              dropout generator: inout SeededGenerator?) -> Variable {
        var d = DropoutState(generator: generator, p: generator == nil ? 0 : config.dropout_rate)
        defer { generator = d.generator }
        let keyMask = Seq2SeqBatch.additiveMask(attentionMask)
        let enc = encoderStack(inputEmbeddings, keyMask: keyMask, &d)
        return decoderHidden(decoderInputs, encoderOutput: enc, encoderKeyMask: keyMask, &d)
    }
}

extension T5InferenceWeights {
    /// The first decoder step's output [B, d_model] from the start token, graph-free on the
    /// generation path (fused encoder, cached cross-attention keys): what `decoderHidden` gives
    /// for a one-token decoder input without dropout, at inference speed.
    public func firstDecoderHidden(inputIDs: IntTensor, attentionMask: Tensor) -> Tensor {
        firstDecoderHidden(encoded: encode(inputIDs: inputIDs, attentionMask: attentionMask), batch: inputIDs.shape[0])
    }

    /// The same from input embeddings [B, S, d_model] (overwritten; see `encode(inputEmbeddings:…)`).
    public func firstDecoderHidden(inputEmbeddings: Tensor, attentionMask: Tensor) -> Tensor {
        firstDecoderHidden(encoded: encode(inputEmbeddings: inputEmbeddings, attentionMask: attentionMask), batch: inputEmbeddings.shape[0])
    }

    private func firstDecoderHidden(encoded: T5EncoderOutput, batch: Int) -> Tensor {
        var scorer = T5StepScorer(weights: self, encoded: encoded)
        return scorer.step(lastTokens: [Int32](repeating: Int32(config.decoder_start_token_id), count: batch))
    }
}
