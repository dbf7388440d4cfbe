import Autograd
import Foundation
import Support
import TensorCore
import TestSupport
import XCTest

/// Ops and losses of the item-token scheme (issue 20): finite-difference gradient checks, values
/// against direct formulas, and the corrected rank estimate's unbiasedness.
final class ItemTokenLossTests: XCTestCase {
    /// Scores on a grid (steps of 0.37): any two values of a row differ by ≥ 0.37 and any pair's
    /// difference is ≥ 0.11 away from the WARP margin 1, so the finite differences (h = 1e-2) never
    /// cross a rank or hinge boundary: the piecewise weights stay constant under the check.
    func gridScores(rows: Int, columns: Int, seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        let t = Tensor(uninitialized: [rows, columns])
        for r in 0 ..< rows {
            var levels = Array(0 ..< columns)
            levels.shuffle(using: &g)
            for j in 0 ..< columns { t.pointer[r * columns + j] = Float(levels[j]) * 0.37 - 1.5 }
        }
        return t
    }

    func testSegmentMeanGradientAndValues() {
        let offsets = [0, 2, 2, 5, 6] // segments of 2, 0, 3 and 1 rows
        GradCheck().check("segmentMean", inputs: [randn([6, 4], 21)]) { v in segmentMean(v[0], offsets: offsets) }
        // Reused input: gradients add.
        GradCheck().check("segmentMean reused", inputs: [randn([6, 3], 22)]) { v in
            segmentMean(v[0], offsets: offsets) + segmentMean(v[0] * 2, offsets: offsets)
        }
        let x = randn([6, 4], 23)
        let y = segmentMean(Variable(x), offsets: offsets).value
        XCTAssertEqual(y.shape, [4, 4])
        for j in 0 ..< 4 {
            XCTAssertEqual(y.pointer[j], (x.pointer[j] + x.pointer[4 + j]) / 2, accuracy: 1e-6)
            XCTAssertEqual(y.pointer[4 + j], 0) // empty segment
            XCTAssertEqual(y.pointer[8 + j], (x.pointer[8 + j] + x.pointer[12 + j] + x.pointer[16 + j]) / 3, accuracy: 1e-6)
            XCTAssertEqual(y.pointer[12 + j], x.pointer[20 + j], accuracy: 1e-6)
        }
    }

    func testSampledSoftmaxGradientAndValue() {
        let targets = [0, 3, 5, 1]
        let logQ: [Float] = [-1, -0.5, -2, -3, 0, -1.5, -0.2]
        GradCheck().check("sampled softmax", inputs: [randn([4, 7], 31, std: 2)]) { v in
            sampledSoftmaxLoss(v[0], targets: targets, logQ: logQ)
        }
        // Value: the mean over rows of −log softmax(z)_t with z = logits − logQ, in Double.
        let x = randn([4, 7], 32, std: 2)
        let loss = sampledSoftmaxLoss(Variable(x), targets: targets, logQ: logQ).value.item
        var expected = 0.0
        for r in 0 ..< 4 {
            let z = (0 ..< 7).map { Double(x.pointer[r * 7 + $0]) - Double(logQ[$0]) }
            let lse = Foundation.log(z.map { Foundation.exp($0) }.reduce(0, +))
            expected += lse - z[targets[r]]
        }
        XCTAssertEqual(Double(loss), expected / 4, accuracy: 1e-5)
        // With zero logQ it is the ordinary cross-entropy.
        let ce = crossEntropy(Variable(x), targets: IntTensor(shape: [4], values: targets.map(Int32.init))).value.item
        XCTAssertEqual(sampledSoftmaxLoss(Variable(x), targets: targets, logQ: [Float](repeating: 0, count: 7)).value.item, ce, accuracy: 1e-5)
    }

