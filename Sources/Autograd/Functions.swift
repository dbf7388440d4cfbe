import Support
import TensorCore

// Differentiable ops. Each forward computes with the graph-free `Ops`/`Kernels` code and, when
// recording, captures only what its backward needs. Backward closures add into the inputs'
// gradients through `withGradBuffer`, writing directly (beta = 0 / overwrite) when the input
// has no gradient yet, so most gradients cost no extra buffer or memset.

// MARK: products

/// Hugging Face `nn.Linear`: x [..., in] · weightᵀ (+ bias); weight [out, in], bias [out].
public func linear(_ x: Variable, weight: Variable, bias: Variable? = nil) -> Variable {
    let out = Ops.linear(x.value, weight: weight.value, bias: bias?.value)
    let outF = weight.shape[0], inF = weight.shape[1]
    let rows = x.value.count / max(inF, 1)
    let xv = x.value, wv = weight.value
    var parents = [x, weight]
    if let bias { parents.append(bias) }
    return record(out, parents) { g in
        if x.requiresGrad {
            // dx [rows, in] = g [rows, out] · W [out, in]
            x.withGradBuffer { dx, acc in
                BLAS.gemm(transA: false, transB: false, m: rows, n: inF, k: outF, a: g.pointer, lda: outF,
                          b: wv.pointer, ldb: inF, beta: acc ? 1 : 0, c: dx.pointer, ldc: inF)
            }
        }
        if weight.requiresGrad {
            // dW [out, in] += gᵀ [out, rows] · x [rows, in]
            weight.withGradBuffer { dw, acc in
                BLAS.gemm(transA: true, transB: false, m: outF, n: inF, k: rows, a: g.pointer, lda: outF,
                          b: xv.pointer, ldb: inF, beta: acc ? 1 : 0, c: dw.pointer, ldc: inF)
            }
        }
        if let bias, bias.requiresGrad {
            bias.withGradBuffer { db, acc in columnSums(g.pointer, rows: rows, cols: outF, into: db.pointer, accumulate: acc) }
        }
    }
}

/// Column sums of a [rows, cols] matrix into `out` (+=), split by columns.
func columnSums(_ g: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>, accumulate: Bool) {
    if !accumulate { out.update(repeating: 0, count: cols) }
    Parallel.split(cols, costPerItem: rows, minimumWork: 1 << 16) { range in
        for r in 0 ..< rows {
            let row = g + r * cols
            for j in range { out[j] += row[j] }
        }
    }
}

