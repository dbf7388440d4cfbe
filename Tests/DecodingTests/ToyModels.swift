import Foundation
import Support
@testable import Decoding

/// A toy language model: the next-token log-probabilities are a pure function of (input, prefix),
/// pseudo-random and normalised (log_softmax in Double, stored as Float). `eosBoost` raises eos
/// with the prefix length so that sequences end.
struct ToyModel {
    let vocab: Int
    let seed: UInt64
    var eos: Int32 = 1
    var scale: Double = 2
    var eosBoost: Double = 0.7

    func logProbs(input: Int, prefix: [Int32]) -> [Float] {
        var h = seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(input + 1)
        for t in prefix {
            h = (h ^ UInt64(UInt32(bitPattern: t) + 1)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
        }
        var g = SeededGenerator(seed: h)
        var logits = (0 ..< vocab).map { _ in Double(g.nextGaussian()) * scale }
        logits[Int(eos)] += eosBoost * Double(prefix.count) - 1
        let m = logits.max()!
        let lse = m + log(logits.reduce(0) { $0 + exp($1 - m) })
        return logits.map { Float($0 - lse) }
    }
}

/// `StepScorer` over a `ToyModel` that keeps each row's prefix and follows `reorder`, so a wrong
/// row bookkeeping in a decoder changes the scores it sees. Records the rows of every call.
struct ToyScorer: StepScorer {
    let model: ToyModel
    let startToken: Int32
    var rows: [(input: Int, prefix: [Int32])]
    var rowsPerStep: [Int] = []

    init(model: ToyModel, batchSize: Int, startToken: Int32 = 0) {
        self.model = model
        self.startToken = startToken
        rows = (0 ..< batchSize).map { ($0, []) }
    }

    var vocabularySize: Int { model.vocab }

    mutating func logProbabilities(lastTokens: [Int32], step: Int) throws -> [Float] {
        precondition(lastTokens.count == rows.count, "lastTokens \(lastTokens.count) vs rows \(rows.count)")
        if step == 0 {
            precondition(lastTokens.allSatisfy { $0 == startToken })
        } else {
            for r in rows.indices { rows[r].prefix.append(lastTokens[r]) }
        }
        precondition(rows.allSatisfy { $0.prefix.count == step })
        rowsPerStep.append(rows.count)
        return rows.flatMap { model.logProbs(input: $0.input, prefix: $0.prefix) }
    }

