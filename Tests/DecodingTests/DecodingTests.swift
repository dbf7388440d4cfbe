import Foundation
import XCTest
@testable import Decoding

/// A scorer whose log-probabilities are the same fixed row at every step, for hand computation.
struct FixedScorer: StepScorer {
    let row: [Float]
    var rows: Int
    var vocabularySize: Int { row.count }
    mutating func logProbabilities(lastTokens: [Int32], step: Int) throws -> [Float] {
        precondition(lastTokens.count == rows)
        return Array([[Float]](repeating: row, count: rows).joined())
    }
    mutating func reorder(sourceRows: [Int]) throws { rows = sourceRows.count }
}

final class DecodingTests: XCTestCase {
    // MARK: Greedy

    func testGreedyEqualsArgmaxChainAndDropsFinishedRows() throws {
        let model = ToyModel(vocab: 40, seed: 11)
        let batch = 6, maxNew = 8
        var scorer = ToyScorer(model: model, batchSize: batch)
        let results = try Generation.generate(scorer: &scorer, batchSize: batch, config: GenerationConfig(maxNewTokens: maxNew))
        var finishedEarly = 0
        for b in 0 ..< batch {
            var prefix: [Int32] = []
            var sum: Float = 0
            while prefix.count < maxNew {
                let lp = model.logProbs(input: b, prefix: prefix)
                let best = lp.indices.max { lp[$0] < lp[$1] || (lp[$0] == lp[$1] && $0 > $1) }!
                prefix.append(Int32(best))
                sum += lp[best]
                if best == 1 { break }
            }
            if prefix.count < maxNew { finishedEarly += 1 }
            XCTAssertEqual(results[b].sequences, [GeneratedSequence(tokens: prefix, score: sum, isFiller: false)])
        }
        XCTAssertGreaterThan(finishedEarly, 0, "the toy model should end some sequences with eos")
        // Rows of finished inputs are dropped: the row count never grows and ends below the batch.
        XCTAssertEqual(scorer.rowsPerStep.first, batch)
        XCTAssertEqual(scorer.rowsPerStep, scorer.rowsPerStep.sorted(by: >))
        XCTAssertLessThan(scorer.rowsPerStep.last!, batch)
    }

    func testGreedyMinNewTokensForbidsEOS() throws {
        let model = ToyModel(vocab: 12, seed: 5, eosBoost: 5)
        var scorer = ToyScorer(model: model, batchSize: 3)
        let results = try Generation.generate(scorer: &scorer, batchSize: 3, config: GenerationConfig(maxNewTokens: 6, minNewTokens: 3))
        for r in results {
            let tokens = r.sequences[0].tokens
            XCTAssertFalse(tokens.prefix(3).contains(1), "\(tokens)")
            XCTAssertEqual(tokens.last, 1, "eos boosted, so sequences end right after the minimum: \(tokens)")
        }
    }

    // MARK: Beam search against exhaustive enumeration

    /// With more beams than possible sequences, HF beam search keeps every prefix and returns every
    /// sequence: it must equal exhaustive enumeration, scores included (bit for bit).
    func testBeamSearchWithEnoughBeamsIsExhaustive() throws {
        // vocab 4 (pad 0, eos 1, 2, 3), 3 new tokens: 1 + 3 + 9 eos-ended + 27 full = 40 sequences.
        let model = ToyModel(vocab: 4, seed: 3, scale: 1.5, eosBoost: 0.3)
        for (lengthPenalty, early) in [(1.0, EarlyStopping.heuristic), (2.0, .heuristic), (0.0, .never), (-0.5, .heuristic), (1.0, .never)] {
            let config = GenerationConfig(maxNewTokens: 3, numBeams: 40, lengthPenalty: lengthPenalty, earlyStopping: early, numReturnSequences: 40)
            var scorer = ToyScorer(model: model, batchSize: 3)
            let results = try Generation.generate(scorer: &scorer, batchSize: 3, config: config)
            for b in 0 ..< 3 {
                let expected = bruteForce(model: model, input: b, maxNew: 3, lengthPenalty: lengthPenalty)
                XCTAssertEqual(expected.count, 40)
                XCTAssertEqual(results[b].sequences, expected, "input \(b), length penalty \(lengthPenalty), \(early)")
            }
        }
    }