/// Batched matrix product with optional transposes (see `Ops.matmul`): a [..., m, k], b [k, n]
/// (shared) or [..., k, n]. Attention: `matmul(q, k, transposeB: true)` on [B·H, q, d] ×
/// [B·H, k, d]; the co-training bridge: `matmul(probs [N, vocab], table [vocab, d])`.
public func matmul(_ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false) -> Variable {
    let geo = MatmulGeometry(a.shape, b.shape, transposeA: transposeA, transposeB: transposeB)
    let out = Tensor(uninitialized: geo.outShape)
    geo.run(a.value.pointer, b.value.pointer, out.pointer, alpha: 1, beta: 0)
    let av = a.value, bv = b.value
    return record(out, [a, b]) { g in
        let m = geo.m, n = geo.n, k = geo.k, batch = geo.batch
        if a.requiresGrad {
            a.withGradBuffer { da, acc in
                let beta: Float = acc ? 1 : 0
                if !transposeA {
                    // dA [m, k] = g [m, n] · op(B)ᵀ
                    if geo.sharedB {
                        BLAS.gemm(transA: false, transB: !transposeB, m: batch * m, n: k, k: n, a: g.pointer, lda: n,
                                  b: bv.pointer, ldb: transposeB ? k : n, beta: beta, c: da.pointer, ldc: k)
                    } else {
                        BLAS.batchedGemm(batch: batch, transA: false, transB: !transposeB, m: m, n: k, k: n,
                                         a: g.pointer, lda: n, strideA: m * n, b: bv.pointer, ldb: transposeB ? k : n,
                                         strideB: k * n, beta: beta, c: da.pointer, ldc: k, strideC: m * k)
                    }
                } else {
                    // dA [k, m] = op(B) [k, n] · gᵀ [n, m]
                    BLAS.batchedGemm(batch: batch, transA: transposeB, transB: true, m: k, n: m, k: n,
                                     b: bv.pointer, transposeBLd: transposeB ? k : n, strideB: geo.sharedB ? 0 : k * n,
                                     g: g.pointer, ldg: n, strideG: m * n, beta: beta, c: da.pointer, ldc: m, strideC: m * k)
                }
            }
        }
        if b.requiresGrad {
            b.withGradBuffer { db, acc in
                let beta: Float = acc ? 1 : 0
                let lda = transposeA ? m : k
                if geo.sharedB {
                    if !transposeA {
                        // One tall product over the flattened batch.
                        if !transposeB {
                            // dB [k, n] = Aᵀ [k, B·m] · g [B·m, n]
                            BLAS.gemm(transA: true, transB: false, m: k, n: n, k: batch * m, a: av.pointer, lda: k,
                                      b: g.pointer, ldb: n, beta: beta, c: db.pointer, ldc: n)
                        } else {
                            // dB [n, k] = gᵀ [n, B·m] · A [B·m, k]
                            BLAS.gemm(transA: true, transB: false, m: n, n: k, k: batch * m, a: g.pointer, lda: n,
                                      b: av.pointer, ldb: k, beta: beta, c: db.pointer, ldc: k)
                        }
                    } else {
                        // Sum over batch members, one at a time (all write the same dB).
                        for i in 0 ..< batch {
                            let b0: Float = (i == 0) ? beta : 1
                            if !transposeB {
                                BLAS.gemm(transA: false, transB: false, m: k, n: n, k: m, a: av.pointer + i * m * k, lda: m,
                                          b: g.pointer + i * m * n, ldb: n, beta: b0, c: db.pointer, ldc: n)
                            } else {
                                BLAS.gemm(transA: true, transB: true, m: n, n: k, k: m, a: g.pointer + i * m * n, lda: n,
                                          b: av.pointer + i * m * k, ldb: m, beta: b0, c: db.pointer, ldc: k)
                            }
                        }
                    }
                } else if !transposeB {
                    // dB [k, n] = op(A)ᵀ [k, m] · g [m, n]
                    BLAS.batchedGemm(batch: batch, transA: !transposeA, transB: false, m: k, n: n, k: m,
                                     a: av.pointer, lda: lda, strideA: m * k, b: g.pointer, ldb: n, strideB: m * n,
                                     beta: beta, c: db.pointer, ldc: n, strideC: k * n)
                } else {
                    // dB [n, k] = gᵀ [n, m] · op(A) [m, k]
                    BLAS.batchedGemm(batch: batch, transA: true, transB: transposeA, m: n, n: k, k: m,
                                     a: g.pointer, lda: n, strideA: m * n, b: av.pointer, ldb: lda, strideB: m * k,
                                     beta: beta, c: db.pointer, ldc: k, strideC: k * n)
                }
            }
        }
    }
}

extension BLAS {
    /// dA for a transposed A: C_i [k, m] = op(B_i) [k, n] · G_iᵀ [n, m].
    static func batchedGemm(batch: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                            b: UnsafePointer<Float>, transposeBLd: Int, strideB: Int,
                            g: UnsafePointer<Float>, ldg: Int, strideG: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int) {
        batchedGemm(batch: batch, transA: transA, transB: transB, m: m, n: n, k: k, a: b, lda: transposeBLd,
                    strideA: strideB, b: g, ldb: ldg, strideB: strideG, beta: beta, c: c, ldc: ldc, strideC: strideC)
    }
}

// MARK: element-wise with broadcasting

private func binaryOp(_ op: BinaryOp, _ a: Variable, _ b: Variable) -> Variable {
    let out = Ops.binary(op, a.value, b.value)
    let av = a.value, bv = b.value
    return record(out, [a, b]) { g in
        switch op {
        case .add, .sub:
            if a.requiresGrad { a.withGradBuffer { da, acc in Ops.reduceBroadcast(g, into: da, accumulate: acc) } }
            if b.requiresGrad {
                b.withGradBuffer { db, acc in Ops.reduceBroadcast(g, into: db, scale: op == .sub ? -1 : 1, accumulate: acc) }
            }
        case .mul:
            if a.requiresGrad {
                let t = Ops.binary(.mul, g, bv)
                a.withGradBuffer { da, acc in Ops.reduceBroadcast(t, into: da, accumulate: acc) }
            }
            if b.requiresGrad {
                let t = Ops.binary(.mul, g, av)
                b.withGradBuffer { db, acc in Ops.reduceBroadcast(t, into: db, accumulate: acc) }
            }
        }
    }
}

