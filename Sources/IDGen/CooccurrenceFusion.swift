import Autograd
import Corpora
import Foundation
import Optim
import Support
import TensorCore

/// PLUM-style fusion of collaborative signal into content embeddings before quantising.
public struct CooccurrenceFusionOptions: Codable, Sendable, Equatable {
    /// Items at most this many positions apart in a training sequence form a pair.
    public var window = 1
    public var epochs = 2
    public var batchSize = 512
    public var learningRate: Float = 3e-3
    /// InfoNCE temperature.
    public var temperature: Float = 0.1
    /// Weight of the content term: mean over the batch of ‖y − x‖² (keeps the projection near the text embedding).
    public var contentWeight: Float = 0.3
    public var seed: UInt64 = 0

    public init() {}
}

/// Fine-tunes a residual linear map y = x + x·P (P starts at zero: y = x) with a symmetric
/// InfoNCE loss on co-occurring item pairs (in-batch negatives) plus a content term; the
/// quantiser then clusters normalise(y) instead of x, so items bought together tend to share
/// prefixes (PLUM, Google 2025, fuses collaborative signal the same way in spirit).
///
/// Leak freedom: pairs come only from `Split.train` (each user's sequence minus its last two
/// items); `pairs(split:)` is the only way the CLI builds them.
public enum CooccurrenceFusion {
    /// Distinct unordered pairs (i < j) of different items at most `window` positions apart in a
    /// training part, sorted (deterministic).
    public static func pairs(split: Split, window: Int = 1) throws -> [(Int, Int)] {
        try LeakChecks.checkTrainingInputs(split.train, split: split, what: "co-occurrence pairs")
        var seen = Set<Int>()
        let n = split.itemCount
        for items in split.train {
            for (p, a) in items.enumerated() {
                for q in (p + 1) ..< min(items.count, p + 1 + max(window, 1)) {
                    let b = items[q]
                    guard a != b else { continue }
                    seen.insert(min(a, b) * n + max(a, b))
                }
            }
        }
        return seen.sorted().map { ($0 / n, $0 % n) }
    }

    /// The loss of one batch: (InfoNCE(ya→yb) + InfoNCE(yb→ya)) / 2 + contentWeight · mean‖y − x‖²,
    /// y = x + x·P for both sides. `a`, `b`: [B, d] rows of the pairs' embeddings.
    public static func loss(a: Variable, b: Variable, projection: Variable, temperature: Float, contentWeight: Float) -> Variable {
        let batch = a.shape[0], d = a.shape[1]
        let ya = add(a, matmul(a, projection))
        let yb = add(b, matmul(b, projection))
        let logits = scale(matmul(ya, yb, transposeB: true), 1 / temperature) // [B, B]
        let logitsT = scale(matmul(yb, ya, transposeB: true), 1 / temperature)
        let diagonal = IntTensor(shape: [batch], values: Array(0 ..< batch))
        let nce = scale(add(crossEntropy(logits, targets: diagonal), crossEntropy(logitsT, targets: diagonal)), 0.5)
        let da = sub(ya, a), db = sub(yb, b)
        // mean over rows of ‖y − x‖² = d · mean over elements; both sides.
        let content = scale(add(mean(mul(da, da)), mean(mul(db, db))), Float(d) / 2)
        return add(nce, scale(content, contentWeight))
    }

    /// Trains P [d, d] on `pairs` (catalog row indices of `embeddings`).
    public static func train(embeddings: Tensor, pairs: [(Int, Int)], options: CooccurrenceFusionOptions,
                             progress: Bool = false) throws -> Tensor {
        let n = embeddings.shape[0], d = embeddings.shape[1]
        guard options.batchSize >= 2, options.epochs >= 0, options.temperature > 0 else {
            throw IDGenError.invalid("co-occurrence fusion: batch size ≥ 2, epochs ≥ 0 and temperature > 0 required")
        }
        for (a, b) in pairs where a < 0 || a >= n || b < 0 || b >= n {
            throw IDGenError.invalid("co-occurrence fusion: pair (\(a), \(b)) outside the \(n) items")
        }
        let projection = Variable.parameter(Tensor(zeros: [d, d]), name: "projection")
        guard pairs.count >= 2 else { return projection.value }
        let optimiser = AdamW(groups: [ParameterGroup(parameters: [("projection", projection)], weightDecay: 0)],
                              learningRate: options.learningRate)
        var generator = SeededGenerator(seed: options.seed &+ 0xF05E)
        let batch = min(options.batchSize, pairs.count)
        for epoch in 0 ..< options.epochs {
            var order = Array(pairs.indices)
            order.shuffle(using: &generator)
            var total = 0.0, steps = 0
            var start = 0
            while start + batch <= order.count {
                let slice = order[start ..< start + batch]
                start += batch
                let a = Tensor(uninitialized: [batch, d]), b = Tensor(uninitialized: [batch, d])
                for (r, p) in slice.enumerated() {
                    (a.pointer + r * d).update(from: embeddings.pointer + pairs[p].0 * d, count: d)
                    (b.pointer + r * d).update(from: embeddings.pointer + pairs[p].1 * d, count: d)
                }
                optimiser.zeroGrad()
                let l = loss(a: Variable(a), b: Variable(b), projection: projection, temperature: options.temperature,
                             contentWeight: options.contentWeight)
                l.backward()
                optimiser.step()
                total += Double(l.value.item)
                steps += 1
            }
            if progress { Log.info(String(format: "co-occurrence fusion epoch %d: %d pairs, mean loss %.4f", epoch + 1, pairs.count, total / Double(max(steps, 1)))) }
        }
        return projection.value
    }
}
