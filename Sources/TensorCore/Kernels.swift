// SIMD element-wise kernels on raw pointers. ENGINE-NOTES.md: several standard-library SIMD
// helpers (`.sum()`, `.max()`, `pointwiseMax`) run lane by lane, so reductions here use
// `replace(with:where:)` and halving (`lowHalf + highHalf`); scalar reductions never
// vectorise, so they use explicit SIMD16 accumulators.

public typealias V16 = SIMD16<Float>

// @inlinable: modules outside TensorCore (TextEncoder) call these inside their own loops;
// without it each call is a real call (vexp was 3.3% of an encoder profile as a function).
@inlinable @inline(__always) public func load16(_ p: UnsafePointer<Float>) -> V16 {
    UnsafeRawPointer(p).loadUnaligned(as: V16.self)
}

@inlinable @inline(__always) public func store16(_ v: V16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V16.self)
}

/// The first `count` (< 16) values at `p`, the other lanes `fill` (a byte copy: lane-by-lane
/// inserts are slow in Swift).
@inlinable @inline(__always) public func loadPartial16(_ p: UnsafePointer<Float>, _ count: Int, fill: Float) -> V16 {
    var v = V16(repeating: fill)
    withUnsafeMutableBytes(of: &v) { $0.baseAddress!.copyMemory(from: p, byteCount: count * 4) }
    return v
}

/// Stores the first `count` (< 16) lanes of `v` at `p`.
@inlinable @inline(__always) public func storePartial16(_ v: V16, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    withUnsafeBytes(of: v) { UnsafeMutableRawPointer(p).copyMemory(from: $0.baseAddress!, byteCount: count * 4) }
}

private let laneIndex = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

/// Exponentials of the `count` (< 16) values at `x` minus `shift`, written to `y` when given
/// (may alias): one vector exponential for a row's tail instead of one per element (unused
/// lanes are zeroed). Returns their sum.
@inline(__always) func expTail(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>?, _ count: Int, shift: Float) -> Float {
    guard count > 0 else { return 0 }
    var e = vexp(loadPartial16(x, count, fill: shift) - V16(repeating: shift))
    e.replace(with: 0, where: laneIndex .>= SIMD16<Int32>(repeating: Int32(count)))
    if let y { storePartial16(e, y, count) }
    return hsum(e)
}

@inlinable @inline(__always) public func hsum(_ v: V16) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

@inline(__always) public func hmax(_ v: V16) -> Float {
    var a = v.lowHalf
    let a2 = v.highHalf
    a.replace(with: a2, where: a2 .> a)
    var b = a.lowHalf
    let b2 = a.highHalf
    b.replace(with: b2, where: b2 .> b)
    var c = b.lowHalf
    let c2 = b.highHalf
    c.replace(with: c2, where: c2 .> c)
    return c[0] > c[1] ? c[0] : c[1]
}

