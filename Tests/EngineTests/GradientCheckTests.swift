import Autograd
import Support
import TensorCore
import TestSupport
import XCTest

final class GradientCheckTests: XCTestCase {
    let gc = GradCheck()

    func testLinear() {
        for rows in [1, 5] {
            gc.check("linear+bias rows=\(rows)", inputs: [randn([rows, 6], 1), randn([4, 6], 2), randn([4], 3)]) {
                linear($0[0], weight: $0[1], bias: $0[2])
            }
        }
        gc.check("linear 3-D no bias", inputs: [randn([2, 3, 5], 4), randn([1, 5], 5)]) { linear($0[0], weight: $0[1]) }
    }

    func testMatmulAllForms() {
        for ta in [false, true] {
            for tb in [false, true] {
                let a = ta ? randn([3, 4, 2], 10) : randn([3, 2, 4], 10) // op(a): [3, 2, 4]
                let b = tb ? randn([3, 5, 4], 11) : randn([3, 4, 5], 11) // op(b): [3, 4, 5]
                gc.check("batched matmul ta=\(ta) tb=\(tb)", inputs: [a, b]) { matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
                let shared = tb ? randn([5, 4], 12) : randn([4, 5], 12)
                gc.check("shared-b matmul ta=\(ta) tb=\(tb)", inputs: [a, shared]) {
                    matmul($0[0], $0[1], transposeA: ta, transposeB: tb)
                }
            }
        }
        // One-row product (sgemv path) and attention shape [B·H, q, d] × [B·H, k, d]ᵀ.
        gc.check("matmul one row", inputs: [randn([1, 7], 13), randn([7, 3], 14)]) { matmul($0[0], $0[1]) }
        gc.check("attention scores", inputs: [randn([4, 3, 8], 15), randn([4, 6, 8], 16)]) {
            matmul($0[0], $0[1], transposeB: true)
        }
        // Co-training bridge: probs [N, vocab] × embedding table [vocab, d].
        gc.check("probs × table", inputs: [randn([3, 10], 17), randn([10, 4], 18)]) { matmul(softmax($0[0]), $0[1]) }
    }

    func testBroadcastArithmetic() {
        gc.check("add same", inputs: [randn([3, 4], 1), randn([3, 4], 2)]) { $0[0] + $0[1] }
        gc.check("add row bias", inputs: [randn([3, 4], 1), randn([4], 2)]) { $0[0] + $0[1] }
        gc.check("add position bias", inputs: [randn([2, 3, 4, 5], 1), randn([1, 3, 4, 5], 2)]) { $0[0] + $0[1] }
        gc.check("add mask-shaped", inputs: [randn([2, 3, 4, 5], 1), randn([2, 1, 1, 5], 2)]) { $0[0] + $0[1] }
        gc.check("sub both broadcast", inputs: [randn([3, 1], 1), randn([1, 4], 2)]) { $0[0] - $0[1] }
        gc.check("mul row", inputs: [randn([2, 3, 4], 1), randn([4], 2)]) { $0[0] * $0[1] }
        gc.check("mul column", inputs: [randn([2, 3, 4], 1), randn([2, 3, 1], 2)]) { $0[0] * $0[1] }
        gc.check("scale", inputs: [randn([2, 3], 1)]) { $0[0] * 0.37 }
    }

    func testReusedInputs() {
        // x used three times: x·x + x must give 2x + 1 times the upstream gradient.
        gc.check("x*x + x", inputs: [randn([3, 4], 3)]) { $0[0] * $0[0] + $0[0] }
        gc.check("linear(x, x)", inputs: [randn([4, 4], 4)]) { linear($0[0], weight: $0[0]) }
        gc.check("matmul(x, x^T)", inputs: [randn([3, 5], 5)]) { matmul($0[0], $0[0], transposeB: true) }
        gc.check("concat(x, x)", inputs: [randn([2, 3], 6)]) { concat([$0[0], $0[0]], axis: 1) }
    }

    func testLayoutOps() {
        gc.check("reshape", inputs: [randn([2, 6], 1)]) { reshape($0[0], [3, -1]) * $0[0].reshaped([3, 4]) }
        gc.check("split heads", inputs: [randn([2, 3, 4, 5], 1)]) { permute($0[0], [0, 2, 1, 3]) }
        gc.check("permute 3-D", inputs: [randn([2, 3, 4], 1)]) { permute($0[0], [2, 0, 1]) }
        gc.check("transpose last", inputs: [randn([2, 3, 4], 1)]) { transpose($0[0], 1, 2) }
        gc.check("concat axis 0", inputs: [randn([1, 3], 1), randn([2, 3], 2)]) { concat([$0[0], $0[1]], axis: 0) }
        gc.check("concat axis -1", inputs: [randn([2, 1, 2], 1), randn([2, 1, 3], 2)]) { concat([$0[0], $0[1]], axis: -1) }
        gc.check("slice middle", inputs: [randn([2, 5, 3], 1)]) { slice($0[0], axis: 1, range: 1 ..< 4) }
        gc.check("slice last", inputs: [randn([2, 5], 1)]) { slice($0[0], axis: -1, range: 4 ..< 5) }
    }

    func testNormsAndActivations() {
        for rows in [1, 4] {
            gc.check("rmsNorm rows=\(rows)", inputs: [randn([rows, 7], 1), randn([7], 2)]) { rmsNorm($0[0], weight: $0[1], eps: 1e-6) }
            gc.check("layerNorm rows=\(rows)", inputs: [randn([rows, 7], 1), randn([7], 2), randn([7], 3)]) {
                layerNorm($0[0], weight: $0[1], bias: $0[2], eps: 1e-5)
            }
        }
        gc.check("rmsNorm wide", inputs: [randn([3, 40], 4), randn([40], 5)]) { rmsNorm($0[0], weight: $0[1], eps: 1e-6) }
        gc.check("relu", inputs: [awayFromZero([3, 37], 1)]) { relu($0[0]) }
        gc.check("gelu", inputs: [randn([3, 37], 1, std: 2)]) { gelu($0[0]) }
        gc.check("gated gelu", inputs: [randn([2, 20], 1), randn([2, 20], 2)]) { gelu($0[0]) * $0[1] }
    }

    func testSoftmaxFamily() {
        gc.check("softmax", inputs: [randn([3, 21], 1)]) { softmax($0[0]) }
        gc.check("softmax one column", inputs: [randn([3, 1], 1)]) { softmax($0[0]) }
        var mask = Tensor(zeros: [2, 1, 1, 5])
        mask[0, 0, 0, 4] = -1e9
        mask[1, 0, 0, 0] = -Float.infinity
        gc.check("softmax with mask", inputs: [randn([2, 3, 4, 5], 2)]) { softmax($0[0], mask: mask) }
        let bias = randn([1, 3, 4, 5], 3)
        gc.check("scores + position bias → softmax", inputs: [randn([2, 3, 4, 5], 4), bias]) {
            softmax($0[0] + $0[1], mask: mask)
        }
        gc.check("logSoftmax", inputs: [randn([3, 19], 5)]) { logSoftmax($0[0]) }
        _ = mask
    }

    func testCrossEntropy() {
        let targets = IntTensor(shape: [5], values: [3, -100, 0, 6, 3] as [Int32])
        gc.check("cross-entropy", inputs: [randn([5, 7], 1)]) { crossEntropy($0[0], targets: targets) }
        gc.check("cross-entropy smoothed", inputs: [randn([5, 7], 2)]) { crossEntropy($0[0], targets: targets, labelSmoothing: 0.1) }
        gc.check("cross-entropy one row", inputs: [randn([1, 1, 4], 3)]) {
            crossEntropy($0[0], targets: IntTensor(shape: [1], values: [2] as [Int32]))
        }
    }

    func testCrossEntropyValues() {
        // Hand-computed: logits [0, ln 2] → p = [1/3, 2/3]; target 1 → −ln(2/3).
        let l = Variable(Tensor(shape: [2, 2], values: [0, logf(2), 5, 5]))
        let loss = crossEntropy(l, targets: IntTensor(shape: [2], values: [1, -100] as [Int32]))
        XCTAssertEqual(loss.value.item, -logf(2.0 / 3.0), accuracy: 1e-6)
        // Smoothing 0.2 over 2 classes: 0.8·(−ln p1) + 0.2·mean(−ln p).
        let s = crossEntropy(l, targets: IntTensor(shape: [2], values: [1, -100] as [Int32]), labelSmoothing: 0.2)
        let expected = 0.8 * -logf(2.0 / 3.0) + 0.2 * (-logf(1.0 / 3.0) - logf(2.0 / 3.0)) / 2
        XCTAssertEqual(s.value.item, expected, accuracy: 1e-6)
        let none = crossEntropy(l, targets: IntTensor(shape: [2], values: [-100, -100] as [Int32]))
        XCTAssertEqual(none.value.item, 0)
    }

    func testEmbeddingDropoutReductions() {
        let ids = IntTensor(shape: [2, 3], values: [1, 4, 1, 0, 4, 4] as [Int32]) // repeats accumulate
        gc.check("embedding", inputs: [randn([5, 3], 1)]) { embedding($0[0], indices: ids) }
        gc.check("dropout", inputs: [randn([4, 9], 2)]) {
            var g = SeededGenerator(seed: 99)
            return dropout($0[0], p: 0.3, generator: &g)
        }
        gc.check("sum", inputs: [randn([3, 4], 3)]) { sum($0[0]) }
        gc.check("mean", inputs: [randn([3, 4], 4)]) { mean($0[0]) }
        gc.check("sumLastAxis", inputs: [randn([3, 4], 5), randn([3, 4], 6)]) { sumLastAxis($0[0] * $0[1]) }
    }

    /// A small transformer-like composition (every op chained, reused residual).
    func testComposite() {
        gc.check("mini block", inputs: [randn([2, 3, 8], 1), randn([24, 8], 2, std: 0.3), randn([8], 3)]) { v in
            let x = v[0]
            let h = rmsNorm(x, weight: v[2], eps: 1e-6)
            let qkv = linear(h, weight: v[1]) // [2, 3, 24]
            let q = permute(reshape(slice(qkv, axis: 2, range: 0 ..< 8), [2, 3, 2, 4]), [0, 2, 1, 3]).reshaped([4, 3, 4])
            let k = permute(reshape(slice(qkv, axis: 2, range: 8 ..< 16), [2, 3, 2, 4]), [0, 2, 1, 3]).reshaped([4, 3, 4])
            let vv = permute(reshape(slice(qkv, axis: 2, range: 16 ..< 24), [2, 3, 2, 4]), [0, 2, 1, 3]).reshaped([4, 3, 4])
            let a = softmax(matmul(q, k, transposeB: true))
            let o = permute(matmul(a, vv).reshaped([2, 2, 3, 4]), [0, 2, 1, 3]).reshaped([2, 3, 8])
            return x + o
        }
    }
}

final class AutogradBehaviourTests: XCTestCase {
    func testGradientsAccumulateUntilZeroed() {
        let x = Variable.parameter(Tensor(shape: [2], values: [1, 2]))
        sum(x * x).backward()
        XCTAssertEqual(x.grad!.scalars, [2, 4])
        sum(x * x).backward()
        XCTAssertEqual(x.grad!.scalars, [4, 8])
        x.zeroGrad()
        XCTAssertNil(x.grad)
        sum(x * 3).backward()
        XCTAssertEqual(x.grad!.scalars, [3, 3])
    }

