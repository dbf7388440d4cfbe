import Foundation
import Support
import TensorCore

// Ops and losses of the single-token item scheme (issue 20): item rows from ID-token means, and
// full / sampled ranking losses over an item output table. Kept in their own file so engine
// edits stay additive.

/// Mean of consecutive row segments: `x` [T, d], `offsets` [S + 1] (non-decreasing, offsets[0] =
/// 0, offsets[S] = T) → [S, d], row s = mean of rows offsets[s] ..< offsets[s+1] (zero for an
/// empty segment). Gradient: each row of a segment gets the segment's gradient / its length.
public func segmentMean(_ x: Variable, offsets: [Int]) -> Variable {
    precondition(x.shape.count == 2 && offsets.first == 0 && offsets.last == x.shape[0], "segmentMean: x \(x.shape), offsets end \(offsets.last ?? -1)")
    let d = x.shape[1], s = offsets.count - 1
    let out = Tensor(zeros: [s, d])
    let xp = x.value.pointer, op = out.pointer
    for k in 0 ..< s {
        let n = offsets[k + 1] - offsets[k]
        guard n > 0 else { continue }
        let w = 1 / Float(n)
        for r in offsets[k] ..< offsets[k + 1] {
            for j in 0 ..< d { op[k * d + j] += w * xp[r * d + j] }
        }
    }
    return record(out, [x]) { g in
        x.withGradBuffer { dx, acc in
            let gp = g.pointer, dp = dx.pointer
            if !acc { dx.fill(0) }
            for k in 0 ..< s {
                let n = offsets[k + 1] - offsets[k]
                guard n > 0 else { continue }
                let w = 1 / Float(n)
                for r in offsets[k] ..< offsets[k + 1] {
                    for j in 0 ..< d { dp[r * d + j] += w * gp[k * d + j] }
                }
            }
        }
    }
}

/// Rank estimates from sampled negatives (Subbiah, Rendle & Aggarwal, "Improved Estimation of
/// Ranks for Learning Item Recommenders with Negative Sampling", CIKM 2024).
public enum SampledRank {
    /// Full-catalog rank estimate of a positive from `violations` of `sampled` negatives drawn
    /// uniformly without replacement from the `catalog − 1` other items: 1 + violations ·
    /// (catalog − 1) / sampled. Unbiased: E[violations] = sampled · (rank − 1) / (catalog − 1).
    /// The uncorrected estimate, the rank inside the sample (1 + violations), is biased low by
    /// the factor sampled / (catalog − 1).
    public static func corrected(violations: Int, sampled: Int, catalog: Int) -> Double {
        guard sampled > 0 else { return 1 }
        return 1 + Double(violations) * Double(catalog - 1) / Double(sampled)
    }

    /// WARP's rank weight Φ(r) = Σ_{i ≤ r} 1/i, extended to real r by the harmonic-number
    /// expansion ln r + γ + 1/(2r) − 1/(12r²) (within 0.6% of the sum at r = 1, exact as r grows).
    public static func warpWeight(_ r: Double) -> Double {
        let x = max(r, 1)
        return Foundation.log(x) + 0.5772156649 + 1 / (2 * x) - 1 / (12 * x * x)
    }
}

/// Sampled softmax with the logQ correction (Yi et al., RecSys 2019): `logits` [B, C] are the
/// scores of C shared candidates (in-batch positives and uniform negatives, each item once),
/// `targets[b]` the column of row b's positive, `logQ[c]` the log of candidate c's expected
/// count in a batch's candidate set. Loss = mean_b [logsumexp_c (z_bc) − z_{b,t_b}] with
/// z = logits − logQ. Gradient: (softmax(z) − onehot) / B.
public func sampledSoftmaxLoss(_ logits: Variable, targets: [Int], logQ: [Float]) -> Variable {
    let b = logits.shape[0], c = logits.shape[1]
    precondition(logits.shape.count == 2 && targets.count == b && logQ.count == c, "sampledSoftmaxLoss: logits \(logits.shape), \(targets.count) targets, \(logQ.count) logQ")
    let probabilities = Tensor(uninitialized: [b, c])
    var total = 0.0
    let x = logits.value.pointer, p = probabilities.pointer
    for r in 0 ..< b {
        var m = -Float.infinity
        for j in 0 ..< c { let z = x[r * c + j] - logQ[j]; p[r * c + j] = z; m = max(m, z) }
        var s: Float = 0
        for j in 0 ..< c { let e = Foundation.exp(p[r * c + j] - m); p[r * c + j] = e; s += e }
        for j in 0 ..< c { p[r * c + j] /= s }
        total += Double(m + Foundation.log(s) - (x[r * c + targets[r]] - logQ[targets[r]]))
    }
    let loss = Tensor(scalar: Float(total / Double(max(b, 1))))
    return record(loss, [logits]) { g in
        let scale = g.pointer[0] / Float(max(b, 1))
        logits.withGradBuffer { dx, acc in
            let d = dx.pointer, p = probabilities.pointer
            for r in 0 ..< b {
                for j in 0 ..< c {
                    let v = (p[r * c + j] - (j == targets[r] ? 1 : 0)) * scale
                    if acc { d[r * c + j] += v } else { d[r * c + j] = v }
                }
            }
        }
    }
}

/// Which columns of a sampled score matrix are uniform negatives for a row: every column in
/// `uniform` except the row's own positive.
@inline(__always)
private func negativeColumns(_ uniform: [Int], target: Int) -> [Int] { uniform.filter { $0 != target } }