/// Vectorised exp (Cephes polynomial, range reduction by ln 2; relative error ≈ 2e-7).
/// Inputs are clamped to [-87.3, 88]: below, the result is ≈1e-38 instead of 0, which is
/// harmless after softmax normalisation.
@inlinable @inline(__always) public func vexp(_ input: V16) -> V16 {
    var x = input
    x.replace(with: 88.0, where: x .> 88.0)
    x.replace(with: -87.33, where: x .< -87.33)
    let magic: Float = 12_582_912 // 1.5 · 2^23: adding it rounds to an integer in the mantissa.
    let t = x * 1.442_695_04 + magic
    let n = t - magic
    var r = x - n * 0.693_359_375
    r = r + n * 2.121_944_40e-4
    var p = V16(repeating: 1.987_569_150_0e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let y = p * (r * r) + r + 1
    let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((ni &+ 127) &<< 23, to: V16.self)
    return y * scale
}

@inline(__always) public func sexp(_ x: Float) -> Float { vexp(V16(repeating: x))[0] }

/// Fast elementwise kernels over `n` contiguous Floats.
public enum Kernels {
    // MARK: softmax

    /// Softmax of one row of length `n` from `x` into `y` (may alias). Not inlined: inlined into
    /// attention, the compiler outlined `vexp` there (a call per 16 lanes); standalone, `vexp`
    /// stays inline (the encoder softmax went from 15.5% to 12.8% of a one-thread ranking profile).
    @inline(never)
    public static func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var mx = maximum(x, n)
        if mx == -Float.infinity { mx = 0 } // fully masked row: uniform over -inf → keep finite
        let mv = V16(repeating: mx)
        var s16 = V16()
        var j = 0
        while j + 16 <= n {
            let e = vexp(load16(x + j) - mv)
            store16(e, y + j)
            s16 += e
            j += 16
        }
        let s = hsum(s16) + expTail(x + j, y + j, n - j, shift: mx)
        let inv = 1 / s
        let iv = V16(repeating: inv)
        j = 0
        while j + 16 <= n { store16(load16(y + j) * iv, y + j); j += 16 }
        while j < n { y[j] *= inv; j += 1 }
    }

    /// Largest of `n` values (-inf for none).
    @inline(__always)
    public static func maximum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var j = 0
        var m16 = V16(repeating: -Float.infinity)
        while j + 16 <= n {
            let v = load16(x + j)
            m16.replace(with: v, where: v .> m16)
            j += 16
        }
        var mx = hmax(m16)
        while j < n { if x[j] > mx { mx = x[j] }; j += 1 }
        return mx
    }

    /// Σ exp(x[j] - shift) over `n` values.
    @inline(__always)
    public static func sumOfExponentials(_ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
        let mv = V16(repeating: shift)
        var s16 = V16()
        var j = 0
        while j + 16 <= n { s16 += vexp(load16(x + j) - mv); j += 16 }
        return hsum(s16) + expTail(x + j, nil, n - j, shift: shift)
    }

    /// log-softmax of one row; returns log-sum-exp.
    @inline(__always) @discardableResult
    public static func logSoftmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        let mx = maximum(x, n)
        let lse = mx + logf(sumOfExponentials(x, n, shift: mx))
        let lv = V16(repeating: lse)
        var j = 0
        while j + 16 <= n { store16(load16(x + j) - lv, y + j); j += 16 }
        while j < n { y[j] = x[j] - lse; j += 1 }
        return lse
    }

    /// Softmax backward for one row: dx = y ⊙ (dy − Σ dy·y); adds into dx when `accumulate`.
    @inline(__always)
    public static func softmaxBackwardRow(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                          _ dx: UnsafeMutablePointer<Float>, _ n: Int, accumulate: Bool) {
        var j = 0
        var d16 = V16()
        while j + 16 <= n { d16 += load16(y + j) * load16(dy + j); j += 16 }
        var dot = hsum(d16)
        while j < n { dot += y[j] * dy[j]; j += 1 }
        let dv = V16(repeating: dot)
        j = 0
        if accumulate {
            while j + 16 <= n { store16(load16(dx + j) + load16(y + j) * (load16(dy + j) - dv), dx + j); j += 16 }
            while j < n { dx[j] += y[j] * (dy[j] - dot); j += 1 }
        } else {
            while j + 16 <= n { store16(load16(y + j) * (load16(dy + j) - dv), dx + j); j += 16 }
            while j < n { dx[j] = y[j] * (dy[j] - dot); j += 1 }
        }
    }

    // MARK: norms

    /// Sum of squares of a row (SIMD accumulators).
    @inline(__always)
    public static func sumSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var j = 0
        var a = V16(), b = V16()
        while j + 32 <= n {
            let u = load16(x + j), v = load16(x + j + 16)
            a = a.addingProduct(u, u)
            b = b.addingProduct(v, v)
            j += 32
        }
        while j + 16 <= n { let u = load16(x + j); a = a.addingProduct(u, u); j += 16 }
        var s = hsum(a + b)
        while j < n { s += x[j] * x[j]; j += 1 }
        return s
    }

    @inline(__always)
    public static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var j = 0
        var a = V16()
        while j + 16 <= n { a += load16(x + j); j += 16 }
        var s = hsum(a)
        while j < n { s += x[j]; j += 1 }
        return s
    }

    @inline(__always)
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        var j = 0
        var a = V16()
        while j + 16 <= n { a = a.addingProduct(load16(x + j), load16(y + j)); j += 16 }
        var s = hsum(a)
        while j < n { s += x[j] * y[j]; j += 1 }
        return s
    }

    /// T5 RMS norm of `rows` rows of width `n`: y = x · rsqrt(mean(x²) + eps) · w. Writes the
    /// per-row rsqrt into `rstd` when given (the backward needs it).
    public static func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                               rstd: UnsafeMutablePointer<Float>?, rows: Int, n: Int, eps: Float) {
        Parallel.split(rows, costPerItem: n) { range in
            for r in range {
                let xr = x + r * n, yr = y + r * n
                let s = 1 / (sumSquares(xr, n) / Float(n) + eps).squareRoot()
                rstd?[r] = s
                let sv = V16(repeating: s)
                var j = 0
                while j + 16 <= n { store16(load16(xr + j) * sv * load16(w + j), yr + j); j += 16 }
                while j < n { yr[j] = xr[j] * s * w[j]; j += 1 }
            }
        }
    }

    /// RMS norm backward. With x̂ = x·r and g = dy ⊙ w: dx = r · (g − x̂ · mean(g ⊙ x̂)),
    /// dw += Σ_rows dy ⊙ x̂. `dx`/`dw` may be nil when not needed.
    public static func rmsNormBackward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>,
                                       _ dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, accumulateDx: Bool,
                                       dw: UnsafeMutablePointer<Float>?, accumulateDw: Bool, rows: Int, n: Int) {
        if let dx {
            Parallel.split(rows, costPerItem: 2 * n) { range in
                for r in range {
                    let xr = x + r * n, dyr = dy + r * n, dxr = dx + r * n
                    let s = rstd[r]
                    // mean(g ⊙ x̂) = s · Σ(dy w x) / n
                    var j = 0
                    var a = V16()
                    while j + 16 <= n { a = a.addingProduct(load16(dyr + j) * load16(w + j), load16(xr + j)); j += 16 }
                    var d = hsum(a)
                    while j < n { d += dyr[j] * w[j] * xr[j]; j += 1 }
                    let c = d * s * s / Float(n) // coefficient on x: r·x̂·mean = r²·x·(s·d/n)·… folded below
                    let sv = V16(repeating: s), cv = V16(repeating: c * s)
                    j = 0
                    if accumulateDx {
                        while j + 16 <= n {
                            store16(load16(dxr + j) + sv * (load16(dyr + j) * load16(w + j)) - cv * load16(xr + j), dxr + j); j += 16
                        }
                        while j < n { dxr[j] += s * dyr[j] * w[j] - c * s * xr[j]; j += 1 }
                    } else {
                        while j + 16 <= n {
                            store16(sv * (load16(dyr + j) * load16(w + j)) - cv * load16(xr + j), dxr + j); j += 16
                        }
                        while j < n { dxr[j] = s * dyr[j] * w[j] - c * s * xr[j]; j += 1 }
                    }
                }
            }
        }
        if let dw {
            if !accumulateDw { dw.update(repeating: 0, count: n) }
            // Column sums over rows: each thread takes half of the columns to avoid races.
            Parallel.split(n, costPerItem: rows, minimumWork: 1 << 16) { cols in
                for r in 0 ..< rows {
                    let xr = x + r * n, dyr = dy + r * n
                    let s = rstd[r]
                    for j in cols { dw[j] += dyr[j] * xr[j] * s }
                }
            }
        }
    }

    /// LayerNorm: y = (x − μ) · rstd · w + b. Writes mean and rstd per row when given.
    public static func layerNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                 _ y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>?,
                                 rstd: UnsafeMutablePointer<Float>?, rows: Int, n: Int, eps: Float) {
        Parallel.split(rows, costPerItem: n) { range in
            for r in range {
                let xr = x + r * n, yr = y + r * n
                let mu = sum(xr, n) / Float(n)
                var j = 0
                var a = V16()
                let mv = V16(repeating: mu)
                while j + 16 <= n { let d = load16(xr + j) - mv; a = a.addingProduct(d, d); j += 16 }
                var v = hsum(a)
                while j < n { let d = xr[j] - mu; v += d * d; j += 1 }
                let s = 1 / (v / Float(n) + eps).squareRoot()
                mean?[r] = mu
                rstd?[r] = s
                let sv = V16(repeating: s)
                j = 0
                while j + 16 <= n { store16((load16(xr + j) - mv) * sv * load16(w + j) + load16(b + j), yr + j); j += 16 }
                while j < n { yr[j] = (xr[j] - mu) * s * w[j] + b[j]; j += 1 }
            }
        }
    }

    /// LayerNorm backward: g = dy ⊙ w, dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)),
    /// dw += Σ dy ⊙ x̂, db += Σ dy.
    public static func layerNormBackward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                         mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                         dx: UnsafeMutablePointer<Float>?, accumulateDx: Bool,
                                         dw: UnsafeMutablePointer<Float>?, accumulateDw: Bool,
                                         db: UnsafeMutablePointer<Float>?, accumulateDb: Bool, rows: Int, n: Int) {
        if let dx {
            Parallel.split(rows, costPerItem: 2 * n) { range in
                for r in range {
                    let xr = x + r * n, dyr = dy + r * n, dxr = dx + r * n
                    let mu = mean[r], s = rstd[r]
                    var sg: Float = 0, sgx: Float = 0
                    for j in 0 ..< n {
                        let g = dyr[j] * w[j]
                        sg += g
                        sgx += g * (xr[j] - mu) * s
                    }
                    let mg = sg / Float(n), mgx = sgx / Float(n)
                    for j in 0 ..< n {
                        let xhat = (xr[j] - mu) * s
                        let v = s * (dyr[j] * w[j] - mg - xhat * mgx)
                        if accumulateDx { dxr[j] += v } else { dxr[j] = v }
                    }
                }
            }
        }
        if dw != nil || db != nil {
            if let dw, !accumulateDw { dw.update(repeating: 0, count: n) }
            if let db, !accumulateDb { db.update(repeating: 0, count: n) }
            Parallel.split(n, costPerItem: rows, minimumWork: 1 << 16) { cols in
                for r in 0 ..< rows {
                    let xr = x + r * n, dyr = dy + r * n
                    let mu = mean[r], s = rstd[r]
                    if let dw { for j in cols { dw[j] += dyr[j] * (xr[j] - mu) * s } }
                    if let db { for j in cols { db[j] += dyr[j] } }
                }
            }
        }
    }

    // MARK: activations

    static let geluC: Float = 0.797_884_560_8 // sqrt(2/π)

    /// GELU, tanh form ("gelu_new"): 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
    public static func gelu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        Parallel.split(n, costPerItem: 8) { range in
            var j = range.lowerBound
            let c = V16(repeating: geluC)
            while j + 16 <= range.upperBound {
                let v = load16(x + j)
                let u = c * (v + 0.044715 * v * v * v)
                // tanh(u) = 1 − 2/(exp(2u) + 1)
                let t = 1 - 2 / (vexp(2 * u) + 1)
                store16(0.5 * v * (1 + t), y + j)
                j += 16
            }
            while j < range.upperBound {
                let v = x[j]
                let t = 1 - 2 / (sexp(2 * geluC * (v + 0.044715 * v * v * v)) + 1)
                y[j] = 0.5 * v * (1 + t)
                j += 1
            }
        }
    }

    /// GELU backward: dx (+)= dy · [0.5(1+t) + 0.5x(1−t²)·√(2/π)(1 + 3·0.044715x²)].
    public static func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                    _ n: Int, accumulate: Bool) {
        Parallel.split(n, costPerItem: 10) { range in
            var j = range.lowerBound
            let c = V16(repeating: geluC)
            while j + 16 <= range.upperBound {
                let v = load16(x + j)
                let v2 = v * v
                let u = c * (v + 0.044715 * v2 * v)
                let t = 1 - 2 / (vexp(2 * u) + 1)
                let half = V16(repeating: 0.5), one = V16(repeating: 1)
                let slope: V16 = c * (one + 0.134145 * v2)
                let d1: V16 = half * (one + t)
                let d2: V16 = half * v * (one - t * t) * slope
                let g = load16(dy + j) * (d1 + d2)
                store16(accumulate ? load16(dx + j) + g : g, dx + j)
                j += 16
            }
            while j < range.upperBound {
                let v = x[j]
                let t = 1 - 2 / (sexp(2 * geluC * (v + 0.044715 * v * v * v)) + 1)
                let d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * geluC * (1 + 0.134145 * v * v)
                if accumulate { dx[j] += dy[j] * d } else { dx[j] = dy[j] * d }
                j += 1
            }
        }
    }

    public static func relu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        Parallel.split(n, costPerItem: 1, minimumWork: 1 << 17) { range in
            for j in range { y[j] = x[j] > 0 ? x[j] : 0 }
        }
    }

    /// ReLU backward from the output y (y > 0 ⇔ x > 0).
    public static func reluBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                    _ n: Int, accumulate: Bool) {
        Parallel.split(n, costPerItem: 1, minimumWork: 1 << 17) { range in
            if accumulate { for j in range { dx[j] += y[j] > 0 ? dy[j] : 0 } }
            else { for j in range { dx[j] = y[j] > 0 ? dy[j] : 0 } }
        }
    }

    public static func exp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        Parallel.split(n, costPerItem: 4) { range in
            var j = range.lowerBound
            while j + 16 <= range.upperBound { store16(vexp(load16(x + j)), y + j); j += 16 }
            while j < range.upperBound { y[j] = sexp(x[j]); j += 1 }
        }
    }

    // MARK: simple maps

    /// y (+)= a · x
    public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, accumulate: Bool) {
        Parallel.split(n, costPerItem: 1, minimumWork: 1 << 17) { range in
            if accumulate { for j in range { y[j] += a * x[j] } } else { for j in range { y[j] = a * x[j] } }
        }
    }

    /// y += x
    public static func addInPlace(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        Parallel.split(n, costPerItem: 1, minimumWork: 1 << 17) { range in
            for j in range { y[j] += x[j] }
        }
    }

    /// y += x on the calling thread (callers that already split their work).
    @inline(__always)
    public static func addInPlaceSerial(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for j in 0 ..< n { y[j] += x[j] }
    }

    /// y = x (copy) or y += x
    public static func copyOrAdd(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, accumulate: Bool) {
        if accumulate { addInPlace(x, y, n); return }
        Parallel.split(n, costPerItem: 1, minimumWork: 1 << 18) { r in
            (y + r.lowerBound).update(from: x + r.lowerBound, count: r.count)
        }
    }

    // MARK: AdamW

    /// One PyTorch AdamW step over `n` parameters (torch.optim.AdamW, single-tensor path):
    ///   p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
    ///   p ← p − (lr / bc1) · m / (√v / √bc2 + eps), bc_i = 1 − β_i^t.
    public static func adamW(param p: UnsafeMutablePointer<Float>, grad g: UnsafePointer<Float>,
                             m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, n: Int,
                             lr: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float,
                             biasCorrection1: Float, biasCorrection2: Float) {
        let decay = 1 - lr * weightDecay
        let stepSize = lr / biasCorrection1
        let bc2Sqrt = biasCorrection2.squareRoot()
        let omb1 = 1 - beta1, omb2 = 1 - beta2
        Parallel.split(n, costPerItem: 8, minimumWork: 1 << 16) { range in
            var j = range.lowerBound
            let dv = V16(repeating: decay), b1 = V16(repeating: beta1), b2 = V16(repeating: beta2)
            let o1 = V16(repeating: omb1), o2 = V16(repeating: omb2), ss = V16(repeating: stepSize)
            let bs = V16(repeating: bc2Sqrt), ev = V16(repeating: eps)
            while j + 16 <= range.upperBound {
                let gj = load16(g + j)
                var pj = load16(p + j) * dv
                let mj = b1 * load16(m + j) + o1 * gj
                let vj = b2 * load16(v + j) + o2 * (gj * gj)
                let denom = vj.squareRoot() / bs + ev
                pj = pj - ss * (mj / denom)
                store16(mj, m + j); store16(vj, v + j); store16(pj, p + j)
                j += 16
            }
            while j < range.upperBound {
                let gj = g[j]
                var pj = p[j] * decay
                let mj = beta1 * m[j] + omb1 * gj
                let vj = beta2 * v[j] + omb2 * (gj * gj)
                let denom = vj.squareRoot() / bc2Sqrt + eps
                pj -= stepSize * (mj / denom)
                m[j] = mj; v[j] = vj; p[j] = pj
                j += 1
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
