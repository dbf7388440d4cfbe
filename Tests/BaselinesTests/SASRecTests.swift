import Autograd
import Baselines
import Corpora
import Foundation
import Optim
import Support
import TensorCore
import XCTest

/// A small model for the tests (dropout off unless asked).
func tinyModel(items: Int = 12, d: Int = 16, blocks: Int = 2, heads: Int = 2, maxLength: Int = 8, dropout: Float = 0,
               std: Float = 0.02, seed: UInt64 = 1) throws -> SASRec {
    var c = SASRecConfig(itemCount: items)
    c.hiddenSize = d
    c.blocks = blocks
    c.heads = heads
    c.innerSize = 2 * d
    c.hiddenDropout = dropout
    c.attentionDropout = dropout
    c.maxLength = maxLength
    c.initializerRange = std
    var g = SeededGenerator(seed: seed)
    return try SASRec(config: c, generator: &g)
}

func maxAbsDiff(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var m: Float = 0
    for i in 0 ..< n { m = max(m, abs(a[i] - b[i])) }
    return m
}

final class SASRecModelTests: XCTestCase {
    func testShapes() throws {
        let model = try tinyModel()
        let batch = SequenceBatch(windows: [[0, 1, 2], [3], [4, 5, 6, 7, 8]])
        XCTAssertEqual(batch.tokens.shape, [3, 5])
        XCTAssertEqual(model.encode(batch).shape, [3, 5, 16])
        XCTAssertEqual(model.scores(batch).shape, [3, 12])
        XCTAssertEqual(model.scores(histories: [[1, 2], [3, 4, 5]]).shape, [2, 12])
        var g = SeededGenerator(seed: 0)
        let targets = [[1, 2, 3], [4], [5, 6, 7, 8, 9]]
        let ce = model.loss(batch, targets: targets, kind: .ce, generator: &g)
        XCTAssertEqual(ce.shape, [])
        // Untrained with std 0.02 the softmax is almost uniform: CE ≈ log N.
        XCTAssertEqual(ce.value.item, logf(12), accuracy: 0.05)
        let negatives = targets.map { $0.map { ($0 + 3) % 12 } }
        let bce = model.loss(batch, targets: targets, negatives: negatives, kind: .bce, generator: &g)
        XCTAssertEqual(bce.value.item, 2 * logf(2), accuracy: 0.05)
        // 2 + 2·(4 linear weights + 4 biases + 2 FFN weights + 2 FFN biases + 2 norms × 2) = …
        XCTAssertEqual(model.namedParameters().count, 2 + 2 + 2 * 16)
    }

    func testHistoriesAreTruncatedToMaxLength() throws {
        let model = try tinyModel(maxLength: 4)
        let long = model.scores(histories: [[0, 1, 2, 3, 4, 5, 6]])
        let tail = model.scores(histories: [[3, 4, 5, 6]])
        XCTAssertEqual(long.scalars, tail.scalars)
    }

    /// Changing items after position p never changes the output at positions ≤ p.
    func testCausalMasking() throws {
        let model = try tinyModel()
        let a = model.encode(SequenceBatch(windows: [[0, 1, 2, 3, 4, 5]]))
        let b = model.encode(SequenceBatch(windows: [[0, 1, 2, 9, 10, 11]]))
        let d = 16
        XCTAssertLessThan(maxAbsDiff(a.pointer, b.pointer, 3 * d), 1e-6, "positions 0-2 saw the future")
        XCTAssertGreaterThan(maxAbsDiff(a.pointer + 3 * d, b.pointer + 3 * d, 3 * d), 1e-4, "later positions should change")
    }

    /// A window's outputs do not depend on how much padding its batch adds.
    func testPaddingInvariance() throws {
        let model = try tinyModel()
        let w = [2, 7, 1]
        let alone = model.encode(SequenceBatch(windows: [w]))
        let padded = model.encode(SequenceBatch(windows: [[5, 5, 5, 5, 5, 5, 5, 5], w]))
        XCTAssertEqual(padded.shape, [2, 8, 16])
        XCTAssertLessThan(maxAbsDiff(alone.pointer, padded.pointer + 8 * 16, 3 * 16), 1e-5)
        let s1 = model.scores(histories: [w]), s2 = model.scores(histories: [[5, 5, 5, 5, 5, 5, 5, 5], w])
        XCTAssertLessThan(maxAbsDiff(s1.pointer, s2.pointer + 12, 12), 1e-5)
    }

    /// Finite differences of the whole model's loss (CE and BCE) against backward, for a
    /// sample of elements of every parameter. Dropout off; a larger init so gradients are not tiny.
    func testModelGradientsMatchFiniteDifferences() throws {
        for kind in SASRecLoss.allCases {
            let model = try tinyModel(items: 9, d: 8, blocks: 1, heads: 2, maxLength: 6, std: 0.5, seed: 5)
            let batch = SequenceBatch(windows: [[0, 3, 5, 1], [2, 8], [7, 6, 4]])
            let targets = [[3, 5, 1, 2], [8, 0], [6, 4, 4]]
            let negatives = [[7, 7, 0, 6], [1, 1], [3, 2, 0]]
            var g = SeededGenerator(seed: 0)
            func loss() -> Variable { model.loss(batch, targets: targets, negatives: negatives, kind: kind, generator: &g) }
            for p in model.parameters { p.zeroGrad() }
            loss().backward()
            var checked = 0
            for (name, p) in model.namedParameters() {
                let grad = try XCTUnwrap(p.grad, "\(kind) \(name): no gradient").copy()
                let x = p.value
                let stride = max(1, x.count / 6)
                for i in Swift.stride(from: 0, to: x.count, by: stride) {
                    let saved = x.pointer[i]
                    let h: Float = 1e-2
                    x.pointer[i] = saved + h
                    let lp = GradMode.withoutGradients { Double(loss().value.item) }
                    x.pointer[i] = saved - h
                    let lm = GradMode.withoutGradients { Double(loss().value.item) }
                    x.pointer[i] = saved
                    let numeric = (lp - lm) / Double(2 * h), analytic = Double(grad.pointer[i])
                    XCTAssertLessThanOrEqual(abs(numeric - analytic), 2e-3 + 3e-2 * max(abs(numeric), abs(analytic)),
                                             "\(kind) \(name)[\(i)]: analytic \(analytic), numeric \(numeric)")
                    checked += 1
                }
            }
            XCTAssertGreaterThan(checked, 100)
        }
    }
}