    /// The best sequence of a small exhaustive space is found by a moderate beam (sanity check on a
    /// case where beam search is not exhaustive: its best hypothesis is an enumerated one, and no
    /// enumerated sequence with a better score is missed by more than the beam width).
    func testBeamResultsAreEnumeratedSequencesWithTheirScores() throws {
        let model = ToyModel(vocab: 6, seed: 21, eosBoost: 0.5)
        let config = GenerationConfig(maxNewTokens: 4, numBeams: 5, numReturnSequences: 5)
        var scorer = ToyScorer(model: model, batchSize: 4)
        let results = try Generation.generate(scorer: &scorer, batchSize: 4, config: config)
        for b in 0 ..< 4 {
            let all = bruteForce(model: model, input: b, maxNew: 4, lengthPenalty: 1)
            let scoreOf = Dictionary(uniqueKeysWithValues: all.map { ($0.tokens, $0.score) })
            for s in results[b].sequences {
                XCTAssertEqual(scoreOf[s.tokens], s.score, "\(s.tokens)")
            }
            let scores = results[b].sequences.map(\.score)
            XCTAssertEqual(scores, scores.sorted(by: >))
            XCTAssertEqual(Set(results[b].sequences.map(\.tokens)).count, 5)
        }
    }

    // MARK: Hand-computed Hugging Face example

    /// Fixed log-probabilities pad -10, eos -1, a(2) -2, b(3) -3 at every step; 2 beams, 3 new tokens.
    /// Step 0: top-4 = eos -1 (hyp [] → -1/1^lp), a -2, b -3 (beams). Step 1: a+eos -3 (hyp [a],
    /// length 2 counting eos), a+a -4, b+eos -4 (rank 2 ≥ beams: dropped), a+b -5 (tie with b+a
    /// broken by index). Then:
    /// - lp 0: hyps {-1, -3}, worst -3 ≥ best -3 / 2^0 → done: [eos] -1, [a eos] -3.
    /// - lp 1: hyps {-1, -1.5}, worst -1.5 ≥ -3/2 → done: [eos] -1, [a eos] -1.5.
    /// - lp 2: hyps {-1, -0.75}, worst -1 < -3/4 → go on. Step 2: a a+eos -5 → -5/9 replaces [] (-1);
    ///   beams a a a -6, a a b -7; max length: finalize adds a a a (-6/9 > worst -0.75, evicts [a]);
    ///   a a b (-7/9) is worse than the new worst. Result [a a eos] -5/9, [a a a] -6/9.
    func testLengthPenaltyHandComputedExample() throws {
        let row: [Float] = [-10, -1, -2, -3]
        let cases: [(Double, [GeneratedSequence])] = [
            (0, [GeneratedSequence(tokens: [1], score: -1, isFiller: false), GeneratedSequence(tokens: [2, 1], score: -3, isFiller: false)]),
            (1, [GeneratedSequence(tokens: [1], score: -1, isFiller: false), GeneratedSequence(tokens: [2, 1], score: -1.5, isFiller: false)]),
            (2, [GeneratedSequence(tokens: [2, 2, 1], score: Float(-5.0 / 9.0), isFiller: false),
                 GeneratedSequence(tokens: [2, 2, 2], score: Float(-6.0 / 9.0), isFiller: false)]),
        ]
        for (lp, expected) in cases {
            var scorer = FixedScorer(row: row, rows: 1)
            let config = GenerationConfig(maxNewTokens: 3, numBeams: 2, lengthPenalty: lp, numReturnSequences: 2)
            let result = try Generation.generate(scorer: &scorer, batchSize: 1, config: config)
            XCTAssertEqual(result[0].sequences, expected, "length penalty \(lp)")
        }
        // early_stopping=True stops as soon as 2 hypotheses exist (after step 1) whatever the penalty.
        var scorer = FixedScorer(row: row, rows: 1)
        let result = try Generation.generate(scorer: &scorer, batchSize: 1, config: GenerationConfig(
            maxNewTokens: 3, numBeams: 2, lengthPenalty: 2, earlyStopping: .whenFull, numReturnSequences: 2))
        XCTAssertEqual(result[0].sequences, [GeneratedSequence(tokens: [2, 1], score: -0.75, isFiller: false),
                                             GeneratedSequence(tokens: [1], score: -1, isFiller: false)])
    }

