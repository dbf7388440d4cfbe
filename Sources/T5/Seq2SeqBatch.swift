import TensorCore

/// A padded sequence-to-sequence batch, laid out as Hugging Face T5 expects it:
/// - `inputIDs` [B, S]: sources right-padded with `pad` to the longest source;
/// - `attentionMask` [B, S]: 1 for tokens, 0 for padding (Float, as HF's mask after casting);
/// - `labels` [B, T]: targets right-padded with -100 (ignored by the loss);
/// - `decoderInputIDs` [B, T]: HF `_shift_right(labels)`: `decoderStart`, then the labels
///   without their last position, -100 replaced by `pad`.
/// Sources and targets are used as given: append eos yourself if the task wants it.
public struct Seq2SeqBatch {
    public let inputIDs: IntTensor // [B, S]
    public let attentionMask: Tensor // [B, S], 1 / 0
    public let labels: IntTensor // [B, T], -100 on padding
    public let decoderInputIDs: IntTensor // [B, T]
    public let pad: Int32
    public let decoderStart: Int32

    public var batchSize: Int { inputIDs.shape[0] }
    public var sourceLength: Int { inputIDs.shape[1] }
    public var targetLength: Int { labels.shape[1] }

    public init(sources: [[Int32]], targets: [[Int32]], pad: Int32 = 0, decoderStart: Int32 = 0) {
        precondition(sources.count == targets.count && !sources.isEmpty, "Seq2SeqBatch: \(sources.count) sources, \(targets.count) targets")
        let (ids, mask) = Seq2SeqBatch.pad(sources, with: pad)
        let t = max(1, targets.map(\.count).max() ?? 1)
        var labels = [Int32](repeating: -100, count: targets.count * t)
        for (b, row) in targets.enumerated() { for (j, x) in row.enumerated() { labels[b * t + j] = x } }
        self.init(inputIDs: ids, attentionMask: mask, labels: IntTensor(shape: [targets.count, t], values: labels),
                  pad: pad, decoderStart: decoderStart)
    }

    /// From already padded tensors (e.g. a Hugging Face batch); decoder inputs are derived.
    public init(inputIDs: IntTensor, attentionMask: Tensor, labels: IntTensor, pad: Int32 = 0, decoderStart: Int32 = 0) {
        precondition(inputIDs.rank == 2 && attentionMask.shape == inputIDs.shape && labels.rank == 2
            && labels.shape[0] == inputIDs.shape[0], "Seq2SeqBatch: ids \(inputIDs.shape), mask \(attentionMask.shape), labels \(labels.shape)")
        self.inputIDs = inputIDs
        self.attentionMask = attentionMask
        self.labels = labels
        self.pad = pad
        self.decoderStart = decoderStart
        let b = labels.shape[0], t = labels.shape[1]
        var dec = [Int32](repeating: pad, count: b * t)
        for r in 0 ..< b {
            dec[r * t] = decoderStart
            for j in 1 ..< max(t, 1) {
                let l = labels.values[r * t + j - 1]
                dec[r * t + j] = l == -100 ? pad : l
            }
        }
        decoderInputIDs = IntTensor(shape: [b, t], values: dec)
    }

    /// Right-pads `rows` with `pad`: ids [B, S] and a 1/0 mask [B, S].
    public static func pad(_ rows: [[Int32]], with pad: Int32) -> (ids: IntTensor, mask: Tensor) {
        let s = max(1, rows.map(\.count).max() ?? 1)
        var ids = [Int32](repeating: pad, count: rows.count * s)
        let mask = Tensor(zeros: [rows.count, s])
        for (b, row) in rows.enumerated() {
            for (j, x) in row.enumerated() { ids[b * s + j] = x; mask.pointer[b * s + j] = 1 }
        }
        return (IntTensor(shape: [rows.count, s], values: ids), mask)
    }

    /// Hugging Face's additive form of a 1/0 mask: 0 where attended, a large negative value
    /// where masked (HF uses finfo.min; any value that makes exp() vanish gives the same softmax).
    public static func additiveMask(_ mask: Tensor) -> Tensor {
        let out = Tensor(uninitialized: mask.shape)
        for i in 0 ..< mask.count { out.pointer[i] = mask.pointer[i] > 0.5 ? 0 : -1e9 }
        return out
    }
}
