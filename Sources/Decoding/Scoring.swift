// The two protocols through which a model and a constraint plug into the decoders.
// Decoding knows nothing about T5: the model is only a `StepScorer`.

/// The model side of decoding.
///
/// Rows: the scorer starts with **one row per input** (`rows = batchSize`, input `b` in row `b`).
/// Between two steps, whenever the rows change, the decoder calls `reorder(sourceRows:)`, which
/// defines the rows of the next step: new row `r` continues old row `sourceRows[r]` (no call means
/// the rows stay as they are). This one call expands rows into beams
/// after the first step, follows beam selection, and drops rows that are finished (greedy rows
/// after end-of-sequence, beam groups whose search is done), so the model never computes rows
/// whose output is thrown away. Row order is batch-major (all rows of input 0, then input 1, …;
/// inside an input, group-major then beam), but a scorer needs no layout knowledge: it only
/// gathers its per-row state (self-attention cache, cross-attention keys/values or an
/// input index) by `sourceRows`.
public protocol StepScorer {
    /// Size of the output distribution (number of columns returned by `logProbabilities`).
    var vocabularySize: Int { get }

    /// Log-probabilities (log_softmax of the logits, in Float as PyTorch computes them) of the next
    /// token for every current row, given the token each row chose at the previous step
    /// (`decoderStartTokenId` for every row at step 0).
    /// - Parameters:
    ///   - lastTokens: `[rows]`, one token per current row.
    ///   - step: number of tokens generated so far (0 at the first call).
    /// - Returns: `[rows, vocabularySize]` row-major. The decoder reads, and may overwrite, the array.
    ///   Values must not be NaN.
    mutating func logProbabilities(lastTokens: [Int32], step: Int) throws -> [Float]

    /// The same distribution unnormalised: `scores` `[rows, vocabularySize]` and one normaliser
    /// per row, such that `scores[r, t] - normalizers[r]` (one Float subtraction) is exactly what
    /// `logProbabilities` returns. Beam search reads this form, so a scorer that can produce the
    /// normaliser without writing the normalised matrix (T5: logits and their log-sum-exp in one
    /// cache-resident pass) saves full passes over `[rows, vocab]`; beam search subtracts only
    /// where it looks. The default returns `logProbabilities` with normalisers 0.
    mutating func unnormalizedLogProbabilities(lastTokens: [Int32], step: Int) throws -> (scores: [Float], normalizers: [Float])

    /// Row `r` of the internal state becomes old row `sourceRows[r]`; the number of rows becomes
    /// `sourceRows.count` (rows may be duplicated or dropped). Not called after the last step.
    mutating func reorder(sourceRows: [Int]) throws
}

extension StepScorer {
    public mutating func unnormalizedLogProbabilities(lastTokens: [Int32], step: Int) throws -> (scores: [Float], normalizers: [Float]) {
        (try logProbabilities(lastTokens: lastTokens, step: step), [Float](repeating: 0, count: lastTokens.count))
    }
}

/// A per-step constraint: the allowed next tokens for one sequence given its generated prefix
/// (decoder start token excluded); nil means all tokens are allowed. The Hugging Face equivalent is
/// `prefix_allowed_tokens_fn(batch_id, input_ids)` (which receives the start token too).
///
/// The returned list may be in any order and contain repeats; the decoders sort it once per row
/// (ascending order is what makes ties break as in PyTorch). An empty list means no token is
/// allowed: Hugging Face raises an error there, the decoders here throw
/// `DecodingError.noAllowedToken` for a real hypothesis and treat the row as dead (every
/// continuation scored -inf) for a filler hypothesis (see `GeneratedSequence.isFiller`).
public protocol TokenConstraint {
    func allowedTokens(batchIndex: Int, prefix: [Int32]) -> [Int32]?
}