    // MARK: Against a literal transcription of HF

    func testMatchesLiteralHFTranscription() throws {
        let vocab = 9
        var configs: [GenerationConfig] = []
        for (beams, groups) in [(2, 1), (4, 1), (4, 2), (6, 3), (4, 4)] {
            for lp in [1.0, 0.6, 0.0, -0.4] {
                for early in [EarlyStopping.heuristic, .whenFull, .never] {
                    configs.append(GenerationConfig(
                        maxNewTokens: 5, minNewTokens: lp < 0 ? 2 : 0, numBeams: beams, numBeamGroups: groups,
                        diversityPenalty: groups > 1 ? (lp == 1 ? 0.7 : 3.0) : 0, lengthPenalty: lp, earlyStopping: early,
                        numReturnSequences: beams))
                }
            }
        }
        let tokenSets = TokenSetConstraint(tokensPerInput: [[2, 3], [4, 5, 6, 7, 8], [3], [2, 8, 5]], eosTokenId: 1)
        let trie = try PrefixTrie(sequences: [[2, 1], [2, 3, 1], [2, 3, 4, 1], [5, 6, 1], [7, 1], [7, 8, 8, 1]], eosTokenId: 1)
        let constraints: [(String, (any TokenConstraint)?)] = [("none", nil), ("token set", tokenSets), ("trie", trie)]
        var compared = 0, fillers = 0
        for (seed, config) in configs.enumerated() {
            for (name, constraint) in constraints {
                let model = ToyModel(vocab: vocab, seed: UInt64(seed), eosBoost: 0.4)
                var scorer = ToyScorer(model: model, batchSize: 4)
                let fast = try Generation.generate(scorer: &scorer, batchSize: 4, config: config, constraint: constraint)
                let reference = hfReferenceBeamSearch(model: model.logProbs, vocab: vocab, batchSize: 4, config: config, constraint: constraint)
                XCTAssertEqual(fast, reference, "config \(config), constraint \(name)")
                compared += 1
                fillers += fast.reduce(0) { $0 + $1.sequences.filter(\.isFiller).count }
            }
        }
        XCTAssertEqual(compared, configs.count * 3)
        XCTAssertGreaterThan(fillers, 0, "the trie cases should exercise filler hypotheses")

        // A larger vocabulary exercises the SIMD scan of unconstrained rows.
        for (seed, (beams, groups)) in [(2, 1), (5, 1), (6, 2), (4, 4)].enumerated() {
            let config = GenerationConfig(maxNewTokens: 6, numBeams: beams, numBeamGroups: groups,
                                          diversityPenalty: groups > 1 ? 0.8 : 0, numReturnSequences: beams)
            let model = ToyModel(vocab: 203, seed: UInt64(100 + seed), scale: 3, eosBoost: 1)
            var scorer = ToyScorer(model: model, batchSize: 3)
            let fast = try Generation.generate(scorer: &scorer, batchSize: 3, config: config)
            let reference = hfReferenceBeamSearch(model: model.logProbs, vocab: 203, batchSize: 3, config: config, constraint: nil)
            XCTAssertEqual(fast, reference, "vocab 203, config \(config)")
        }
    }

    // MARK: Diverse beam search

    /// With penalty 0, each of G groups is an independent beam search of numBeams/G beams (HF
    /// semantics: per-group hypotheses, per-group stopping), so the merged output repeats the
    /// single beam search's output G times.
    func testDiverseWithZeroPenaltyRepeatsIndependentBeamSearch() throws {
        let model = ToyModel(vocab: 15, seed: 8)
        for (groups, groupSize) in [(2, 2), (3, 3), (2, 4)] {
            var single = ToyScorer(model: model, batchSize: 3)
            let base = try Generation.generate(scorer: &single, batchSize: 3, config: GenerationConfig(
                maxNewTokens: 5, numBeams: groupSize, numReturnSequences: groupSize))
            var grouped = ToyScorer(model: model, batchSize: 3)
            let diverse = try Generation.generate(scorer: &grouped, batchSize: 3, config: GenerationConfig(
                maxNewTokens: 5, numBeams: groups * groupSize, numBeamGroups: groups, diversityPenalty: 0,
                numReturnSequences: groups * groupSize))
            for b in 0 ..< 3 {
                let expected = base[b].sequences.flatMap { Array(repeating: $0, count: groups) }
                XCTAssertEqual(diverse[b].sequences, expected, "groups \(groups) × \(groupSize), input \(b)")
            }
        }
    }