/// a + b with numpy broadcasting (same shape, row bias [d] onto [N, d], [1|B, H, q, k] onto
/// [B, H, q, k], …). Either side may broadcast; the gradient is summed back to each shape.
public func add(_ a: Variable, _ b: Variable) -> Variable { binaryOp(.add, a, b) }
public func sub(_ a: Variable, _ b: Variable) -> Variable { binaryOp(.sub, a, b) }
public func mul(_ a: Variable, _ b: Variable) -> Variable { binaryOp(.mul, a, b) }

public func + (a: Variable, b: Variable) -> Variable { add(a, b) }
public func - (a: Variable, b: Variable) -> Variable { sub(a, b) }
public func * (a: Variable, b: Variable) -> Variable { mul(a, b) }
public func * (a: Variable, s: Float) -> Variable { scale(a, s) }
public func * (s: Float, a: Variable) -> Variable { scale(a, s) }

/// x · s
public func scale(_ x: Variable, _ s: Float) -> Variable {
    record(Ops.scale(x.value, s), [x]) { g in
        x.withGradBuffer { dx, acc in Kernels.axpy(s, g.pointer, dx.pointer, g.count, accumulate: acc) }
    }
}

public func relu(_ x: Variable) -> Variable {
    let out = Ops.relu(x.value)
    return record(out, [x]) { g in
        x.withGradBuffer { dx, acc in Kernels.reluBackward(out.pointer, g.pointer, dx.pointer, g.count, accumulate: acc) }
    }
}

/// GELU, tanh form (HF "gelu_new", T5 v1.1 gated-GELU uses it).
public func gelu(_ x: Variable) -> Variable {
    let xv = x.value
    return record(Ops.gelu(xv), [x]) { g in
        x.withGradBuffer { dx, acc in Kernels.geluBackward(xv.pointer, g.pointer, dx.pointer, g.count, accumulate: acc) }
    }
}

// MARK: softmax family

/// Softmax over the last dimension of x + mask (mask: additive constant, broadcast onto x, no
/// gradient; e.g. [B, 1, 1, k] padding or [1, 1, q, k] causal mask on [B, H, q, k] scores).
public func softmax(_ x: Variable, mask: Tensor? = nil) -> Variable {
    let out = Ops.softmax(x.value, mask: mask)
    let n = x.shape.last ?? 1
    return record(out, [x]) { g in
        x.withGradBuffer { dx, acc in
            let y = out.pointer, dy = g.pointer, d = dx.pointer
            Parallel.split(out.count / max(n, 1), costPerItem: 2 * n) { rows in
                for r in rows { Kernels.softmaxBackwardRow(y + r * n, dy + r * n, d + r * n, n, accumulate: acc) }
            }
        }
    }
}

/// log-softmax over the last dimension.
public func logSoftmax(_ x: Variable) -> Variable {
    let out = Ops.logSoftmax(x.value)
    let n = x.shape.last ?? 1
    return record(out, [x]) { g in
        // dx = dy − softmax · Σ dy
        x.withGradBuffer { dx, acc in
            let y = out.pointer, dy = g.pointer, d = dx.pointer
            Parallel.split(out.count / max(n, 1), costPerItem: 2 * n) { rows in
                for r in rows {
                    let yr = y + r * n, gr = dy + r * n, dr = d + r * n
                    let s = Kernels.sum(gr, n)
                    for j in 0 ..< n {
                        let v = gr[j] - sexp(yr[j]) * s
                        if acc { dr[j] += v } else { dr[j] = v }
                    }
                }
            }
        }
    }
}

