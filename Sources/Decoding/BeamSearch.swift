// Beam search and diverse (group) beam search, transformers 4.46 semantics. With one group this is
// `_beam_search`; with G groups `_group_beam_search` (each group is a beam search of
// numBeams / G beams with its own finished-hypothesis list, groups of one input processed in
// order within a step, later groups penalised for tokens earlier groups chose at that step).

extension Generation {
    /// A running beam: its generated tokens (no start token), Float score (sum of processed
    /// log-probabilities, accumulated in Float as PyTorch does) and the scorer row holding its state.
    struct Beam {
        var tokens: [Int32]
        var score: Float
        var isFiller: Bool
        var row: Int
    }

    /// Whether a running beam needs a scorer row at the next step. Two kinds do not:
    /// - a beam scored -inf (a filler past the trie's allowed tokens): every continuation is -inf
    ///   whatever the model says, which is what a skipped row contributes;
    /// - when `prunable`, a beam whose score is at or below the worst hypothesis of a full
    ///   finished list: continuations only lower a sum of log-probabilities (Float addition of a
    ///   non-positive number never rounds up), a full list admits only scores strictly above its
    ///   worst, and that worst only rises. Its descendants rank below every candidate that can
    ///   still finish, so HF's search keeps the same finished hypotheses and stops at the same
    ///   step with or without them; computing them is wasted work (canonical ranking search,
    ///   `early_stopping="never"` with `length_penalty=0`, spends most of its late steps there).
    static func needsRow(_ beam: Beam, _ finished: BeamHypotheses, prunable: Bool) -> Bool {
        if beam.score == -.infinity { return false }
        if prunable, finished.count >= finished.capacity, Double(beam.score) <= finished.worstScore { return false }
        return true
    }

