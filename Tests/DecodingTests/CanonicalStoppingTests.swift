import Support
import XCTest
@testable import Decoding

/// Ranking items by p(ID | prompt) under an ID trie relies on canonical stopping
/// (`early_stopping = "never"`, `length_penalty = 0`): the score of a returned item is the sum
/// of its tokens' log-probabilities, and the search does not stop while a live beam could still
/// finish better. Properties on random tries and random toy models.
final class CanonicalStoppingTests: XCTestCase {
    /// Random item token sequences (tokens 2..<vocab, 1–5 tokens) + eos, distinct.
    func randomItems(vocab: Int, count: Int, using g: inout SeededGenerator) -> [[Int32]] {
        var seen = Set<[Int32]>()
        while seen.count < count {
            let length = Int(g.next() % 5) + 1
            seen.insert((0 ..< length).map { _ in Int32(2 + Int(g.next() % UInt64(vocab - 2))) } + [1])
        }
        return seen.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Sum of the model's log-probabilities along `tokens`, accumulated in Float step by step as
    /// the decoder does (the constraint masks other tokens after log_softmax, as HF).
    func itemScore(_ model: ToyModel, input: Int, _ tokens: [Int32]) -> Float {
        var sum: Float = 0
        for i in tokens.indices { sum += model.logProbs(input: input, prefix: Array(tokens[..<i]))[Int(tokens[i])] }
        return sum
    }

    /// With at least as many beams as items, canonical stopping returns every item, ranked
    /// exactly by p(item): the full ranking by probability.
    func testEnoughBeamsRankEveryItemExactlyByProbability() throws {
        var g = SeededGenerator(seed: 99)
        for trial in 0 ..< 25 {
            let vocab = 6 + Int(g.next() % 8)
            let items = randomItems(vocab: vocab, count: 4 + Int(g.next() % 10), using: &g)
            let trie = try PrefixTrie(sequences: items, eosTokenId: 1)
            let model = ToyModel(vocab: vocab, seed: UInt64(trial), scale: 1.5, eosBoost: Double(trial % 3) * 0.5)
            let config = GenerationConfig(maxNewTokens: 6, numBeams: items.count, lengthPenalty: 0, earlyStopping: .never,
                                          numReturnSequences: items.count)
            var scorer = ToyScorer(model: model, batchSize: 2)
            let results = try Generation.generate(scorer: &scorer, batchSize: 2, config: config, constraint: trie)
            for input in 0 ..< 2 {
                let got = results[input].realSequences
                XCTAssertEqual(got.count, items.count, "trial \(trial): every item comes back")
                XCTAssertEqual(Set(got.map(\.tokens)), Set(items), "trial \(trial)")
                for s in got {
                    XCTAssertEqual(s.score, itemScore(model, input: input, s.tokens), accuracy: 1e-5, "trial \(trial) \(s.tokens)")
                }
                let expected = items.map { itemScore(model, input: input, $0) }.sorted(by: >)
                for (a, b) in zip(got.map(\.score), expected) { XCTAssertEqual(a, b, accuracy: 1e-5, "trial \(trial): ranked by probability") }
            }
        }
    }

    /// With fewer beams than items, the search runs the same steps as HF `early_stopping=True`
    /// until that one stops, and afterwards only replaces kept hypotheses by better ones: the
    /// k-th best returned score under canonical stopping is never below the k-th under
    /// `whenFull`, and every returned score is the item's exact log-probability.
    func testCanonicalStoppingDominatesStoppingWhenFull() throws {
        var g = SeededGenerator(seed: 7)
        var strictlyBetter = 0
        for trial in 0 ..< 40 {
            let vocab = 8 + Int(g.next() % 8)
            let items = randomItems(vocab: vocab, count: 12 + Int(g.next() % 12), using: &g)
            let trie = try PrefixTrie(sequences: items, eosTokenId: 1)
            let model = ToyModel(vocab: vocab, seed: 1000 + UInt64(trial), scale: 2, eosBoost: 0)
            let beams = 3 + Int(g.next() % 4)
            func run(_ stopping: EarlyStopping) throws -> [GenerationResult] {
                var scorer = ToyScorer(model: model, batchSize: 3)
                let config = GenerationConfig(maxNewTokens: 6, numBeams: beams, lengthPenalty: 0, earlyStopping: stopping,
                                              numReturnSequences: beams)
                return try Generation.generate(scorer: &scorer, batchSize: 3, config: config, constraint: trie)
            }
            let canonical = try run(.never), whenFull = try run(.whenFull)
            for input in 0 ..< 3 {
                let c = canonical[input].realSequences, w = whenFull[input].realSequences
                XCTAssertEqual(Set(c.map(\.tokens)).count, c.count, "no item twice")
                for s in c {
                    XCTAssertNotNil(trie.index(of: s.tokens))
                    XCTAssertEqual(s.score, itemScore(model, input: input, s.tokens), accuracy: 1e-5)
                }
                XCTAssertGreaterThanOrEqual(c.count, w.count)
                for (a, b) in zip(c.map(\.score), w.map(\.score)) { XCTAssertGreaterThanOrEqual(a, b - 1e-6, "trial \(trial)") }
                if zip(c.map(\.score), w.map(\.score)).contains(where: { $0 > $1 + 1e-6 }) { strictlyBetter += 1 }
            }
        }
        // The property is not vacuous: on some of these tries stopping when full loses items.
        XCTAssertGreaterThan(strictlyBetter, 0)
    }

    /// The ranking search drops hopeless beams (score at or below the worst of a full finished
    /// list) and -inf fillers from the model's rows. Against the literal HF transcription, which
    /// computes every beam, the results are identical, and the rows saved are real.
    func testDroppingHopelessBeamsMatchesHFAndSavesRows() throws {
        var g = SeededGenerator(seed: 2026)
        var computed = 0, unpruned = 0
        for trial in 0 ..< 30 {
            let vocab = 10 + Int(g.next() % 8)
            let items = randomItems(vocab: vocab, count: 20 + Int(g.next() % 40), using: &g)
            let trie = try PrefixTrie(sequences: items, eosTokenId: 1)
            let model = ToyModel(vocab: vocab, seed: 5000 + UInt64(trial), scale: 2, eosBoost: Double(trial % 3) * 0.5)
            let beams = 2 + Int(g.next() % 6)
            let config = GenerationConfig(maxNewTokens: 6, numBeams: beams, lengthPenalty: 0, earlyStopping: .never,
                                          numReturnSequences: beams)
            var scorer = ToyScorer(model: model, batchSize: 3)
            let fast = try Generation.generate(scorer: &scorer, batchSize: 3, config: config, constraint: trie)
            let reference = hfReferenceBeamSearch(model: model.logProbs, vocab: vocab, batchSize: 3, config: config, constraint: trie)
            XCTAssertEqual(fast, reference, "trial \(trial)")
            // Without dropping, every step after the first computes whole blocks of `beams` rows.
            computed += scorer.rowsPerStep.dropFirst().reduce(0, +)
            unpruned += scorer.rowsPerStep.dropFirst().reduce(0) { $0 + ($1 + beams - 1) / beams * beams }
        }
        XCTAssertLessThan(computed, unpruned, "some beams were dropped")
    }
}