/// Mean token cross-entropy of `logits` [N, V] (any leading shape, flattened) against `targets`
/// (N ids); targets equal to `ignoreIndex` are skipped, the mean is over the others (0 when
/// none). With label smoothing ε (PyTorch semantics): loss_i = (1−ε)·(−log p_t) + ε·mean_j(−log p_j).
public func crossEntropy(_ logits: Variable, targets: IntTensor, ignoreIndex: Int32 = -100,
                         labelSmoothing: Float = 0) -> Variable {
    let v = logits.shape.last ?? 1
    let rows = logits.value.count / max(v, 1)
    precondition(targets.count == rows, "crossEntropy: \(rows) rows of logits, \(targets.count) targets")
    let logp = Ops.logSoftmax(logits.value)
    let lp = logp.pointer
    var total: Double = 0
    var counted = 0
    for (r, t) in targets.values.enumerated() where t != ignoreIndex {
        precondition(t >= 0 && Int(t) < v, "crossEntropy: target \(t) outside 0..<\(v) (row \(r))")
        let row = lp + r * v
        var l = -Double(row[Int(t)]) * Double(1 - labelSmoothing)
        if labelSmoothing > 0 { l -= Double(labelSmoothing) * Double(Kernels.sum(row, v)) / Double(v) }
        total += l
        counted += 1
    }
    let loss = Tensor(scalar: counted == 0 ? 0 : Float(total / Double(counted)))
    return record(loss, [logits]) { g in
        let scaleG = counted == 0 ? 0 : g.pointer[0] / Float(counted)
        logits.withGradBuffer { dx, acc in
            let d = dx.pointer, lp = logp.pointer // capture the tensor (keeps its buffer alive)
            let tv = targets.values
            let smooth = labelSmoothing / Float(v)
            tv.withUnsafeBufferPointer { tp in
                Parallel.split(rows, costPerItem: 3 * v) { range in
                    for r in range {
                        let dr = d + r * v, lr = lp + r * v
                        let t = tp[r]
                        if t == ignoreIndex {
                            if !acc { dr.update(repeating: 0, count: v) }
                            continue
                        }
                        // d/dlogits = (softmax − target distribution) · g / count. SIMD16: a
                        // scalar `sexp` per element evaluates a whole vector exp for one lane.
                        let sv = V16(repeating: smooth), gv = V16(repeating: scaleG)
                        var j = 0
                        while j + 16 <= v {
                            let val = (vexp(load16(lr + j)) - sv) * gv
                            store16(acc ? load16(dr + j) + val : val, dr + j)
                            j += 16
                        }
                        while j < v {
                            let val = (sexp(lr[j]) - smooth) * scaleG
                            if acc { dr[j] += val } else { dr[j] = val }
                            j += 1
                        }
                        dr[Int(t)] -= (1 - labelSmoothing) * scaleG
                    }
                }
            }
        }
    }
}

// MARK: norms

/// T5 RMS norm over the last dimension: x · rsqrt(mean(x²) + eps) · weight, in Float.
public func rmsNorm(_ x: Variable, weight: Variable, eps: Float) -> Variable {
    let n = weight.value.count
    precondition(x.shape.last == n, "rmsNorm: input \(x.shape), weight \(weight.shape)")
    let rows = x.value.count / max(n, 1)
    let out = Tensor(uninitialized: x.shape)
    let needs = GradMode.isEnabled && (x.requiresGrad || weight.requiresGrad)
    let rstd = Tensor(uninitialized: [needs ? rows : 0])
    let xv = x.value, wv = weight.value
    Kernels.rmsNorm(xv.pointer, wv.pointer, out.pointer, rstd: needs ? rstd.pointer : nil, rows: rows, n: n, eps: eps)
    return record(out, [x, weight]) { g in
        var dxBuf: Tensor?, dwBuf: Tensor?, accX = false, accW = false
        if x.requiresGrad { x.withGradBuffer { b, a in dxBuf = b; accX = a } }
        if weight.requiresGrad { weight.withGradBuffer { b, a in dwBuf = b; accW = a } }
        Kernels.rmsNormBackward(xv.pointer, wv.pointer, rstd.pointer, g.pointer, dx: dxBuf?.pointer, accumulateDx: accX,
                                dw: dwBuf?.pointer, accumulateDw: accW, rows: rows, n: n)
    }
}

