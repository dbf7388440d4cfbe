import Foundation

/// One finished (or, at the end, running) hypothesis kept by `BeamHypotheses`.
struct Hypothesis {
    /// Hugging Face score: sum of log-probabilities / generatedLength ^ lengthPenalty, in Double
    /// (Python float) from the Float sum.
    var score: Double
    /// Generated tokens without the start token and without the eos token.
    var tokens: [Int32]
    var endedWithEOS: Bool
    var isFiller: Bool
}

/// Port of transformers 4.46 `BeamHypotheses` (generation/beam_search.py): the n best finished
/// hypotheses of one input (one group of one input in group beam search, n = group size).
struct BeamHypotheses {
    let capacity: Int
    let lengthPenalty: Double
    let earlyStopping: EarlyStopping
    /// `max_length - decoder_prompt_len`, used by `early_stopping="never"` with a positive penalty.
    let maxNewTokens: Int
    private(set) var beams: [Hypothesis] = []
    private(set) var worstScore: Double = 1e9

    init(capacity: Int, lengthPenalty: Double, earlyStopping: EarlyStopping, maxNewTokens: Int) {
        self.capacity = capacity
        self.lengthPenalty = lengthPenalty
        self.earlyStopping = earlyStopping
        self.maxNewTokens = maxNewTokens
    }

    var count: Int { beams.count }

    /// HF `add(hyp, sum_logprobs, generated_len)`. `generatedLength` counts the eos token for a
    /// hypothesis ended by eos (HF: `cur_len - decoder_prompt_len` with `cur_len` including the
    /// token being chosen), and the generated tokens for a running beam added at the end.
    mutating func add(tokens: [Int32], sumLogProbs: Double, generatedLength: Int, endedWithEOS: Bool, isFiller: Bool) {
        let score = sumLogProbs / pow(Double(generatedLength), lengthPenalty)
        guard beams.count < capacity || score > worstScore else { return }
        beams.append(Hypothesis(score: score, tokens: tokens, endedWithEOS: endedWithEOS, isFiller: isFiller))
        if beams.count > capacity {
            // HF: sorted([(s, idx) ...]) — ties by list position — delete the first, the new worst is
            // the second.
            let order = beams.indices.sorted { (beams[$0].score, $0) < (beams[$1].score, $1) }
            let newWorst = beams[order[1]].score
            beams.remove(at: order[0])
            worstScore = newWorst
        } else {
            worstScore = min(score, worstScore)
        }
    }

    /// HF `is_done(best_sum_logprobs, cur_len, decoder_prompt_len)` with
    /// `cur_len - decoder_prompt_len = generatedLength` (the length the candidates would have).
    func isDone(bestSumLogProbs: Double, generatedLength: Int) -> Bool {
        guard beams.count >= capacity else { return false }
        switch earlyStopping {
        case .whenFull:
            return true
        case .heuristic:
            return worstScore >= bestSumLogProbs / pow(Double(generatedLength), lengthPenalty)
        case .never:
            let length = lengthPenalty > 0 ? maxNewTokens : generatedLength
            return worstScore >= bestSumLogProbs / pow(Double(length), lengthPenalty)
        }
    }
}