    /// A huge Hamming penalty forces every group (one beam each) to start with a token no earlier
    /// group took at step 0.
    func testHammingPenaltyMakesGroupsDiffer() throws {
        let model = ToyModel(vocab: 30, seed: 4)
        var scorer = ToyScorer(model: model, batchSize: 2)
        let results = try Generation.generate(scorer: &scorer, batchSize: 2, config: GenerationConfig(
            maxNewTokens: 1, numBeams: 6, numBeamGroups: 6, diversityPenalty: 1e6, numReturnSequences: 6))
        for r in results {
            XCTAssertEqual(Set(r.sequences.map { $0.tokens[0] }).count, 6, "\(r.sequences.map(\.tokens))")
        }
    }

    // MARK: Properties

    func testBeamsSortedAndDeterministic() throws {
        let model = ToyModel(vocab: 50, seed: 99)
        let config = GenerationConfig(maxNewTokens: 7, numBeams: 8, numBeamGroups: 4, diversityPenalty: 0.5, numReturnSequences: 8)
        var s1 = ToyScorer(model: model, batchSize: 5)
        var s2 = ToyScorer(model: model, batchSize: 5)
        let a = try Generation.generate(scorer: &s1, batchSize: 5, config: config)
        let b = try Generation.generate(scorer: &s2, batchSize: 5, config: config)
        XCTAssertEqual(a, b)
        for r in a {
            let scores = r.sequences.map(\.score)
            XCTAssertEqual(scores, scores.sorted(by: >))
            XCTAssertEqual(r.sequences.count, 8)
        }
    }

    func testTrieConstrainedSearchReturnsEveryItemOnce() throws {
        let items: [[Int32]] = [
            [5, 1], [5, 6, 1], [5, 6, 7, 1], [5, 7, 1], [8, 1], [8, 9, 10, 11, 1], [9, 1], [12, 5, 1],
            [12, 6, 1], [13, 13, 13, 1], [14, 2, 1], [15, 3, 4, 1],
        ]
        let trie = try PrefixTrie(sequences: items, eosTokenId: 1)
        let model = ToyModel(vocab: 20, seed: 17)
        for (beams, groups) in [(12, 1), (16, 1), (12, 3), (16, 4)] {
            let config = GenerationConfig(maxNewTokens: 5, numBeams: beams, numBeamGroups: groups,
                                          diversityPenalty: groups > 1 ? 0.3 : 0, numReturnSequences: beams)
            var scorer = ToyScorer(model: model, batchSize: 3)
            let results = try Generation.generate(scorer: &scorer, batchSize: 3, config: config, constraint: trie)
            for r in results {
                let real = r.realSequences
                for s in real {
                    XCTAssertNotNil(trie.index(of: s.tokens), "\(s.tokens) is not a trie item")
                    XCTAssertEqual(s.tokens.last, 1)
                }
                if groups == 1 {
                    // With beams >= items every item comes back exactly once.
                    XCTAssertEqual(real.map(\.tokens).sorted { $0.lexicographicallyPrecedes($1) },
                                   items.sorted { $0.lexicographicallyPrecedes($1) })
                }
                let scores = r.sequences.map(\.score)
                XCTAssertEqual(scores, scores.sorted(by: >))
                // Fillers come after all real sequences.
                if let firstFiller = r.sequences.firstIndex(where: \.isFiller) {
                    XCTAssertFalse(r.sequences[firstFiller...].contains { !$0.isFiller })
                }
            }
        }
        // Greedy under the trie yields an item.
        var scorer = ToyScorer(model: model, batchSize: 3)
        for r in try Generation.generate(scorer: &scorer, batchSize: 3, config: GenerationConfig(maxNewTokens: 6), constraint: trie) {
            XCTAssertNotNil(trie.index(of: r.sequences[0].tokens))
        }
    }