/// Sampled WARP (Weston et al. 2011) in batch form with the corrected rank estimate: for row b
/// with positive column t and uniform negative columns U (the positive's own column left out,
/// m = |U|), the margin violators V = {j ∈ U : 1 − s_t + s_j > 0} give the rank estimate
/// r̂ = 1 + |V|·(catalog − 1)/m (`SampledRank.corrected`; `corrected: false` uses 1 + |V|, the
/// rank in the sample). Loss_b = Φ(r̂)·(1/|V|)·Σ_{j∈V} (1 − s_t + s_j) (0 when V is empty): the
/// expected loss of WARP's single sampled violator. Φ(r̂) is a weight (no gradient). Mean over rows.
public func sampledWARPLoss(_ logits: Variable, targets: [Int], uniform: [Int], catalog: Int, corrected: Bool = true, margin: Float = 1) -> Variable {
    let b = logits.shape[0], c = logits.shape[1]
    precondition(logits.shape.count == 2 && targets.count == b, "sampledWARPLoss: logits \(logits.shape), \(targets.count) targets")
    let x = logits.value.pointer
    var coefficient = [Float](repeating: 0, count: b * c) // dLoss_b / dlogits[b, j]
    var total = 0.0
    for r in 0 ..< b {
        let t = targets[r], st = x[r * c + t]
        let negatives = negativeColumns(uniform, target: t)
        let violators = negatives.filter { margin - st + x[r * c + $0] > 0 }
        guard !violators.isEmpty else { continue }
        let rank = corrected ? SampledRank.corrected(violations: violators.count, sampled: negatives.count, catalog: catalog)
            : Double(1 + violators.count)
        let w = SampledRank.warpWeight(rank) / Double(violators.count)
        for j in violators {
            total += w * Double(margin - st + x[r * c + j])
            coefficient[r * c + j] += Float(w)
            coefficient[r * c + t] -= Float(w)
        }
    }
    let loss = Tensor(scalar: Float(total / Double(max(b, 1))))
    return record(loss, [logits]) { g in
        let scale = g.pointer[0] / Float(max(b, 1))
        logits.withGradBuffer { dx, acc in
            let d = dx.pointer
            for i in 0 ..< b * c { if acc { d[i] += coefficient[i] * scale } else { d[i] = coefficient[i] * scale } }
        }
    }
}

/// Sampled LambdaRank (Burges 2010) with one relevant item per row and corrected ranks: pairs
/// (positive t, negative j ∈ U) with the logistic pair loss log(1 + exp(s_j − s_t)), each
/// weighted by |ΔNDCG| of swapping the two at their estimated full-catalog ranks,
/// ΔNDCG_j = |1/log2(1 + r̂_t) − 1/log2(1 + r̂_j)|, r̂_t = 1 + (catalog − 1)/m · #{k ∈ U: s_k > s_t},
/// r̂_j = 1 + (catalog − 1)/m · #{k ∈ U: s_k > s_j} + [s_t > s_j] (`corrected: false`: the
/// same counts without the (catalog − 1)/m scaling). The weights carry no gradient. Loss_b =
/// (catalog − 1)/m · Σ_j ΔNDCG_j · log(1 + exp(s_j − s_t)), an estimate of the sum over the
/// whole catalog; mean over rows.
public func sampledLambdaRankLoss(_ logits: Variable, targets: [Int], uniform: [Int], catalog: Int, corrected: Bool = true) -> Variable {
    let b = logits.shape[0], c = logits.shape[1]
    precondition(logits.shape.count == 2 && targets.count == b, "sampledLambdaRankLoss: logits \(logits.shape), \(targets.count) targets")
    let x = logits.value.pointer
    var coefficient = [Float](repeating: 0, count: b * c)
    var total = 0.0
    for r in 0 ..< b {
        let t = targets[r], st = x[r * c + t]
        let negatives = negativeColumns(uniform, target: t)
        let m = negatives.count
        guard m > 0 else { continue }
        let scale = corrected ? Double(catalog - 1) / Double(m) : 1
        // Scores of the negatives sorted descending: #{k: s_k > s} by binary search.
        let sorted = negatives.map { x[r * c + $0] }.sorted(by: >)
        func above(_ s: Float) -> Int {
            var lo = 0, hi = sorted.count
            while lo < hi { let mid = (lo + hi) / 2; if sorted[mid] > s { lo = mid + 1 } else { hi = mid } }
            return lo
        }
        let rt = 1 + scale * Double(above(st))
        let gainT = 1 / log2(1 + rt)
        for j in negatives {
            let sj = x[r * c + j]
            let rj = 1 + scale * Double(above(sj)) + (st > sj ? 1 : 0)
            let delta = abs(gainT - 1 / log2(1 + rj))
            let diff = Double(sj - st)
            // log(1 + e^diff) stably; its derivative σ(diff).
            let pairLoss = diff > 0 ? diff + Foundation.log1p(Foundation.exp(-diff)) : Foundation.log1p(Foundation.exp(diff))
            let sigma = diff >= 0 ? 1 / (1 + Foundation.exp(-diff)) : Foundation.exp(diff) / (1 + Foundation.exp(diff))
            let w = (corrected ? Double(catalog - 1) / Double(m) : 1) * delta
            total += w * pairLoss
            coefficient[r * c + j] += Float(w * sigma)
            coefficient[r * c + t] -= Float(w * sigma)
        }
    }
    let loss = Tensor(scalar: Float(total / Double(max(b, 1))))
    return record(loss, [logits]) { g in
        let scale = g.pointer[0] / Float(max(b, 1))
        logits.withGradBuffer { dx, acc in
            let d = dx.pointer
            for i in 0 ..< b * c { if acc { d[i] += coefficient[i] * scale } else { d[i] = coefficient[i] * scale } }
        }
    }
}
