/// Multi-head attention kernels on the projection layout: queries, keys and values stay in
/// the `[B, T, H·dk]` rows that the q/k/v projections produce (row strides `ld*`), and each
/// (batch member, head) pair is one strided GEMM, so no head permutes are ever materialised.
/// T5 semantics: no 1/√dk scaling; an additive bias `[H, T, S]` (relative position bias,
/// shared by every batch member) and an additive key mask `[B, S]` (0 / large negative) are
/// added to the scores before the softmax. The (batch × heads) pairs are split over the two
/// workers.
public enum Attention {
    public struct Shape: Equatable {
        public var batch: Int, queries: Int, keys: Int, heads: Int, headDim: Int
        public init(batch: Int, queries: Int, keys: Int, heads: Int, headDim: Int) {
            self.batch = batch; self.queries = queries; self.keys = keys; self.heads = heads; self.headDim = headDim
        }
    }

    /// out_bh [T, dk] = dropout(softmax(q_bh k_bhᵀ + bias_h + mask_b)) · v_bh.
    /// - `causal`: query t sees keys 0…t only (T == S, decoder self-attention).
    /// - `probabilities`: when given, receives the softmax `[B, H, T, S]` (before dropout) for
    ///   the backward pass.
    /// - `dropoutMask`: `[B, H, T, S]` of 0 / 1/(1−p), multiplied into the probabilities.
    public static func forward(_ s: Shape, q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int,
                               v: UnsafePointer<Float>, ldv: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
                               bias: UnsafePointer<Float>?, keyMask: UnsafePointer<Float>?, causal: Bool,
                               probabilities: UnsafeMutablePointer<Float>?, dropoutMask: UnsafePointer<Float>?) {
        let T = s.queries, S = s.keys, dk = s.headDim, H = s.heads
        precondition(!causal || T == S, "causal attention needs as many queries as keys, got \(T) and \(S)")
        Parallel.split(s.batch * H, costPerItem: 4 * T * S * dk + 8 * T * S, minimumWork: 1 << 16) { range in
            let scratch = probabilities == nil ? UnsafeMutablePointer<Float>.allocate(capacity: T * S) : nil
            let dropped = dropoutMask != nil ? UnsafeMutablePointer<Float>.allocate(capacity: T * S) : nil
            defer { scratch?.deallocate(); dropped?.deallocate() }
            for bh in range {
                let b = bh / H, h = bh % H
                let p = probabilities.map { $0 + bh * T * S } ?? scratch!
                // scores [T, S] = q_bh [T, dk] · k_bh [S, dk]ᵀ
                BLAS.serial(transA: false, transB: true, m: T, n: S, k: dk, alpha: 1, a: q + b * T * ldq + h * dk, lda: ldq,
                            b: k + b * S * ldk + h * dk, ldb: ldk, beta: 0, c: p, ldc: S)
                for t in 0 ..< T {
                    let row = p + t * S
                    if let bias { Kernels.addInPlace(bias + (h * T + t) * S, row, S) }
                    if let keyMask { Kernels.addInPlace(keyMask + b * S, row, S) }
                    let n = causal ? t + 1 : S
                    Kernels.softmaxRow(row, row, n)
                    if n < S { (row + n).update(repeating: 0, count: S - n) }
                }
                var pv = UnsafePointer(p)
                if let dropoutMask, let dropped {
                    let m = dropoutMask + bh * T * S
                    for i in 0 ..< T * S { dropped[i] = p[i] * m[i] }
                    pv = UnsafePointer(dropped)
                }
                // out_bh [T, dk] = P [T, S] · v_bh [S, dk]
                BLAS.serial(transA: false, transB: false, m: T, n: dk, k: S, alpha: 1, a: pv, lda: S,
                            b: v + b * S * ldv + h * dk, ldb: ldv, beta: 0, c: out + b * T * ldo + h * dk, ldc: ldo)
            }
        }
    }