    mutating func reorder(sourceRows: [Int]) throws {
        rows = sourceRows.map { rows[$0] }
    }
}

/// Literal transcription of transformers 4.46 `_beam_search` / `_group_beam_search` +
/// `BeamSearchScorer` + `BeamHypotheses` + the logits processors, on whole histories, with a full
/// stable sort instead of partial selection and no row bookkeeping: the test oracle for the fast
/// implementation. Filler flags follow the same definition.
func hfReferenceBeamSearch(model: (Int, [Int32]) -> [Float], vocab: Int, batchSize: Int,
                           config c: GenerationConfig, constraint: (any TokenConstraint)?) -> [GenerationResult] {
    struct Hyp { var score: Double; var tokens: [Int32]; var eos: Bool; var filler: Bool }
    struct Hyps { var beams: [Hyp] = []; var worst = 1e9 }
    let K = c.numBeams, G = c.numBeamGroups, gs = K / G
    let eos = c.eosTokenId, pad = c.padTokenId
    var hyps = [Hyps](repeating: Hyps(), count: batchSize * G)
    var done = [Bool](repeating: false, count: batchSize * G)
    var ids = [[Int32]](repeating: [], count: batchSize * K)
    var filler = (0 ..< batchSize * K).map { $0 % gs != 0 }
    var beamScores = (0 ..< batchSize * K).map { $0 % gs == 0 ? Float(0) : Float(-1e9) }

    func add(_ h: inout Hyps, _ hyp: Hyp, sum: Double, len: Int) {
        var hyp = hyp
        hyp.score = sum / pow(Double(len), c.lengthPenalty)
        if h.beams.count < gs || hyp.score > h.worst {
            h.beams.append(hyp)
            if h.beams.count > gs {
                let sortedScores = h.beams.enumerated().map { ($0.element.score, $0.offset) }.sorted { $0 < $1 }
                h.beams.remove(at: sortedScores[0].1)
                h.worst = sortedScores[1].0
            } else {
                h.worst = min(hyp.score, h.worst)
            }
        }
    }
    func isDone(_ h: Hyps, best: Double, generated: Int) -> Bool {
        if h.beams.count < gs { return false }
        switch c.earlyStopping {
        case .whenFull: return true
        case .heuristic: return h.worst >= best / pow(Double(generated), c.lengthPenalty)
        case .never:
            if c.lengthPenalty > 0 { return h.worst >= best / pow(Double(c.maxNewTokens), c.lengthPenalty) }
            return h.worst >= best / pow(Double(generated), c.lengthPenalty)
        }
    }

    for step in 0 ..< c.maxNewTokens {
        let lps = (0 ..< batchSize * K).map { r in model(r / K, ids[r]) }
        var current = [Int32](repeating: 0, count: batchSize * K)
        for g in 0 ..< G {
            for b in 0 ..< batchSize {
                let block = b * G + g
                let rows = (0 ..< gs).map { b * K + g * gs + $0 }
                if done[block] {
                    for r in rows { current[r] = pad; ids[r].append(pad); beamScores[r] = 0 }
                    continue
                }
                var freq = [Int32: Int]()
                for r in (b * K) ..< (b * K + g * gs) { freq[current[r], default: 0] += 1 }
                var cands: [(score: Float, flat: Int)] = []
                for (k, r) in rows.enumerated() {
                    let allowed = constraint?.allowedTokens(batchIndex: b, prefix: ids[r]).map(Set.init)
                    for t in 0 ..< vocab {
                        var s = lps[r][t]
                        if c.diversityPenalty > 0, g > 0, let f = freq[Int32(t)] { s -= Float(c.diversityPenalty) * Float(f) }
                        if step < c.minNewTokens, Int32(t) == eos { s = -.infinity }
                        if let allowed, !allowed.contains(Int32(t)) { s += -.infinity }
                        cands.append((s + beamScores[r], k * vocab + t))
                    }
                }
                cands.sort { $0.score > $1.score || ($0.score == $1.score && $0.flat < $1.flat) }
                let topk = cands.prefix(2 * gs)
                var next: [(ids: [Int32], score: Float, filler: Bool)] = []
                for (rank, cand) in topk.enumerated() {
                    let r = rows[cand.flat / vocab], t = Int32(cand.flat % vocab)
                    let f = filler[r] || cand.score == -.infinity
                    if t == eos {
                        if rank >= gs { continue }
                        add(&hyps[block], Hyp(score: 0, tokens: ids[r], eos: true, filler: f), sum: Double(cand.score), len: step + 1)
                    } else {
                        next.append((ids[r] + [t], cand.score, f))
                    }
                    if next.count == gs { break }
                }
                precondition(next.count == gs)
                done[block] = done[block] || isDone(hyps[block], best: Double(topk.first!.score), generated: step + 1)
                for (k, r) in rows.enumerated() {
                    ids[r] = next[k].ids
                    beamScores[r] = next[k].score
                    filler[r] = next[k].filler
                    current[r] = next[k].ids.last!
                }
            }
        }
        if !done.contains(false) { break }
    }
    for block in 0 ..< batchSize * G where !done[block] {
        for k in 0 ..< gs {
            let r = block * gs + k
            add(&hyps[block], Hyp(score: 0, tokens: ids[r], eos: false, filler: filler[r]), sum: Double(beamScores[r]), len: ids[r].count)
        }
    }
    return (0 ..< batchSize).map { b in
        var sorted = (0 ..< G).flatMap { hyps[b * G + $0].beams }
        // Python sorted(key=score) is stable; pop() takes from the end.
        sorted = sorted.enumerated().sorted { ($0.element.score, $0.offset) < ($1.element.score, $1.offset) }.map(\.element)
        var out: [GeneratedSequence] = []
        for _ in 0 ..< c.numReturnSequences {
            let h = sorted.removeLast()
            out.append(GeneratedSequence(tokens: h.eos ? h.tokens + [eos] : h.tokens, score: Float(h.score), isFiller: h.filler))
        }
        return GenerationResult(sequences: out)
    }
}

/// All sequences a search of at most `maxNew` tokens can produce (ended by eos, or `maxNew`
/// tokens without eos) with their HF scores, best first. Scores accumulate in Float in
/// generation order as PyTorch does, then divide in Double.
func bruteForce(model: ToyModel, input: Int, maxNew: Int, lengthPenalty: Double) -> [GeneratedSequence] {
    var out: [GeneratedSequence] = []
    func walk(_ prefix: [Int32], _ sum: Float) {
        let lp = model.logProbs(input: input, prefix: prefix)
        for t in 0 ..< model.vocab {
            let s = lp[t] + sum
            let seq = prefix + [Int32(t)]
            if Int32(t) == model.eos || seq.count == maxNew {
                out.append(GeneratedSequence(tokens: seq, score: Float(Double(s) / pow(Double(seq.count), lengthPenalty)), isFiller: false))
            } else {
                walk(seq, s)
            }
        }
    }
    walk([], 0)
    return out.sorted { $0.score > $1.score }
}
