import TensorCore

// Losses beyond `crossEntropy` (Functions.swift). Added for the SASRec baseline (BCE with one
// sampled negative, Kang & McAuley 2018); kept in their own file so engine edits stay additive.

/// Mean binary cross-entropy with logits (PyTorch `binary_cross_entropy_with_logits`, mean
/// reduction): loss = mean_i [max(x_i, 0) − x_i·y_i + log(1 + exp(−|x_i|))], the numerically
/// stable form of −y·log σ(x) − (1−y)·log(1 − σ(x)). `targets` has the logits' element count
/// (any values in [0, 1]). Gradient: (σ(x) − y) / count. 0 for an empty input.
public func binaryCrossEntropyWithLogits(_ logits: Variable, targets: Tensor) -> Variable {
    let n = logits.value.count
    precondition(targets.count == n, "binaryCrossEntropyWithLogits: \(n) logits, \(targets.count) targets")
    let x = logits.value.pointer, y = targets.pointer
    var total: Double = 0
    for i in 0 ..< n {
        let v = x[i]
        total += Double(max(v, 0) - v * y[i] + log1pf(sexp(-abs(v))))
    }
    let loss = Tensor(scalar: n == 0 ? 0 : Float(total / Double(n)))
    let xv = logits.value
    return record(loss, [logits]) { g in
        let s = n == 0 ? 0 : g.pointer[0] / Float(n)
        logits.withGradBuffer { dx, acc in
            let d = dx.pointer, x = xv.pointer, y = targets.pointer
            for i in 0 ..< n {
                // σ(x) computed from exp(−|x|) so it never overflows.
                let e = sexp(-abs(x[i]))
                let sigmoid = x[i] >= 0 ? 1 / (1 + e) : e / (1 + e)
                let v = (sigmoid - y[i]) * s
                if acc { d[i] += v } else { d[i] = v }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
