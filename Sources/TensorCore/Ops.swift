/// Graph-free tensor operations: the forward halves of the autograd ops, usable on their own
/// for inference (beam search with KV caches) without any autograd bookkeeping. Every op
/// returns a new tensor and leaves its inputs untouched unless its name says otherwise.
public enum Ops {
    // MARK: products

    /// Batched matrix product. `a`: [..., m, k] (or [..., k, m] when `transposeA`), `b`: [k, n]
    /// shared by all batch members or [..., k, n] with the same leading dimensions as `a` (or
    /// [n, k] / [..., n, k] when `transposeB`). Result [..., m, n] · alpha.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
                              alpha: Float = 1) -> Tensor {
        let g = MatmulGeometry(a.shape, b.shape, transposeA: transposeA, transposeB: transposeB)
        let out = Tensor(uninitialized: g.outShape)
        g.run(a.pointer, b.pointer, out.pointer, alpha: alpha, beta: 0)
        return out
    }

    /// Hugging Face / PyTorch `nn.Linear`: x [..., in] · Wᵀ (+ bias), weight [out, in], bias [out].
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(weight.rank == 2 && x.shape.last == weight.shape[1],
                     "linear: input \(x.shape) vs weight \(weight.shape) ([out, in])")
        let outF = weight.shape[0], inF = weight.shape[1]
        let rows = x.count / max(inF, 1)
        let out = Tensor(uninitialized: Array(x.shape.dropLast()) + [outF])
        var beta: Float = 0
        if let bias {
            precondition(bias.count == outF, "linear: bias \(bias.shape) for \(outF) outputs")
            // Bias rows first, then the product accumulates onto them (beta = 1): no extra pass.
            let o = out.pointer, bp = bias.pointer
            for r in 0 ..< rows { (o + r * outF).update(from: bp, count: outF) }
            beta = 1
        }
        BLAS.gemm(transA: false, transB: true, m: rows, n: outF, k: inF, a: x.pointer, lda: inF,
                  b: weight.pointer, ldb: inF, beta: beta, c: out.pointer, ldc: outF)
        return out
    }

    // MARK: element-wise

    public static func add(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.add, a, b) }
    public static func sub(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.sub, a, b) }
    public static func mul(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.mul, a, b) }

    public static func scale(_ x: Tensor, _ s: Float) -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        Kernels.axpy(s, x.pointer, out.pointer, x.count, accumulate: false)
        return out
    }

    /// x += y (same element count), in place.
    public static func addInPlace(_ x: Tensor, _ y: Tensor) {
        precondition(x.count == y.count, "addInPlace: \(x.shape) += \(y.shape)")
        Kernels.addInPlace(y.pointer, x.pointer, x.count)
    }

    public static func relu(_ x: Tensor) -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        Kernels.relu(x.pointer, out.pointer, x.count)
        return out
    }

    /// GELU, tanh approximation (HF "gelu_new").
    public static func gelu(_ x: Tensor) -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        Kernels.gelu(x.pointer, out.pointer, x.count)
        return out
    }

    public static func exp(_ x: Tensor) -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        Kernels.exp(x.pointer, out.pointer, x.count)
        return out
    }

    // MARK: softmax

    /// Softmax over the last dimension of `x + mask` (mask additive, e.g. 0 / -1e9 or -inf,
    /// broadcast onto x's shape; nil for none).
    public static func softmax(_ x: Tensor, mask: Tensor? = nil) -> Tensor {
        let n = x.shape.last ?? 1
        let out = mask.map { binary(.add, x, $0) } ?? Tensor(uninitialized: x.shape)
        precondition(out.shape == x.shape, "softmax: mask \(mask!.shape) must broadcast onto \(x.shape)")
        let src = mask == nil ? x.pointer : out.pointer, dst = out.pointer
        Parallel.split(x.count / max(n, 1), costPerItem: 3 * n) { rows in
            for r in rows { Kernels.softmaxRow(src + r * n, dst + r * n, n) }
        }
        return out
    }

    /// log-softmax over the last dimension.
    public static func logSoftmax(_ x: Tensor) -> Tensor {
        let n = x.shape.last ?? 1
        let out = Tensor(uninitialized: x.shape)
        let src = x.pointer, dst = out.pointer
        Parallel.split(x.count / max(n, 1), costPerItem: 3 * n) { rows in
            for r in rows { Kernels.logSoftmaxRow(src + r * n, dst + r * n, n) }
        }
        return out
    }

    /// Index of the largest value in each row of the last dimension (first on ties).
    public static func argmax(_ x: Tensor) -> [Int] {
        let n = x.shape.last ?? 1
        let rows = x.count / max(n, 1)
        var result = [Int](repeating: 0, count: rows)
        let p = x.pointer
        for r in 0 ..< rows {
            let row = p + r * n
            var best = 0
            for j in 1 ..< max(n, 1) where row[j] > row[best] { best = j }
            result[r] = best
        }
        return result
    }

    // MARK: norms

    /// T5 RMS norm over the last dimension: x · rsqrt(mean(x²) + eps) · weight (no mean, no bias).
    public static func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float) -> Tensor {
        let n = weight.count
        precondition(x.shape.last == n, "rmsNorm: input \(x.shape), weight \(weight.shape)")
        let out = Tensor(uninitialized: x.shape)
        Kernels.rmsNorm(x.pointer, weight.pointer, out.pointer, rstd: nil, rows: x.count / max(n, 1), n: n, eps: eps)
        return out
    }

    /// LayerNorm over the last dimension (PyTorch `nn.LayerNorm`, biased variance).
    public static func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
        let n = weight.count
        precondition(x.shape.last == n && bias.count == n, "layerNorm: input \(x.shape), weight \(weight.shape)")
        let out = Tensor(uninitialized: x.shape)
        Kernels.layerNorm(x.pointer, weight.pointer, bias.pointer, out.pointer, mean: nil, rstd: nil,
                          rows: x.count / max(n, 1), n: n, eps: eps)
        return out
    }

    // MARK: gather / layout

    /// Rows of `table` [vocab, d] picked by `indices` → [indices.shape..., d].
    /// Precondition: every index in 0..<vocab.
    public static func embedding(_ table: Tensor, indices: IntTensor) -> Tensor {
        precondition(table.rank == 2, "embedding table must be [vocab, d], got \(table.shape)")
        let vocab = table.shape[0], d = table.shape[1]
        let out = Tensor(uninitialized: indices.shape + [d])
        let src = table.pointer, dst = out.pointer
        indices.values.withUnsafeBufferPointer { idx in
            for (i, t) in idx.enumerated() {
                let row = Int(t)
                precondition(row >= 0 && row < vocab, "embedding index \(row) outside 0..<\(vocab)")
                (dst + i * d).update(from: src + row * d, count: d)
            }
        }
        return out
    }

    /// Axis permutation: result dimension i is input dimension `perm[i]`
    /// (split heads: [B, T, H, D] with perm [0, 2, 1, 3] → [B, H, T, D]).
    public static func permute(_ x: Tensor, _ perm: [Int]) -> Tensor {
        precondition(perm.sorted() == Array(0 ..< x.rank), "permute: \(perm) for rank \(x.rank)")
        let outShape = perm.map { x.shape[$0] }
        let out = Tensor(uninitialized: outShape)
        permuteCopy(x.pointer, shape: x.shape, perm: perm, into: out.pointer, accumulate: false)
        return out
    }

    /// Swaps two dimensions.
    public static func transpose(_ x: Tensor, _ d0: Int, _ d1: Int) -> Tensor {
        var perm = Array(0 ..< x.rank)
        perm.swapAt(d0, d1)
        return permute(x, perm)
    }

    /// Writes (or adds) permute(src) into dst. Copies contiguous runs when the last axis stays.
    public static func permuteCopy(_ src: UnsafePointer<Float>, shape: [Int], perm: [Int],
                                   into dst: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let r = shape.count
        let total = Tensor.elementCount(shape)
        if total == 0 { return }
        if r == 0 || perm == Array(0 ..< r) {
            Kernels.copyOrAdd(src, dst, total, accumulate: accumulate); return
        }
        var inStrides = [Int](repeating: 1, count: r)
        for i in stride(from: r - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let outShape = perm.map { shape[$0] }
        let strides = perm.map { inStrides[$0] } // input stride for each output dim
        let inner = outShape[r - 1], innerStride = strides[r - 1]
        let outer = total / inner
        // Outer rows split across the two workers; each computes its own starting index.
        Parallel.split(outer, costPerItem: inner, minimumWork: 1 << 16) { rows in
            var index = [Int](repeating: 0, count: max(r - 1, 1))
            var rem = rows.lowerBound
            var off = 0
            for k in stride(from: r - 2, through: 0, by: -1) {
                index[k] = rem % outShape[k]; rem /= outShape[k]
                off += index[k] * strides[k]
            }
            for row in rows {
                let o = dst + row * inner, s = src + off
                if innerStride == 1 {
                    if accumulate { for j in 0 ..< inner { o[j] += s[j] } } else { o.update(from: s, count: inner) }
                } else {
                    if accumulate { for j in 0 ..< inner { o[j] += s[j * innerStride] } }
                    else { for j in 0 ..< inner { o[j] = s[j * innerStride] } }
                }
                var k = r - 2
                while k >= 0 {
                    index[k] += 1; off += strides[k]
                    if index[k] < outShape[k] { break }
                    off -= strides[k] * outShape[k]; index[k] = 0; k -= 1
                }
            }
        }
    }

    /// Concatenation along `axis` (other dimensions equal).
    public static func concat(_ parts: [Tensor], axis: Int) -> Tensor {
        precondition(!parts.isEmpty, "concat of nothing")
        let base = parts[0].shape
        let ax = axis < 0 ? axis + base.count : axis
        var outShape = base
        outShape[ax] = parts.reduce(0) { $0 + $1.shape[ax] }
        for p in parts {
            var s = p.shape; s[ax] = base[ax]
            precondition(s == base, "concat: shapes \(parts.map(\.shape)) differ outside axis \(ax)")
        }
        let out = Tensor(uninitialized: outShape)
        let outer = base[..<ax].reduce(1, *), inner = base[(ax + 1)...].reduce(1, *)
        let outRow = outShape[ax] * inner
        var offset = 0
        for p in parts {
            let run = p.shape[ax] * inner
            let src = p.pointer, dst = out.pointer + offset
            for o in 0 ..< outer { (dst + o * outRow).update(from: src + o * run, count: run) }
            offset += run
        }
        return out
    }

    /// Elements `range` along `axis`.
    public static func slice(_ x: Tensor, axis: Int, range: Range<Int>) -> Tensor {
        let ax = axis < 0 ? axis + x.rank : axis
        precondition(range.lowerBound >= 0 && range.upperBound <= x.shape[ax], "slice \(range) of axis \(ax) in \(x.shape)")
        var outShape = x.shape
        outShape[ax] = range.count
        let out = Tensor(uninitialized: outShape)
        let outer = x.shape[..<ax].reduce(1, *), inner = x.shape[(ax + 1)...].reduce(1, *)
        let inRow = x.shape[ax] * inner, run = range.count * inner
        let src = x.pointer + range.lowerBound * inner, dst = out.pointer
        for o in 0 ..< outer { (dst + o * run).update(from: src + o * inRow, count: run) }
        return out
    }

    // MARK: reductions

    /// Sum of all elements, accumulated in Double.
    public static func sum(_ x: Tensor) -> Float {
        var s: Double = 0
        let p = x.pointer
        var i = 0
        while i < x.count {
            let n = min(4096, x.count - i)
            s += Double(Kernels.sum(p + i, n))
            i += n
        }
        return Float(s)
    }

    public static func mean(_ x: Tensor) -> Float { sum(x) / Float(max(x.count, 1)) }
}