    func testTokenSetConstraintOnlyUsesInputTokens() throws {
        let sets: [[Int32]] = [[4, 4, 9, 0], [17], [3, 5, 7, 11, 13]]
        let constraint = TokenSetConstraint(tokensPerInput: sets, eosTokenId: 1, excluding: [0])
        XCTAssertEqual(constraint.allowed[0], [1, 4, 9])
        let model = ToyModel(vocab: 20, seed: 2)
        for config in [GenerationConfig(maxNewTokens: 6), GenerationConfig(maxNewTokens: 6, numBeams: 4, numReturnSequences: 4),
                       GenerationConfig(maxNewTokens: 6, numBeams: 4, numBeamGroups: 2, diversityPenalty: 1, numReturnSequences: 4)] {
            var scorer = ToyScorer(model: model, batchSize: 3)
            let results = try Generation.generate(scorer: &scorer, batchSize: 3, config: config, constraint: constraint)
            for (b, r) in results.enumerated() {
                for s in r.realSequences {
                    XCTAssertTrue(Set(s.tokens).isSubset(of: Set(constraint.allowed[b])), "\(s.tokens) vs \(constraint.allowed[b])")
                }
            }
        }
    }

    func testUnsatisfiableConstraintThrows() throws {
        struct Nothing: TokenConstraint { func allowedTokens(batchIndex: Int, prefix: [Int32]) -> [Int32]? { [] } }
        struct OutOfRange: TokenConstraint { func allowedTokens(batchIndex: Int, prefix: [Int32]) -> [Int32]? { [99] } }
        let model = ToyModel(vocab: 10, seed: 1)
        for config in [GenerationConfig(maxNewTokens: 3), GenerationConfig(maxNewTokens: 3, numBeams: 2)] {
            var scorer = ToyScorer(model: model, batchSize: 1)
            XCTAssertThrowsError(try Generation.generate(scorer: &scorer, batchSize: 1, config: config, constraint: Nothing())) {
                XCTAssertEqual($0 as? DecodingError, .noAllowedToken(batchIndex: 0, prefix: []))
            }
            scorer = ToyScorer(model: model, batchSize: 1)
            XCTAssertThrowsError(try Generation.generate(scorer: &scorer, batchSize: 1, config: config, constraint: OutOfRange())) {
                XCTAssertEqual($0 as? DecodingError, .allowedTokenOutOfRange(batchIndex: 0, token: 99, vocabularySize: 10))
            }
        }
    }

    // MARK: Config

    func testConfigValidationAndHFKeys() throws {
        XCTAssertThrowsError(try GenerationConfig(maxNewTokens: 0).validate())
        XCTAssertThrowsError(try GenerationConfig(maxNewTokens: 3, numBeams: 4, numBeamGroups: 3).validate())
        XCTAssertThrowsError(try GenerationConfig(maxNewTokens: 3, numBeams: 2, numReturnSequences: 3).validate())
        XCTAssertThrowsError(try GenerationConfig(maxNewTokens: 3, diversityPenalty: -1).validate())
        let json = #"{"max_new_tokens": 9, "num_beams": 10, "num_beam_groups": 10, "diversity_penalty": 1.0, "early_stopping": "never", "num_return_sequences": 10}"#
        let c = try JSONDecoder().decode(GenerationConfig.self, from: Data(json.utf8))
        XCTAssertEqual(c, GenerationConfig(maxNewTokens: 9, numBeams: 10, numBeamGroups: 10, diversityPenalty: 1, earlyStopping: .never, numReturnSequences: 10))
        XCTAssertEqual(try JSONDecoder().decode(GenerationConfig.self, from: JSONEncoder().encode(c)), c)
        let flag = try JSONDecoder().decode(GenerationConfig.self, from: Data(#"{"max_new_tokens": 2, "early_stopping": true}"#.utf8))
        XCTAssertEqual(flag.earlyStopping, .whenFull)
    }
}