/// LayerNorm over the last dimension (PyTorch `nn.LayerNorm`): (x − μ)/√(σ² + eps) · w + b.
public func layerNorm(_ x: Variable, weight: Variable, bias: Variable, eps: Float) -> Variable {
    let n = weight.value.count
    precondition(x.shape.last == n && bias.value.count == n, "layerNorm: input \(x.shape), weight \(weight.shape)")
    let rows = x.value.count / max(n, 1)
    let out = Tensor(uninitialized: x.shape)
    let mean = Tensor(uninitialized: [rows]), rstd = Tensor(uninitialized: [rows])
    let xv = x.value, wv = weight.value
    Kernels.layerNorm(xv.pointer, wv.pointer, bias.value.pointer, out.pointer, mean: mean.pointer, rstd: rstd.pointer,
                      rows: rows, n: n, eps: eps)
    return record(out, [x, weight, bias]) { g in
        var dxB: Tensor?, dwB: Tensor?, dbB: Tensor?, ax = false, aw = false, ab = false
        if x.requiresGrad { x.withGradBuffer { b, a in dxB = b; ax = a } }
        if weight.requiresGrad { weight.withGradBuffer { b, a in dwB = b; aw = a } }
        if bias.requiresGrad { bias.withGradBuffer { b, a in dbB = b; ab = a } }
        Kernels.layerNormBackward(xv.pointer, wv.pointer, mean: mean.pointer, rstd: rstd.pointer, g.pointer,
                                  dx: dxB?.pointer, accumulateDx: ax, dw: dwB?.pointer, accumulateDw: aw,
                                  db: dbB?.pointer, accumulateDb: ab, rows: rows, n: n)
    }
}

// MARK: regularisation

/// Inverted dropout: zeroes each element with probability `p` (drawn from `generator`) and
/// scales the rest by 1/(1−p). Identity when `p == 0`.
public func dropout(_ x: Variable, p: Float, generator: inout SeededGenerator) -> Variable {
    precondition(p >= 0 && p < 1, "dropout probability \(p) outside [0, 1)")
    if p == 0 { return x }
    let (out, mask) = Tensor.dropout(x.value, p: p, generator: &generator) // mask and product in one pass
    return record(out, [x]) { g in
        x.withGradBuffer { dx, acc in
            let d = dx.pointer, gp = g.pointer, mp = mask.pointer
            Parallel.split(g.count, costPerItem: 1, minimumWork: 1 << 17) { r in
                if acc { for i in r { d[i] += gp[i] * mp[i] } } else { for i in r { d[i] = gp[i] * mp[i] } }
            }
        }
    }
}

/// x + dropout(y, p) in one pass (T5's residual connections); same values and generator draws
/// as `x + dropout(y, p:generator:)`, one tensor and one pass fewer. Plain `x + y` when p == 0.
public func addDropout(_ x: Variable, _ y: Variable, p: Float, generator: inout SeededGenerator) -> Variable {
    precondition(x.shape == y.shape, "addDropout: \(x.shape) + \(y.shape)")
    precondition(p >= 0 && p < 1, "dropout probability \(p) outside [0, 1)")
    if p == 0 { return x + y }
    let (out, mask) = Tensor.addDropout(x.value, y.value, p: p, generator: &generator)
    return record(out, [x, y]) { g in
        if x.requiresGrad { x.withGradBuffer { dx, acc in Kernels.copyOrAdd(g.pointer, dx.pointer, g.count, accumulate: acc) } }
        if y.requiresGrad {
            y.withGradBuffer { dy, acc in
                let d = dy.pointer, gp = g.pointer, mp = mask.pointer
                Parallel.split(g.count, costPerItem: 1, minimumWork: 1 << 17) { r in
                    if acc { for i in r { d[i] += gp[i] * mp[i] } } else { for i in r { d[i] = gp[i] * mp[i] } }
                }
            }
        }
    }
}

/// dropout(relu(x), p) fused (one pass, no mask kept: the output alone gives the gradient,
/// g · 1/(1−p) where the output is positive, else 0). Same values and generator draws as
/// `dropout(relu(x), p:generator:)`. Plain `relu` when `p == 0`.
public func reluDropout(_ x: Variable, p: Float, generator: inout SeededGenerator) -> Variable {
    precondition(p >= 0 && p < 1, "dropout probability \(p) outside [0, 1)")
    if p == 0 { return relu(x) }
    let out = Tensor.reluDropout(x.value, p: p, generator: &generator)
    let keep = 1 / (1 - p)
    return record(out, [x]) { g in
        x.withGradBuffer { dx, acc in
            let y = out.pointer, gp = g.pointer, d = dx.pointer
            Parallel.split(g.count, costPerItem: 1, minimumWork: 1 << 17) { r in
                if acc { for i in r { d[i] += y[i] > 0 ? gp[i] * keep : 0 } }
                else { for i in r { d[i] = y[i] > 0 ? gp[i] * keep : 0 } }
            }
        }
    }
}

// MARK: gather and layout