    func testSampledWARPGradientAndValue() {
        let targets = [0, 4, 2]
        let uniform = [1, 2, 3, 5, 6, 7]
        for corrected in [true, false] {
            GradCheck().check("warp corrected=\(corrected)", inputs: [gridScores(rows: 3, columns: 8, seed: 41)]) { v in
                sampledWARPLoss(v[0], targets: targets, uniform: uniform, catalog: 500, corrected: corrected)
            }
        }
        // Value of one row by the formula: violators, corrected rank, Φ, mean hinge.
        let x = Tensor(shape: [1, 4], values: [0.5, 1.0, -2.0, 0.2]) // positive column 0
        let loss = sampledWARPLoss(Variable(x), targets: [0], uniform: [1, 2, 3], catalog: 101).value.item
        // Violators: columns 1 (hinge 1.5) and 3 (hinge 0.7); column 2's hinge is −1.5.
        let rank = 1 + 2.0 * 100 / 3
        XCTAssertEqual(Double(loss), SampledRank.warpWeight(rank) * (1.5 + 0.7) / 2, accuracy: 1e-4)
        // A row with no violator contributes nothing.
        let clean = Tensor(shape: [1, 3], values: [5, 0, -1])
        XCTAssertEqual(sampledWARPLoss(Variable(clean), targets: [0], uniform: [1, 2], catalog: 50).value.item, 0)
    }

    func testSampledLambdaRankGradientAndValue() {
        let targets = [0, 4, 2]
        let uniform = [0, 1, 3, 5, 6, 7] // column 0 is row 0's positive: left out of its negatives
        for corrected in [true, false] {
            GradCheck().check("lambdarank corrected=\(corrected)", inputs: [gridScores(rows: 3, columns: 8, seed: 51)]) { v in
                sampledLambdaRankLoss(v[0], targets: targets, uniform: uniform, catalog: 300, corrected: corrected)
            }
        }
        // One row by the formula.
        let x = Tensor(shape: [1, 3], values: [0.0, 1.0, -1.0]) // positive 0, negatives 1 and 2
        let catalog = 21, scale = 20.0 / 2
        let rt = 1 + scale * 1, r1 = 1.0, r2 = 1 + scale * 1 + 1
        func gain(_ r: Double) -> Double { 1 / log2(1 + r) }
        let expected = scale * (abs(gain(rt) - gain(r1)) * Foundation.log1p(Foundation.exp(1.0))
            + abs(gain(rt) - gain(r2)) * Foundation.log1p(Foundation.exp(-1.0)))
        let loss = sampledLambdaRankLoss(Variable(x), targets: [0], uniform: [1, 2], catalog: catalog).value.item
        XCTAssertEqual(Double(loss), expected, accuracy: 1e-4 * expected)
    }

    /// The corrected estimate 1 + c·(N−1)/m is unbiased for the true rank when m negatives are
    /// drawn uniformly without replacement from the N−1 other items; the rank inside the sample
    /// (1 + c) is not. Synthetic catalog: N = 1,000 items with distinct scores, the positive at
    /// known ranks 1, 7, 120 and 800; 4,000 draws each; the tolerance is 4 standard errors.
    func testCorrectedRankEstimateIsUnbiased() {
        let n = 1000, m = 50, draws = 4000
        var g = SeededGenerator(seed: 61)
        for trueRank in [1, 7, 120, 800] {
            // Item scores: n − 1 negatives; exactly trueRank − 1 of them above the positive's 0.
            let negatives = (0 ..< n - 1).map { i in i < trueRank - 1 ? Float(1 + i) : -Float(1 + i) }
            var sum = 0.0, sumSquares = 0.0, naive = 0.0
            for _ in 0 ..< draws {
                var pool = Array(0 ..< n - 1)
                var violations = 0
                for k in 0 ..< m {
                    let j = Int.random(in: k ..< pool.count, using: &g)
                    pool.swapAt(k, j)
                    if negatives[pool[k]] > 0 { violations += 1 }
                }
                let r = SampledRank.corrected(violations: violations, sampled: m, catalog: n)
                sum += r
                sumSquares += r * r
                naive += Double(1 + violations)
            }
            let mean = sum / Double(draws)
            let sd = (sumSquares / Double(draws) - mean * mean).squareRoot()
            XCTAssertEqual(mean, Double(trueRank), accuracy: max(4 * sd / Double(draws).squareRoot(), 1e-9), "true rank \(trueRank)")
            if trueRank > 7 {
                XCTAssertLessThan(naive / Double(draws), Double(trueRank) / 4, "the uncorrected in-sample rank is biased low")
            }
        }
    }

    func testWarpWeightIsTheHarmonicNumber() {
        for r in [1, 2, 5, 10, 100, 1000] {
            let h = (1 ... r).reduce(0.0) { $0 + 1 / Double($1) }
            XCTAssertEqual(SampledRank.warpWeight(Double(r)), h, accuracy: 0.01 * h)
        }
    }
}
