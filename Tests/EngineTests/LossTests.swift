import Autograd
import Foundation
import Support
import TensorCore
import TestSupport
import XCTest

/// `binaryCrossEntropyWithLogits`: gradient check and values against the closed form.
final class BinaryCrossEntropyTests: XCTestCase {
    func testGradient() {
        var g = SeededGenerator(seed: 3)
        let targets = Tensor(shape: [5, 7], values: (0 ..< 35).map { _ in g.nextFloat() < 0.5 ? 0 : 1 })
        // Logits over a wide range (−6…6) to exercise both branches of the stable form.
        GradCheck().check("bce", inputs: [randn([5, 7], 11, std: 3)]) { v in
            binaryCrossEntropyWithLogits(v[0], targets: targets)
        }
        // Soft targets and a reused input (gradients add).
        let soft = Tensor(shape: [4], values: [0.1, 0.9, 0.5, 0.0])
        GradCheck().check("bce soft, reused", inputs: [randn([4], 12)]) { v in
            binaryCrossEntropyWithLogits(v[0], targets: soft) + binaryCrossEntropyWithLogits(v[0] * 2, targets: soft)
        }
    }

    func testValuesMatchClosedFormIncludingExtremes() {
        let x: [Float] = [-100, -3, -0.5, 0, 0.5, 3, 100]
        let y: [Float] = [0, 1, 0, 1, 1, 0, 1]
        let loss = binaryCrossEntropyWithLogits(Variable(Tensor(shape: [7], values: x)), targets: Tensor(shape: [7], values: y))
        var expected = 0.0
        for (a, b) in zip(x, y) {
            let xa = Double(a), p = 1 / (1 + Foundation.exp(-xa))
            // Direct formula in Double; for |x| = 100 use the asymptotes.
            let term = b == 1 ? (xa < -30 ? -xa : -Foundation.log(p)) : (xa > 30 ? xa : -Foundation.log(1 - p))
            expected += term
        }
        expected /= 7
        XCTAssertEqual(Double(loss.value.item), expected, accuracy: 1e-5 * max(1, expected))
        XCTAssert(loss.value.item.isFinite)
    }

    func testEmptyInputIsZero() {
        let loss = binaryCrossEntropyWithLogits(Variable.parameter(Tensor(zeros: [0])), targets: Tensor(zeros: [0]))
        XCTAssertEqual(loss.value.item, 0)
    }
}