/// Rows of `table` [vocab, d] for `indices` → [indices.shape..., d]; the gradient scatter-adds
/// into the table rows (repeated ids accumulate).
public func embedding(_ table: Variable, indices: IntTensor) -> Variable {
    let out = Ops.embedding(table.value, indices: indices)
    let d = table.shape[1]
    return record(out, [table]) { g in
        table.withGradBuffer { dt, acc in
            if !acc { dt.fill(0) }
            let dst = dt.pointer, src = g.pointer
            indices.values.withUnsafeBufferPointer { idx in
                for (i, t) in idx.enumerated() {
                    let row = dst + Int(t) * d, gr = src + i * d
                    for j in 0 ..< d { row[j] += gr[j] }
                }
            }
        }
    }
}

/// Same data, new shape (one dimension may be -1). No copy.
public func reshape(_ x: Variable, _ shape: [Int]) -> Variable {
    record(x.value.reshaped(shape), [x]) { g in x.accumulateGrad(g) }
}

extension Variable {
    public func reshaped(_ shape: [Int]) -> Variable { reshape(self, shape) }
}

/// Axis permutation (result dim i = input dim perm[i]); split heads [B, T, H, D] → [B, H, T, D]
/// with [0, 2, 1, 3].
public func permute(_ x: Variable, _ perm: [Int]) -> Variable {
    var inverse = [Int](repeating: 0, count: perm.count)
    for (i, p) in perm.enumerated() { inverse[p] = i }
    let out = Ops.permute(x.value, perm)
    return record(out, [x]) { g in
        x.withGradBuffer { dx, acc in
            Ops.permuteCopy(g.pointer, shape: out.shape, perm: inverse, into: dx.pointer, accumulate: acc)
        }
    }
}

public func transpose(_ x: Variable, _ d0: Int, _ d1: Int) -> Variable {
    var perm = Array(0 ..< x.shape.count)
    perm.swapAt(d0, d1)
    return permute(x, perm)
}

/// Concatenation along `axis`.
public func concat(_ parts: [Variable], axis: Int) -> Variable {
    let out = Ops.concat(parts.map(\.value), axis: axis)
    let ax = axis < 0 ? axis + out.rank : axis
    return record(out, parts) { g in
        var start = 0
        for p in parts {
            let size = p.shape[ax]
            if p.requiresGrad {
                let piece = Ops.slice(g, axis: ax, range: start ..< start + size)
                p.accumulateGrad(piece)
            }
            start += size
        }
    }
}

/// Elements `range` along `axis`.
public func slice(_ x: Variable, axis: Int, range: Range<Int>) -> Variable {
    let out = Ops.slice(x.value, axis: axis, range: range)
    let ax = axis < 0 ? axis + x.shape.count : axis
    let shape = x.shape
    return record(out, [x]) { g in
        x.withGradBuffer { dx, acc in
            if !acc { dx.fill(0) }
            let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
            let inRow = shape[ax] * inner, run = range.count * inner
            let dst = dx.pointer + range.lowerBound * inner, src = g.pointer
            for o in 0 ..< outer {
                let d = dst + o * inRow, s = src + o * run
                for j in 0 ..< run { d[j] += s[j] }
            }
        }
    }
}

// MARK: reductions

/// Sum of all elements → scalar.
public func sum(_ x: Variable) -> Variable {
    record(Tensor(scalar: Ops.sum(x.value)), [x]) { g in
        let s = g.pointer[0]
        x.withGradBuffer { dx, acc in
            if acc { let d = dx.pointer; for i in 0 ..< dx.count { d[i] += s } } else { dx.fill(s) }
        }
    }
}

/// Mean of all elements → scalar.
public func mean(_ x: Variable) -> Variable { scale(sum(x), 1 / Float(max(x.value.count, 1))) }

/// Sum over the last dimension: [..., n] → [...] (dot products of paired embeddings).
public func sumLastAxis(_ x: Variable) -> Variable {
    let n = x.shape.last ?? 1
    let rows = x.value.count / max(n, 1)
    let out = Tensor(uninitialized: Array(x.shape.dropLast()))
    let src = x.value.pointer
    for r in 0 ..< rows { out.pointer[r] = Kernels.sum(src + r * n, n) }
    return record(out, [x]) { g in
        x.withGradBuffer { dx, acc in
            let d = dx.pointer
            for r in 0 ..< rows {
                let s = g.pointer[r], row = d + r * n
                if acc { for j in 0 ..< n { row[j] += s } } else { row.update(repeating: s, count: n) }
            }
        }
    }
}
