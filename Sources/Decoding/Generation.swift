// Greedy, beam and diverse (group) beam search over a `StepScorer`, batched over many inputs,
// following transformers 4.46 `generate` (generation/utils.py `_sample` with do_sample=False,
// `_beam_search`, `_group_beam_search`; generation/beam_search.py `BeamSearchScorer`;
// logits_process.py `HammingDiversityLogitsProcessor`, `PrefixConstrainedLogitsProcessor`,
// `MinNewTokensLengthLogitsProcessor`). Deviations are listed in README "Decoding".

/// Entry points. All take the scorer with one row per input (see `StepScorer`) and return one
/// `GenerationResult` per input. The scorer's state after a call is unspecified.
public enum Generation {
    /// Dispatches as HF `generate` does: `numBeams == 1` is greedy search, otherwise (group) beam
    /// search.
    public static func generate<S: StepScorer>(
        scorer: inout S, batchSize: Int, config: GenerationConfig, constraint: (any TokenConstraint)? = nil
    ) throws -> [GenerationResult] {
        try config.validate()
        if config.numBeams == 1 {
            return try greedy(scorer: &scorer, batchSize: batchSize, config: config, constraint: constraint)
        }
        return try beamSearch(scorer: &scorer, batchSize: batchSize, config: config, constraint: constraint)
    }

    // MARK: Greedy

    /// Greedy search: each row takes the first arg-max of its (constrained) log-probabilities;
    /// a row stops at eos (HF then pads it; here its rows are dropped from the scorer and its
    /// sequence simply ends with eos). `numBeams`, groups and penalties are ignored.
    public static func greedy<S: StepScorer>(
        scorer: inout S, batchSize: Int, config: GenerationConfig, constraint: (any TokenConstraint)? = nil
    ) throws -> [GenerationResult] {
        try config.validate()
        guard config.numReturnSequences == 1 else {
            throw DecodingError.invalidConfig(field: "num_return_sequences", message: "greedy search returns one sequence per input, got \(config.numReturnSequences)")
        }
        let vocab = scorer.vocabularySize
        precondition(vocab >= 2, "vocabularySize must be at least 2")
        let eos = config.eosTokenId
        var tokens = [[Int32]](repeating: [], count: batchSize)
        var sums = [Float](repeating: 0, count: batchSize)
        var live = Array(0 ..< batchSize) // live[row] = input index
        var lastTokens = [Int32](repeating: config.decoderStartTokenId, count: batchSize)
        var step = 0
        while !live.isEmpty, step < config.maxNewTokens {
            let lp = try scorer.logProbabilities(lastTokens: lastTokens, step: step)
            guard lp.count == live.count * vocab else {
                throw DecodingError.scorerOutputSize(step: step, expected: live.count * vocab, actual: lp.count)
            }
            let eosForbidden = step < config.minNewTokens
            var sourceRows: [Int] = []
            var nextLast: [Int32] = []
            try lp.withUnsafeBufferPointer { all in
                for (row, b) in live.enumerated() {
                    let values = UnsafeBufferPointer(rebasing: all[(row * vocab) ..< ((row + 1) * vocab)])
                    var allowed: [Int32]?
                    if let constraint {
                        allowed = try normalizedAllowed(constraint, batchIndex: b, prefix: tokens[b], vocab: vocab)
                        if allowed!.isEmpty { throw DecodingError.noAllowedToken(batchIndex: b, prefix: tokens[b]) }
                    }
                    let token = argmax(values, allowed: allowed, forbidden: eosForbidden ? eos : nil)
                    tokens[b].append(token)
                    sums[b] += values[Int(token)]
                    if token != eos {
                        sourceRows.append(row)
                        nextLast.append(token)
                    }
                }
            }
            step += 1
            if step < config.maxNewTokens, !sourceRows.isEmpty {
                // sourceRows is an increasing subsequence of the rows: the identity unless a row
                // finished, and the scorer is told only about changes.
                if sourceRows.count != live.count { try scorer.reorder(sourceRows: sourceRows) }
                live = sourceRows.map { live[$0] }
                lastTokens = nextLast
            } else {
                live = []
            }
        }
        return (0 ..< batchSize).map {
            GenerationResult(sequences: [GeneratedSequence(tokens: tokens[$0], score: sums[$0], isFiller: false)])
        }
    }

    /// First index of the maximum (torch.argmax semantics) over the allowed tokens, with
    /// `forbidden` (eos below the minimum length) treated as -inf. When every candidate is -inf the
    /// first candidate wins, as torch.argmax returns the first of equal values.
    static func argmax(_ values: UnsafeBufferPointer<Float>, allowed: [Int32]?, forbidden: Int32?) -> Int32 {
        var best = -Float.infinity
        var bestToken: Int32 = -1
        @inline(__always) func offer(_ t: Int) {
            let v = Int32(t) == forbidden ? -Float.infinity : values[t]
            if bestToken < 0 || v > best {
                best = v
                bestToken = Int32(t)
            }
        }
        if let allowed {
            for t in allowed { offer(Int(t)) }
            return bestToken
        }
        // Full row: SIMD maximum, then the first index holding it (forbidden token excluded).
        let n = values.count
        var m = SIMD16<Float>(repeating: -.infinity)
        var t = 0
        let raw = UnsafeRawPointer(values.baseAddress!)
        while t + 16 <= n {
            // A compare-and-select vectorises; the generic `pointwiseMax` did not (≈ 30x slower).
            let x = raw.loadUnaligned(fromByteOffset: t &* 4, as: SIMD16<Float>.self)
            m.replace(with: x, where: x .> m)
            t += 16
        }
        var maxValue = m.max()
        while t < n { maxValue = max(maxValue, values[t]); t += 1 }
        if let f = forbidden, values[Int(f)] == maxValue {
            // The maximum may sit only on the forbidden token: fall back to a scalar scan.
            for i in 0 ..< n { offer(i) }
            return bestToken
        }
        for i in 0 ..< n where values[i] == maxValue { return Int32(i) }
        // Only reachable when every value is NaN.
        return 0
    }

    /// The constraint's allowed set, sorted ascending and unique, checked against the vocabulary.
    static func normalizedAllowed(_ constraint: any TokenConstraint, batchIndex: Int, prefix: [Int32], vocab: Int) throws -> [Int32]? {
        guard var allowed = constraint.allowedTokens(batchIndex: batchIndex, prefix: prefix) else { return nil }
        var sorted = true
        for i in allowed.indices {
            let t = allowed[i]
            guard t >= 0, Int(t) < vocab else {
                throw DecodingError.allowedTokenOutOfRange(batchIndex: batchIndex, token: t, vocabularySize: vocab)
            }
            if i > 0, allowed[i - 1] >= t { sorted = false }
        }
        if !sorted {
            allowed.sort()
            var unique: [Int32] = []
            unique.reserveCapacity(allowed.count)
            for t in allowed where unique.last != t { unique.append(t) }
            allowed = unique
        }
        return allowed
    }
}
