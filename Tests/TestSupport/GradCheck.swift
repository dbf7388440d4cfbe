// Helpers shared by the test targets (a regular target that only test targets depend on):
// the finite-difference gradient check and seeded random tensors.
import Autograd
import Support
import TensorCore
import XCTest

/// Finite-difference gradient check.
///
/// The engine computes in Float, so the check cannot run the op itself in Double; instead the
/// scalar loss L = Σ out ⊙ dOut (random dOut) is accumulated in Double and the numerical
/// gradient is the central difference (L(x+h) − L(x−h)) / 2h with h = 1e-2. Error budget: the
/// truncation error is O(h²·f''') ≈ 1e-4 for these smooth ops, and Float rounding of each output
/// (≈6e-8 relative) divided by 2h contributes ≈ 3e-6·√N·|out|. Tolerance: |a − n| ≤ 3e-3 +
/// 2e-2·max(|a|, |n|). Kinks (ReLU at 0) are avoided by the input distributions.
public struct GradCheck {
    public var h: Float = 1e-2
    public var atol: Double = 3e-3
    public var rtol: Double = 2e-2
    /// At most this many elements per input are perturbed (chosen evenly), to keep tests fast.
    public var maxElements = 64

    public init(h: Float = 1e-2, atol: Double = 3e-3, rtol: Double = 2e-2, maxElements: Int = 64) {
        self.h = h
        self.atol = atol
        self.rtol = rtol
        self.maxElements = maxElements
    }

    public func check(_ name: String, inputs: [Tensor], seed: UInt64 = 7, file: StaticString = #filePath, line: UInt = #line,
               _ f: ([Variable]) -> Variable) {
        let leaves = inputs.map { Variable.parameter($0) }
        let out = f(leaves)
        var gen = SeededGenerator(seed: seed)
        let dOut = Tensor.normal(shape: out.shape, std: 1, generator: &gen)
        out.backward(gradient: dOut)
        func loss() -> Double {
            GradMode.withoutGradients {
                let o = f(inputs.map { Variable($0) })
                var s: Double = 0
                for i in 0 ..< o.value.count { s += Double(o.value.pointer[i]) * Double(dOut.pointer[i]) }
                return s
            }
        }
        for (k, x) in inputs.enumerated() {
            guard let g = leaves[k].grad else {
                XCTFail("\(name): input \(k) got no gradient", file: file, line: line); continue
            }
            XCTAssertEqual(g.shape, x.shape, "\(name): gradient shape of input \(k)", file: file, line: line)
            let stride = max(1, x.count / maxElements)
            var worst = 0.0
            for i in Swift.stride(from: 0, to: x.count, by: stride) {
                let saved = x.pointer[i]
                x.pointer[i] = saved + h
                let lp = loss()
                x.pointer[i] = saved - h
                let lm = loss()
                x.pointer[i] = saved
                let numeric = (lp - lm) / Double(2 * h)
                let analytic = Double(g.pointer[i])
                let err = abs(numeric - analytic)
                worst = max(worst, err / (atol + rtol * max(abs(numeric), abs(analytic))))
                if err > atol + rtol * max(abs(numeric), abs(analytic)) {
                    XCTFail("\(name): input \(k) element \(i): analytic \(analytic), numeric \(numeric)", file: file, line: line)
                    return
                }
            }
        }
    }
}

public func randn(_ shape: [Int], _ seed: UInt64, std: Float = 1) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor.normal(shape: shape, std: std, generator: &g)
}

/// Values bounded away from 0 (for ReLU's kink): |x| ∈ [0.1, 1.1].
public func awayFromZero(_ shape: [Int], _ seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    let t = Tensor(uninitialized: shape)
    for i in 0 ..< t.count {
        let mag = 0.1 + g.nextFloat()
        t.pointer[i] = g.nextFloat() < 0.5 ? -mag : mag
    }
    return t
}