    func testNoGradRecordsNothing() {
        let x = Variable.parameter(Tensor(shape: [2], values: [1, 2]))
        let y = GradMode.withoutGradients { sum(x * x) }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(y.isLeaf)
        XCTAssertTrue(GradMode.isEnabled)
        // Constants do not require gradients either.
        let c = Variable(Tensor(shape: [2], values: [1, 2]))
        XCTAssertFalse((c * c).requiresGrad)
    }

    func testDeepChainIsIterative() {
        // 20k-node chain: a recursive backward would overflow the stack.
        let x = Variable.parameter(Tensor(shape: [1], values: [1]))
        var y = x
        for _ in 0 ..< 20000 { y = y * 1.0 }
        sum(y).backward()
        XCTAssertEqual(x.grad!.item, 1)
    }

    func testOpsMatchAutogradForward() {
        let x = randn([3, 5], 1), w = randn([4, 5], 2), b = randn([4], 3)
        let a = linear(Variable(x), weight: Variable(w), bias: Variable(b)).value.scalars
        let p = Ops.linear(x, weight: w, bias: b).scalars
        XCTAssertEqual(a, p)
        // Naive reference for linear.
        for r in 0 ..< 3 {
            for o in 0 ..< 4 {
                var s = b[o]
                for i in 0 ..< 5 { s += x[r, i] * w[o, i] }
                XCTAssertEqual(p[r * 4 + o], s, accuracy: 1e-5)
            }
        }
    }
}