/// Shape logic of a (batched) matrix product, shared by `Ops.matmul` and its gradient.
public struct MatmulGeometry {
    public let batch: Int, m: Int, n: Int, k: Int
    public let transposeA: Bool, transposeB: Bool
    /// b is a single matrix shared across a's batch.
    public let sharedB: Bool
    public let outShape: [Int]

    public init(_ a: [Int], _ b: [Int], transposeA: Bool, transposeB: Bool) {
        precondition(a.count >= 2 && b.count >= 2, "matmul needs rank ≥ 2, got \(a) and \(b)")
        let am = transposeA ? a[a.count - 1] : a[a.count - 2]
        let ak = transposeA ? a[a.count - 2] : a[a.count - 1]
        let bk = transposeB ? b[b.count - 1] : b[b.count - 2]
        let bn = transposeB ? b[b.count - 2] : b[b.count - 1]
        precondition(ak == bk, "matmul: inner sizes differ: \(a)\(transposeA ? "ᵀ" : "") × \(b)\(transposeB ? "ᵀ" : "")")
        let batchA = Array(a.dropLast(2))
        let batchB = Array(b.dropLast(2))
        sharedB = batchB.reduce(1, *) == 1 && (batchB.isEmpty || batchA.reduce(1, *) != 1 || batchA == batchB)
        precondition(sharedB || batchA == batchB, "matmul: batch dimensions differ: \(a) × \(b)")
        batch = batchA.reduce(1, *)
        m = am; n = bn; k = ak
        self.transposeA = transposeA
        self.transposeB = transposeB
        outShape = batchA + [am, bn]
    }

    /// C = alpha · op(A) op(B) + beta · C over the batch.
    public func run(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                    alpha: Float, beta: Float) {
        let lda = transposeA ? m : k, ldb = transposeB ? k : n
        if sharedB && !transposeA {
            // One tall product: [batch·m, k] × op(B).
            BLAS.gemm(transA: false, transB: transposeB, m: batch * m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                      b: b, ldb: ldb, beta: beta, c: c, ldc: n)
            return
        }
        BLAS.batchedGemm(batch: batch, transA: transposeA, transB: transposeB, m: m, n: n, k: k, alpha: alpha,
                         a: a, lda: lda, strideA: m * k, b: b, ldb: ldb, strideB: sharedB ? 0 : k * n,
                         beta: beta, c: c, ldc: n, strideC: m * n)
    }
}

#if canImport(Glibc)
import Glibc
#endif
