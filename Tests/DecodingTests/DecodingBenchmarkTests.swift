import Foundation
import XCTest
import Support
@testable import Decoding

/// A scorer with no model: it returns fixed pseudo-random log-probabilities (one [rows, vocab]
/// copy of a precomputed table per step), so the timing is the decoder's own work plus one array
/// copy per step.
struct TableScorer: StepScorer {
    let vocabularySize: Int
    let table: [Float] // [tableRows, vocab], normalised rows
    let tableRows: Int
    var rows: Int
    /// Time spent inside `logProbabilities`, to separate the decoder's own time.
    var scorerNanoseconds: UInt64 = 0

    init(vocab: Int, rows: Int, seed: UInt64) {
        vocabularySize = vocab
        tableRows = 64
        var g = SeededGenerator(seed: seed)
        var t = [Float](repeating: 0, count: tableRows * vocab)
        for r in 0 ..< tableRows {
            var lse: Double = 0
            for v in 0 ..< vocab { t[r * vocab + v] = g.nextGaussian() * 3 }
            let m = Double(t[(r * vocab) ..< ((r + 1) * vocab)].max()!)
            for v in 0 ..< vocab { lse += exp(Double(t[r * vocab + v]) - m) }
            let shift = Float(m + log(lse))
            for v in 0 ..< vocab { t[r * vocab + v] -= shift }
        }
        table = t
        self.rows = rows
    }

    mutating func logProbabilities(lastTokens: [Int32], step: Int) throws -> [Float] {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { scorerNanoseconds += DispatchTime.now().uptimeNanoseconds - t0 }
        var out = [Float](repeating: 0, count: rows * vocabularySize)
        for r in 0 ..< rows {
            let src = ((r + step * 7 + Int(lastTokens[r])) % tableRows) * vocabularySize
            out.withUnsafeMutableBufferPointer { o in
                table.withUnsafeBufferPointer { t in
                    (o.baseAddress! + r * vocabularySize).update(from: t.baseAddress! + src, count: vocabularySize)
                }
            }
        }
        return out
    }

    mutating func reorder(sourceRows: [Int]) throws { rows = sourceRows.count }
}

final class DecodingBenchmarkTests: XCTestCase {
    /// Decoder overhead at a T5 vocabulary (32,100). Run with `IDGENREC_LONG_TESTS=1`.
    func testDecoderOverheadAt32kVocabulary() throws {
        guard ProcessInfo.processInfo.environment["IDGENREC_LONG_TESTS"] == "1" else {
            throw XCTSkip("timing of the decoders at a 32k vocabulary; set IDGENREC_LONG_TESTS=1 to run")
        }
        let vocab = 32100
        var g = SeededGenerator(seed: 3)
        var seen = Set<[Int32]>()
        var items: [[Int32]] = []
        while items.count < 12000 {
            let s = (0 ..< (2 + Int(g.next() % 5))).map { _ in Int32(2 + g.next() % 8000) } + [1]
            if seen.insert(s).inserted { items.append(s) }
        }
        let buildStart = DispatchTime.now().uptimeNanoseconds
        let trie = try PrefixTrie(sequences: items, eosTokenId: 1)
        let buildMs = Double(DispatchTime.now().uptimeNanoseconds - buildStart) / 1e6
        print(String(format: "prefix trie: 12,000 items, %d nodes, built in %.1f ms", trie.nodeCount, buildMs))

        let cases: [(String, Int, GenerationConfig, (any TokenConstraint)?)] = [
            ("greedy, batch 256", 256, GenerationConfig(maxNewTokens: 10, minNewTokens: 10), nil),
            ("beam 10, batch 32", 32, GenerationConfig(maxNewTokens: 10, minNewTokens: 10, numBeams: 10, numReturnSequences: 10), nil),
            ("diverse 10x10 groups, batch 32", 32, GenerationConfig(maxNewTokens: 10, minNewTokens: 10, numBeams: 10, numBeamGroups: 10, diversityPenalty: 1, numReturnSequences: 10), nil),
            ("beam 10 under 12k-item trie, batch 32", 32, GenerationConfig(maxNewTokens: 7, numBeams: 10, numReturnSequences: 10), trie),
        ]
        for (name, batch, config, constraint) in cases {
            var best = Double.infinity
            var bestScorer = 0.0
            var rowSteps = 0
            for _ in 0 ..< 3 {
                var scorer = TableScorer(vocab: vocab, rows: batch, seed: 1)
                let t0 = DispatchTime.now().uptimeNanoseconds
                let r = try Generation.generate(scorer: &scorer, batchSize: batch, config: config, constraint: constraint)
                let total = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                let inScorer = Double(scorer.scorerNanoseconds) / 1e6
                if total - inScorer < best { best = total - inScorer; bestScorer = inScorer }
                XCTAssertEqual(r.count, batch)
                rowSteps = batch * config.numBeams * config.maxNewTokens
            }
            print(String(format: "%@ (≤ %d row-steps): decoder %.1f ms = %.2f µs per row-step (the table scorer took %.1f ms)",
                         name, rowSteps, best, best * 1000 / Double(rowSteps), bestScorer))
        }
    }
}
