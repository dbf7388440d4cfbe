import Corpora
import Foundation
import TensorCore

/// A model that scores the whole catalog from a history: the "atomic single-token item ID"
/// interface (one token per item, one decoding step, top-K from one score vector). SASRec is
/// one; later ID schemes are compared against it through the same harness.
public protocol ItemScorer {
    /// Catalog size N.
    var itemCount: Int { get }
    /// Scores [histories.count, N] (higher is better) for chronological histories of catalog
    /// indices, oldest first.
    func scores(histories: [[Int]]) -> Tensor
}

extension ItemScorer {
    /// A `Ranking.scores` for the evaluator that scores users in batches of `batchSize`: when
    /// asked for a target it has not scored, it scores that target together with the next
    /// ones of `expected` (the order the evaluator will ask in; pass `split.targets(part)`,
    /// or the sampled list), so a full pass costs one batched forward per `batchSize` users.
    /// Targets outside `expected` are scored alone. Always exact: a cached row is used only
    /// for an identical (user, history, target).
    public func ranking(expected: [EvaluationTarget], batchSize: Int = 256) -> Ranking {
        let cache = ScoreCache(scorer: self, expected: expected, batchSize: max(1, batchSize))
        return .scores { try cache.scores(for: $0) }
    }
}

/// Batched score computation behind `ItemScorer.ranking(expected:batchSize:)`.
final class ScoreCache {
    let scorer: ItemScorer
    let expected: [EvaluationTarget]
    let batchSize: Int
    /// Position of the first occurrence of each user index in `expected`.
    let position: [Int: Int]
    var cachedStart = -1
    var cached: Tensor?

    init(scorer: ItemScorer, expected: [EvaluationTarget], batchSize: Int) {
        self.scorer = scorer
        self.expected = expected
        self.batchSize = batchSize
        var position: [Int: Int] = [:]
        for (i, t) in expected.enumerated() where position[t.user] == nil { position[t.user] = i }
        self.position = position
    }

    func scores(for target: EvaluationTarget) throws -> [Float] {
        let n = scorer.itemCount
        if let p = position[target.user], expected[p] == target {
            if cached == nil || p < cachedStart || p >= cachedStart + batchSize {
                cachedStart = p
                let end = min(expected.count, p + batchSize)
                cached = scorer.scores(histories: expected[p ..< end].map(\.history))
            }
            let row = cached!.pointer + (p - cachedStart) * n
            return Array(UnsafeBufferPointer(start: row, count: n))
        }
        let single = scorer.scores(histories: [target.history])
        return Array(UnsafeBufferPointer(start: single.pointer, count: n))
    }
}
