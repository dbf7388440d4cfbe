import Support
import TensorCore
import TestSupport
import XCTest

final class KernelTests: XCTestCase {
    func naiveGemm(_ a: Tensor, _ b: Tensor, ta: Bool, tb: Bool, m: Int, n: Int, k: Int) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0 ..< m {
            for j in 0 ..< n {
                var s = 0.0
                for p in 0 ..< k {
                    let av = ta ? a.pointer[p * m + i] : a.pointer[i * k + p]
                    let bv = tb ? b.pointer[j * k + p] : b.pointer[p * n + j]
                    s += Double(av) * Double(bv)
                }
                c[i * n + j] = s
            }
        }
        return c
    }

    func testGemmSplitAndGemvPaths() {
        // Sizes that take the row split (m ≥ 32), the column split (small m, large n), sgemv (m = 1)
        // and the k split (k ≫ m, n: two partial products added).
        for (m, n, k) in [(97, 70, 130), (8, 300, 300), (1, 333, 65), (2, 3, 4), (40, 70, 1030)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    let a = randn(ta ? [k, m] : [m, k], 1), b = randn(tb ? [n, k] : [k, n], 2)
                    let c = Tensor(shape: [m, n], repeating: 1)
                    BLAS.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a.pointer, lda: ta ? m : k,
                              b: b.pointer, ldb: tb ? k : n, beta: 2, c: c.pointer, ldc: n)
                    let ref = naiveGemm(a, b, ta: ta, tb: tb, m: m, n: n, k: k)
                    for i in 0 ..< m * n {
                        XCTAssertEqual(Double(c.pointer[i]), 0.5 * ref[i] + 2, accuracy: 1e-3 * (1 + abs(ref[i])),
                                       "gemm m=\(m) n=\(n) k=\(k) ta=\(ta) tb=\(tb) at \(i)")
                    }
                }
            }
        }
    }

    /// The fused output layer: logits equal the product, and logits − log-sum-exp is the
    /// log-softmax, computed in Double. Shapes cover one chunk, several chunks with a ragged
    /// last one, the two-worker row split, a single row and the two-worker column split (few rows).
    func testLogitsAndLogSumExpIsProductAndLogSoftmax() {
        for (m, n, k, scale) in [(3, 50, 8, 1.0), (37, 5003, 16, 3.0), (320, 1000, 64, 1.0), (1, 4099, 32, 6.0), (2, 8009, 64, 2.0)] {
            let a = randn([m, k], 11, std: Float(scale)), b = randn([n, k], 12)
            var logits = [Float](repeating: .nan, count: m * n), lse = [Float](repeating: .nan, count: m)
            BLAS.logitsAndLogSumExp(m: m, n: n, k: k, a: a.pointer, b: b.pointer, logits: &logits, logSumExp: &lse)
            let ref = naiveGemm(a, b, ta: false, tb: true, m: m, n: n, k: k)
            for i in 0 ..< m {
                let row = ref[(i * n) ..< ((i + 1) * n)]
                let mx = row.max()!
                let refLSE = mx + Foundation.log(row.map { Foundation.exp($0 - mx) }.reduce(0, +))
                for j in 0 ..< n {
                    XCTAssertEqual(Double(logits[i * n + j]), row[i * n + j], accuracy: 1e-4 * (1 + abs(row[i * n + j])),
                                   "logit m=\(m) n=\(n) (\(i), \(j))")
                    if j % 97 == 0 {
                        XCTAssertEqual(Double(logits[i * n + j] - lse[i]), row[i * n + j] - refLSE,
                                       accuracy: 2e-5 * (1 + abs(refLSE)), "log-softmax m=\(m) n=\(n) (\(i), \(j))")
                    }
                }
            }
        }
    }

    /// Single-query attention with key-major keys and with transposed keys both equal
    /// softmax(q·K + mask)·V computed in Double, for vectorised and scalar head sizes and
    /// lengths around the 16-key blocks.
    func testSingleQueryAttentionBothKeyLayoutsAgainstDouble() {
        var g = SeededGenerator(seed: 77)
        for (heads, dk) in [(4, 16), (2, 32), (3, 8)] {
            for length in [1, 15, 16, 17, 80] {
                let rows = 5, inner = heads * dk, padded = (length + 15) / 16 * 16
                let q = Tensor.normal(shape: [rows, inner], std: 1, generator: &g)
                let k = Tensor.normal(shape: [rows, length, inner], std: 1, generator: &g)
                let v = Tensor.normal(shape: [rows, length, inner], std: 1, generator: &g)
                let mask = Tensor(shape: [rows, length], values: (0 ..< rows * length).map { $0 % 7 == 3 ? -1e9 : 0 })
                let kT = Tensor(shape: [rows, inner, padded], repeating: 0)
                for r in 0 ..< rows { for j in 0 ..< length { for c in 0 ..< inner { kT.pointer[(r * inner + c) * padded + j] = k.pointer[(r * length + j) * inner + c] } } }
                let a = Tensor(shape: [rows, inner], repeating: .nan), b = Tensor(shape: [rows, inner], repeating: .nan)
                Attention.singleQuery(rows: rows, heads: heads, headDim: dk, length: length, q: q.pointer, ldq: inner, out: a.pointer, ldo: inner,
                                      ld: inner, keys: { UnsafePointer(k.pointer + $0 * length * inner) },
                                      values: { UnsafePointer(v.pointer + $0 * length * inner) }, bias: nil,
                                      mask: { UnsafePointer(mask.pointer + $0 * length) })
                Attention.singleQueryTransposedKeys(rows: rows, heads: heads, headDim: dk, length: length, paddedLength: padded,
                                                    q: q.pointer, ldq: inner, out: b.pointer, ldo: inner,
                                                    keysT: { UnsafePointer(kT.pointer + $0 * inner * padded) },
                                                    values: { UnsafePointer(v.pointer + $0 * length * inner) }, ldv: inner,
                                                    mask: { UnsafePointer(mask.pointer + $0 * length) })
                for r in 0 ..< rows {
                    for h in 0 ..< heads {
                        let scores = (0 ..< length).map { j in
                            (0 ..< dk).reduce(0.0) { $0 + Double(q[r, h * dk + $1]) * Double(k.pointer[(r * length + j) * inner + h * dk + $1]) }
                                + Double(mask[r, j])
                        }
                        let mx = scores.max()!
                        let p = scores.map { Foundation.exp($0 - mx) }, z = p.reduce(0, +)
                        for d in 0 ..< dk {
                            let ref = (0 ..< length).reduce(0.0) { $0 + p[$1] / z * Double(v.pointer[(r * length + $1) * inner + h * dk + d]) }
                            XCTAssertEqual(Double(a[r, h * dk + d]), ref, accuracy: 1e-5, "key-major heads \(heads) dk \(dk) length \(length)")
                            XCTAssertEqual(Double(b[r, h * dk + d]), ref, accuracy: 1e-5, "transposed heads \(heads) dk \(dk) length \(length)")
                        }
                    }
                }
            }
        }
    }

    func testSoftmaxGeluExpAgainstDouble() {
        let x = randn([5, 37], 3, std: 4)
        let s = Ops.softmax(x)
        for r in 0 ..< 5 {
            let row = (0 ..< 37).map { Double(x[r, $0]) }
            let mx = row.max()!
            let z = row.map { Foundation.exp($0 - mx) }.reduce(0, +)
            for j in 0 ..< 37 { XCTAssertEqual(Double(s[r, j]), Foundation.exp(row[j] - mx) / z, accuracy: 1e-6) }
        }
        let g = Ops.gelu(x)
        for i in 0 ..< x.count {
            let v = Double(x.pointer[i])
            let ref = 0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))
            XCTAssertEqual(Double(g.pointer[i]), ref, accuracy: 2e-6 * (1 + abs(ref)))
        }
        let e = Ops.exp(Tensor(shape: [6], values: [-100, -20, -1, 0, 1.5, 80]))
        for (i, v) in [-100.0, -20, -1, 0, 1.5, 80].enumerated() {
            XCTAssertEqual(Double(e.pointer[i]), Foundation.exp(v), accuracy: 1e-6 * Foundation.exp(v) + 1e-37)
        }
        // A fully masked row stays finite (uniform), never NaN.
        let masked = Ops.softmax(Tensor(shape: [1, 3], values: [1, 2, 3]),
                                 mask: Tensor(shape: [3], repeating: -Float.infinity))
        XCTAssertFalse(masked.scalars.contains { $0.isNaN })
    }

    func testNormsAgainstDouble() {
        let x = randn([3, 50], 5), w = randn([50], 6), b = randn([50], 7)
        let r = Ops.rmsNorm(x, weight: w, eps: 1e-6)
        let l = Ops.layerNorm(x, weight: w, bias: b, eps: 1e-5)
        for i in 0 ..< 3 {
            let row = (0 ..< 50).map { Double(x[i, $0]) }
            let ms = row.map { $0 * $0 }.reduce(0, +) / 50
            let mu = row.reduce(0, +) / 50
            let variance = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / 50
            for j in 0 ..< 50 {
                XCTAssertEqual(Double(r[i, j]), row[j] / (ms + 1e-6).squareRoot() * Double(w[j]), accuracy: 1e-5)
                XCTAssertEqual(Double(l[i, j]), (row[j] - mu) / (variance + 1e-5).squareRoot() * Double(w[j]) + Double(b[j]),
                               accuracy: 1e-5)
            }
        }
    }

    func testBroadcastLayoutOps() {
        let a = randn([2, 3, 4], 1), bias = randn([1, 3, 1], 2)
        let s = Ops.add(a, bias)
        for i in 0 ..< 2 { for j in 0 ..< 3 { for k in 0 ..< 4 { XCTAssertEqual(s[i, j, k], a[i, j, k] + bias[0, j, 0]) } } }
        let p = Ops.permute(a, [2, 0, 1])
        XCTAssertEqual(p.shape, [4, 2, 3])
        for i in 0 ..< 2 { for j in 0 ..< 3 { for k in 0 ..< 4 { XCTAssertEqual(p[k, i, j], a[i, j, k]) } } }
        let big = randn([64, 8, 32, 16], 3) // large enough for the 2-way split
        let q = Ops.permute(big, [0, 2, 1, 3])
        XCTAssertEqual(q[63, 31, 7, 15], big[63, 7, 31, 15])
        XCTAssertEqual(q[10, 5, 3, 2], big[10, 3, 5, 2])
        let c = Ops.concat([a, Ops.slice(a, axis: 1, range: 1 ..< 2)], axis: 1)
        XCTAssertEqual(c.shape, [2, 4, 4])
        XCTAssertEqual(c[1, 3, 2], a[1, 1, 2])
        XCTAssertEqual(Ops.argmax(Tensor(shape: [2, 3], values: [1, 5, 2, 9, 0, 9])), [1, 0])
    }

    func testSeededInitIsReproducible() {
        var g1 = SeededGenerator(seed: 5), g2 = SeededGenerator(seed: 5)
        XCTAssertEqual(Tensor.normal(shape: [10], std: 0.5, generator: &g1).scalars,
                       Tensor.normal(shape: [10], std: 0.5, generator: &g2).scalars)
        let u = Tensor.uniform(shape: [1000], low: -2, high: 3, generator: &g1).scalars
        XCTAssertTrue(u.allSatisfy { $0 >= -2 && $0 < 3 })
        let n = Tensor.normal(shape: [20000], std: 0.5, generator: &g1).scalars
        let mean = n.reduce(0, +) / Float(n.count)
        let sd = (n.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(n.count)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(sd, 0.5, accuracy: 0.02)
    }
}