    /// Beam search (`numBeamGroups == 1`) or diverse group beam search (`numBeamGroups > 1`),
    /// batched over `batchSize` inputs. Requires `numBeams >= 2` (HF uses greedy for one beam).
    public static func beamSearch<S: StepScorer>(
        scorer: inout S, batchSize: Int, config: GenerationConfig, constraint: (any TokenConstraint)? = nil
    ) throws -> [GenerationResult] {
        try config.validate()
        guard config.numBeams >= 2 else {
            throw DecodingError.invalidConfig(field: "num_beams", message: "beam search needs at least 2 beams (use greedy for 1), got \(config.numBeams)")
        }
        let vocab = scorer.vocabularySize
        precondition(vocab >= 2, "vocabularySize must be at least 2")
        let eos = config.eosTokenId, pad = config.padTokenId
        guard Int(eos) < vocab else {
            throw DecodingError.invalidConfig(field: "eos_token_id", message: "\(eos) is outside the vocabulary 0..<\(vocab)")
        }
        let groups = config.numBeamGroups
        let groupSize = config.numBeams / groups
        let maxNew = config.maxNewTokens
        // HF adds HammingDiversityLogitsProcessor only for a positive penalty; it computes
        // `diversity_penalty * token_frequency` in float32.
        let penalty = Float(config.diversityPenalty)
        let penalise = config.diversityPenalty > 0 && groups > 1
        // Hopeless beams may be dropped only where a dropped beam cannot influence another's
        // score: no length normalisation (a hypothesis score is its sum, which only falls as
        // tokens are added) and one group (no Hamming penalty from the tokens it would choose).
        let prunable = groups == 1 && config.lengthPenalty == 0

        // A block is one group of one input: block = b * groups + g; its beams are
        // block * groupSize + k. HF: `_beam_hyps[b * num_beam_groups + g]`.
        let blocks = batchSize * groups
        var hypotheses = (0 ..< blocks).map { _ in
            BeamHypotheses(capacity: groupSize, lengthPenalty: config.lengthPenalty, earlyStopping: config.earlyStopping, maxNewTokens: maxNew)
        }
        var done = [Bool](repeating: false, count: blocks)
        // HF starts every group with scores [0, -1e9, -1e9, ...] so that the first step does not pick
        // the same token in all beams. All beams of input b read scorer row b at step 0.
        var beams = (0 ..< blocks * groupSize).map { i in
            Beam(tokens: [], score: i % groupSize == 0 ? 0 : -1e9, isFiller: i % groupSize != 0, row: i / (groups * groupSize))
        }
        var nextBeams = beams
        var lastTokens = [Int32](repeating: config.decoderStartTokenId, count: batchSize)
        var rowCount = batchSize

        var top = TopCandidates(capacity: 2 * groupSize) // HF n_tokens_to_keep = max(2, 1 + #eos) * beams
        var counts = [Int32](repeating: 0, count: vocab) // Hamming: occurrences among earlier groups
        var distinct: [Int32] = [] // tokens with a nonzero count
        var current: [Int32] = [] // tokens chosen at this step by earlier groups of this input
        var saved: [(index: Int, value: Float)] = [] // log-probabilities overwritten by processors

        for step in 0 ..< maxNew {
            // Unnormalised scores [rowCount, vocab] and per-row normalisers: the log-probability of
            // token t in row r is lp[r, t] - norm[r], computed where it is read.
            var (lp, norm) = rowCount == 0 ? ([], []) : try scorer.unnormalizedLogProbabilities(lastTokens: lastTokens, step: step)
            guard lp.count == rowCount * vocab else {
                throw DecodingError.scorerOutputSize(step: step, expected: rowCount * vocab, actual: lp.count)
            }
            guard norm.count == rowCount else {
                throw DecodingError.scorerNormalizerCount(step: step, rows: rowCount, actual: norm.count)
            }
            let eosForbidden = step < config.minNewTokens
            try lp.withUnsafeMutableBufferPointer { all in
                for b in 0 ..< batchSize {
                    current.removeAll(keepingCapacity: true)
                    for g in 0 ..< groups {
                        let block = b * groups + g
                        let first = block * groupSize
                        if done[block] {
                            // HF pads a finished group (next tokens = pad), and those pads count in
                            // the Hamming penalty of the later groups.
                            current.append(contentsOf: repeatElement(pad, count: groupSize))
                            continue
                        }
                        let penaliseGroup = penalise && g > 0
                        if penaliseGroup {
                            for t in current {
                                if counts[Int(t)] == 0 { distinct.append(t) }
                                counts[Int(t)] += 1
                            }
                        }
                        top.removeAll()
                        for k in 0 ..< groupSize {
                            let beam = beams[first + k]
                            // A beam without a scorer row cannot reach the finished list (see
                            // `needsRow`): its candidates are -inf or hopeless, and leaving them out
                            // changes neither the finished hypotheses nor the stopping decision.
                            if beam.row < 0 { continue }
                            let rowStart = beam.row * vocab
                            // Logits processors, applied in place to this row and undone after the scan
                            // (at step 0 every beam and group of an input shares one row). They act on
                            // log-probabilities, so such a row is normalised in place first, once.
                            if penaliseGroup || eosForbidden, norm[beam.row] != 0 {
                                let shift = norm[beam.row]
                                for i in rowStart ..< (rowStart + vocab) { all[i] = all[i] - shift }
                                norm[beam.row] = 0
                            }
                            let normalizer = norm[beam.row]
                            saved.removeAll(keepingCapacity: true)
                            if penaliseGroup {
                                for t in distinct {
                                    let i = rowStart + Int(t)
                                    saved.append((i, all[i]))
                                    all[i] = all[i] - penalty * Float(counts[Int(t)])
                                }
                            }
                            if eosForbidden {
                                let i = rowStart + Int(eos)
                                saved.append((i, all[i]))
                                all[i] = -.infinity
                            }
                            let row = UnsafeBufferPointer(rebasing: all[rowStart ..< (rowStart + vocab)])
                            if let constraint {
                                let allowed = try normalizedAllowed(constraint, batchIndex: b, prefix: beam.tokens, vocab: vocab)
                                if let allowed {
                                    if allowed.isEmpty, !beam.isFiller {
                                        throw DecodingError.noAllowedToken(batchIndex: b, prefix: beam.tokens)
                                    }
                                    top.scanAllowed(row, allowed: allowed, normalizer: normalizer, offset: beam.score, rowIndex: k)
                                } else {
                                    top.scanAll(row, normalizer: normalizer, offset: beam.score, rowIndex: k)
                                }
                            } else {
                                top.scanAll(row, normalizer: normalizer, offset: beam.score, rowIndex: k)
                            }
                            for s in saved.reversed() { all[s.index] = s.value }
                        }
                        if penaliseGroup {
                            for t in distinct { counts[Int(t)] = 0 }
                            distinct.removeAll(keepingCapacity: true)
                        }
                        top.fillWithNegativeInfinity(totalEntries: groupSize * vocab)

                        // BeamSearchScorer.process for this block.
                        var filled = 0
                        for rank in 0 ..< top.count {
                            let score = top.scores[rank]
                            let k = top.flat[rank] / vocab
                            let token = Int32(top.flat[rank] % vocab)
                            let source = beams[first + k]
                            let isFiller = source.isFiller || score == -.infinity
                            if token == eos {
                                // An eos outside the top groupSize candidates is dropped.
                                if rank >= groupSize { continue }
                                hypotheses[block].add(
                                    tokens: source.tokens, sumLogProbs: Double(score), generatedLength: step + 1,
                                    endedWithEOS: true, isFiller: isFiller)
                            } else {
                                nextBeams[first + filled] = Beam(tokens: source.tokens + [token], score: score, isFiller: isFiller, row: source.row)
                                filled += 1
                                if filled == groupSize { break }
                            }
                        }
                        // 2 * groupSize candidates hold at most groupSize eos (one per row).
                        precondition(filled == groupSize, "beam search: too few non-eos candidates")
                        done[block] = hypotheses[block].isDone(bestSumLogProbs: Double(top.scores[0]), generatedLength: step + 1)
                        for k in 0 ..< groupSize { current.append(nextBeams[first + k].tokens.last!) }
                    }
                }
            }
            swap(&beams, &nextBeams)
            if step + 1 == maxNew || !done.contains(false) { break }

            // Rows of the next step: the beams of the blocks still searching, in block order.
            var sourceRows: [Int] = []
            var last: [Int32] = []
            for block in 0 ..< blocks where !done[block] {
                for i in (block * groupSize) ..< ((block + 1) * groupSize) {
                    guard needsRow(beams[i], hypotheses[block], prunable: prunable) else {
                        beams[i].row = -1
                        continue
                    }
                    sourceRows.append(beams[i].row)
                    beams[i].row = sourceRows.count - 1
                    last.append(beams[i].tokens.last!)
                }
            }
            if !sourceRows.isEmpty, sourceRows.count != rowCount || !sourceRows.elementsEqual(0 ..< rowCount) {
                try scorer.reorder(sourceRows: sourceRows)
            }
            rowCount = sourceRows.count
            lastTokens = last
        }

        // BeamSearchScorer.finalize: running beams of unfinished blocks join their lists.
        for block in 0 ..< blocks where !done[block] {
            for i in (block * groupSize) ..< ((block + 1) * groupSize) {
                let beam = beams[i]
                hypotheses[block].add(
                    tokens: beam.tokens, sumLogProbs: Double(beam.score), generatedLength: beam.tokens.count,
                    endedWithEOS: false, isFiller: beam.isFiller)
            }
        }
        return (0 ..< batchSize).map { b in
            // HF: sorted(all groups' hypotheses, key=score) (stable), then pop() from the end.
            let candidates = (0 ..< groups).flatMap { hypotheses[b * groups + $0].beams }
            let order = candidates.indices.sorted { (candidates[$0].score, $0) < (candidates[$1].score, $1) }
            let best = order.reversed().prefix(config.numReturnSequences).map { i -> GeneratedSequence in
                let h = candidates[i]
                return GeneratedSequence(tokens: h.endedWithEOS ? h.tokens + [eos] : h.tokens, score: Float(h.score), isFiller: h.isFiller)
            }
            return GenerationResult(sequences: best)
        }
    }
}