    /// Gradients of `forward` given the saved probabilities. Any of dq/dk/dv/dBias may be nil;
    /// `accumulate*` adds instead of overwriting. dq/dk/dv use the row strides of q/k/v.
    /// dBias `[H, T, S]` is the sum over the batch of the score gradients.
    public static func backward(_ s: Shape, dOut: UnsafePointer<Float>, ldo: Int,
                                q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int,
                                v: UnsafePointer<Float>, ldv: Int,
                                probabilities: UnsafePointer<Float>, dropoutMask: UnsafePointer<Float>?,
                                dq: UnsafeMutablePointer<Float>?, accumulateDq: Bool,
                                dk dkOut: UnsafeMutablePointer<Float>?, accumulateDk: Bool,
                                dv: UnsafeMutablePointer<Float>?, accumulateDv: Bool,
                                dBias: UnsafeMutablePointer<Float>?, accumulateDBias: Bool) {
        let T = s.queries, S = s.keys, dk = s.headDim, H = s.heads
        let biasCount = H * T * S
        // One bias-gradient buffer per worker, summed afterwards.
        let partBias: [UnsafeMutablePointer<Float>] = dBias == nil ? [] : (0 ..< 2).map { _ in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: biasCount)
            p.initialize(repeating: 0, count: biasCount)
            return p
        }
        defer { for p in partBias { p.deallocate() } }
        Parallel.split(s.batch * H, costPerItem: 8 * T * S * dk + 8 * T * S, minimumWork: 1 << 16) { range in
            let part = range.lowerBound == 0 ? 0 : 1
            let dP = UnsafeMutablePointer<Float>.allocate(capacity: T * S)
            let dropped = dropoutMask != nil ? UnsafeMutablePointer<Float>.allocate(capacity: T * S) : nil
            defer { dP.deallocate(); dropped?.deallocate() }
            for bh in range {
                let b = bh / H, h = bh % H
                let p = probabilities + bh * T * S
                let dOb = dOut + b * T * ldo + h * dk
                let qb = q + b * T * ldq + h * dk, kb = k + b * S * ldk + h * dk, vb = v + b * S * ldv + h * dk
                // dP̃ [T, S] = dO_bh [T, dk] · v_bhᵀ
                BLAS.serial(transA: false, transB: true, m: T, n: S, k: dk, alpha: 1, a: dOb, lda: ldo, b: vb, ldb: ldv,
                            beta: 0, c: dP, ldc: S)
                var used = p
                if let dropoutMask, let dropped {
                    let m = dropoutMask + bh * T * S
                    for i in 0 ..< T * S { dropped[i] = p[i] * m[i]; dP[i] *= m[i] }
                    used = UnsafePointer(dropped)
                }
                if let dv {
                    // dv_bh [S, dk] = P̃ᵀ [S, T] · dO_bh [T, dk]
                    BLAS.serial(transA: true, transB: false, m: S, n: dk, k: T, alpha: 1, a: used, lda: S, b: dOb, ldb: ldo,
                                beta: accumulateDv ? 1 : 0, c: dv + b * S * ldv + h * dk, ldc: ldv)
                }
                // dScores = softmax backward, in place in dP (each element read before written).
                for t in 0 ..< T {
                    Kernels.softmaxBackwardRow(p + t * S, dP + t * S, dP + t * S, S, accumulate: false)
                }
                if !partBias.isEmpty { Kernels.addInPlace(dP, partBias[part] + h * T * S, T * S) }
                if let dq {
                    // dq_bh [T, dk] = dS [T, S] · k_bh [S, dk]
                    BLAS.serial(transA: false, transB: false, m: T, n: dk, k: S, alpha: 1, a: dP, lda: S, b: kb, ldb: ldk,
                                beta: accumulateDq ? 1 : 0, c: dq + b * T * ldq + h * dk, ldc: ldq)
                }
                if let dkOut {
                    // dk_bh [S, dk] = dSᵀ [S, T] · q_bh [T, dk]
                    BLAS.serial(transA: true, transB: false, m: S, n: dk, k: T, alpha: 1, a: dP, lda: S, b: qb, ldb: ldq,
                                beta: accumulateDk ? 1 : 0, c: dkOut + b * S * ldk + h * dk, ldc: ldk)
                }
            }
        }
        if let dBias {
            Kernels.addInPlace(partBias[1], partBias[0], biasCount)
            Kernels.copyOrAdd(partBias[0], dBias, biasCount, accumulate: accumulateDBias)
        }
    }

    /// One query per row against `length` cached keys (incremental decoding). For row r and
    /// head h: out[r, h] = softmax(q[r, h] · K[r, :length, h]ᵀ + bias[h, :length] + mask) · V.
    /// `keys(r)` / `values(r)` give row r's key / value block (row stride `ld`), `mask(r)` its
    /// additive key mask (or nil). Head sizes that are multiples of 16 up to 64 keep the query
    /// and the output accumulator in SIMD registers (the scalar loops were 13% of batched
    /// generation).
    public static func singleQuery(rows: Int, heads: Int, headDim dk: Int, length: Int,
                                   q: UnsafePointer<Float>, ldq: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
                                   ld: Int, keys: (Int) -> UnsafePointer<Float>, values: (Int) -> UnsafePointer<Float>,
                                   bias: UnsafePointer<Float>?, mask: (Int) -> UnsafePointer<Float>?) {
        let vectorised = dk % 16 == 0 && dk <= 64
        FlopCounter.add(4 * rows * heads * length * dk)  // q·k and p·v
        Parallel.split(rows, costPerItem: heads * length * dk * 4, minimumWork: 1 << 15) { range in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(length, 1))
            defer { scores.deallocate() }
            for r in range {
                let kr = keys(r), vr = values(r), m = mask(r)
                for h in 0 ..< heads {
                    let qh = q + r * ldq + h * dk, oh = out + r * ldo + h * dk
                    if vectorised {
                        singleQueryHead16(qh: qh, kh: kr + h * dk, vh: vr + h * dk, ld: ld, dk: dk, length: length,
                                          bias: bias.map { $0 + h * length }, mask: m, scores: scores, out: oh)
                        continue
                    }
                    for j in 0 ..< length { scores[j] = Kernels.dot(qh, kr + j * ld + h * dk, dk) }
                    if let bias { Kernels.addInPlace(bias + h * length, scores, length) }
                    if let m { Kernels.addInPlace(m, scores, length) }
                    Kernels.softmaxRow(scores, scores, length)
                    weightedValues(scores, length: length, values: vr + h * dk, ld: ld, dk: dk, out: oh)
                }
            }
        }
    }

    /// `singleQuery` for cross-attention over keys stored transposed: `keysT(r)` points at row r's
    /// keys as [heads, dk, paddedLength] (`paddedLength` a multiple of 16 ≥ `length`, padding
    /// zero), `values(r)` at its values with row stride `ldv`, `mask(r)` at its additive key mask.
    /// Sixteen keys' scores come from dk multiply-adds with no horizontal sums (the key-major
    /// layout spends most of a small head's time summing lanes), so the encoder's keys are
    /// worth transposing once per input when every decoding step reads them.
    public static func singleQueryTransposedKeys(rows: Int, heads: Int, headDim dk: Int, length: Int, paddedLength: Int,
                                                 q: UnsafePointer<Float>, ldq: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
                                                 keysT: (Int) -> UnsafePointer<Float>, values: (Int) -> UnsafePointer<Float>, ldv: Int,
                                                 mask: (Int) -> UnsafePointer<Float>?) {
        precondition(paddedLength % 16 == 0 && paddedLength >= length, "paddedLength \(paddedLength) for length \(length)")
        FlopCounter.add(4 * rows * heads * length * dk)  // q·k and p·v
        Parallel.split(rows, costPerItem: heads * length * dk * 4, minimumWork: 1 << 15) { range in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(paddedLength, 16))
            defer { scores.deallocate() }
            for r in range {
                let kt = keysT(r), vr = values(r), m = mask(r)
                for h in 0 ..< heads {
                    let qh = q + r * ldq + h * dk, kh = kt + h * dk * paddedLength
                    // Four blocks of 16 keys at a time: independent accumulators hide the
                    // multiply-add latency.
                    var j = 0
                    while j + 64 <= paddedLength {
                        var s0 = V16(), s1 = V16(), s2 = V16(), s3 = V16()
                        for d in 0 ..< dk {
                            let qd = V16(repeating: qh[d]), kd = kh + d * paddedLength + j
                            s0.addProduct(qd, load16(kd))
                            s1.addProduct(qd, load16(kd + 16))
                            s2.addProduct(qd, load16(kd + 32))
                            s3.addProduct(qd, load16(kd + 48))
                        }
                        store16(s0, scores + j)
                        store16(s1, scores + j + 16)
                        store16(s2, scores + j + 32)
                        store16(s3, scores + j + 48)
                        j += 64
                    }
                    while j < paddedLength {
                        var s = V16()
                        for d in 0 ..< dk { s.addProduct(V16(repeating: qh[d]), load16(kh + d * paddedLength + j)) }
                        store16(s, scores + j)
                        j += 16
                    }
                    if let m { Kernels.addInPlace(m, scores, length) }
                    Kernels.softmaxRow(scores, scores, length)
                    weightedValues(scores, length: length, values: vr + h * dk, ld: ldv, dk: dk, out: out + r * ldo + h * dk)
                }
            }
        }
    }

    /// out[0..<dk] = Σ_j p[j] · v[j·ld ..< j·ld + dk].
    @inline(__always)
    static func weightedValues(_ p: UnsafePointer<Float>, length: Int, values vh: UnsafePointer<Float>, ld: Int, dk: Int,
                               out: UnsafeMutablePointer<Float>) {
        if dk == 16 {
            // One vector per value row: four accumulators over j hide the multiply-add latency.
            var a0 = V16(), a1 = V16(), a2 = V16(), a3 = V16()
            var j = 0
            while j + 4 <= length {
                a0.addProduct(V16(repeating: p[j]), load16(vh + j * ld))
                a1.addProduct(V16(repeating: p[j + 1]), load16(vh + (j + 1) * ld))
                a2.addProduct(V16(repeating: p[j + 2]), load16(vh + (j + 2) * ld))
                a3.addProduct(V16(repeating: p[j + 3]), load16(vh + (j + 3) * ld))
                j += 4
            }
            while j < length { a0.addProduct(V16(repeating: p[j]), load16(vh + j * ld)); j += 1 }
            store16((a0 + a1) + (a2 + a3), out)
            return
        }
        if dk % 16 == 0 && dk <= 64 {
            let zero = V16(repeating: 0), chunks = dk / 16
            var a0 = zero, a1 = zero, a2 = zero, a3 = zero
            for j in 0 ..< length {
                let w = V16(repeating: p[j]), vj = vh + j * ld
                a0.addProduct(w, load16(vj))
                if chunks > 1 { a1.addProduct(w, load16(vj + 16)) }
                if chunks > 2 { a2.addProduct(w, load16(vj + 32)) }
                if chunks > 3 { a3.addProduct(w, load16(vj + 48)) }
            }
            store16(a0, out)
            if chunks > 1 { store16(a1, out + 16) }
            if chunks > 2 { store16(a2, out + 32) }
            if chunks > 3 { store16(a3, out + 48) }
            return
        }
        out.update(repeating: 0, count: dk)
        for j in 0 ..< length {
            let w = p[j], vj = vh + j * ld
            for d in 0 ..< dk { out[d] += w * vj[d] }
        }
    }

    /// One (row, head) of `singleQuery` for dk ∈ {16, 32, 48, 64}.
    @inline(__always)
    static func singleQueryHead16(qh: UnsafePointer<Float>, kh: UnsafePointer<Float>, vh: UnsafePointer<Float>, ld: Int,
                                  dk: Int, length: Int, bias: UnsafePointer<Float>?, mask: UnsafePointer<Float>?,
                                  scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let zero = V16(repeating: 0)
        let chunks = dk / 16
        let q0 = load16(qh), q1 = chunks > 1 ? load16(qh + 16) : zero
        let q2 = chunks > 2 ? load16(qh + 32) : zero, q3 = chunks > 3 ? load16(qh + 48) : zero
        for j in 0 ..< length {
            let kj = kh + j * ld
            var s = q0 * load16(kj)
            if chunks > 1 { s.addProduct(q1, load16(kj + 16)) }
            if chunks > 2 { s.addProduct(q2, load16(kj + 32)) }
            if chunks > 3 { s.addProduct(q3, load16(kj + 48)) }
            var v = hsum(s)
            if let bias { v += bias[j] }
            if let mask { v += mask[j] }
            scores[j] = v
        }
        Kernels.softmaxRow(scores, scores, length)
        weightedValues(scores, length: length, values: vh, ld: ld, dk: dk, out: out)
    }
}
