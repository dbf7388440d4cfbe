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
}

extension T5InferenceWeights {
    /// The first decoder step's output [B, d_model] from the start token, graph-free on the
    /// generation path (fused encoder, cached cross-attention keys): what `decoderHidden` gives
    /// for a one-token decoder input without dropout, at inference speed.
    public func firstDecoderHidden(inputIDs: IntTensor, attentionMask: Tensor) -> Tensor {
        var scorer = T5StepScorer(weights: self, encoded: encode(inputIDs: inputIDs, attentionMask: attentionMask))
        return scorer.step(lastTokens: [Int32](repeating: Int32(config.decoder_start_token_id), count: inputIDs.shape[0]))
    }
}
