import CBLAS
import Foundation

/// Row-major BLAS products. All sizes are in elements; `ld*` are row strides.
public enum BLAS {
    /// C[m, n] = alpha · op(A) · op(B) + beta · C, row-major, where op(A) is [m, k] (A stored as
    /// [m, k], or [k, m] when `transA`) and op(B) is [k, n] (B stored [k, n], or [n, k] when
    /// `transB`). Split by rows of C (or columns when C has few rows) across the two workers;
    /// one-row products go through `sgemv`.
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, parallel: Bool = true) {
        Parallel.configure()
        if m == 0 || n == 0 { return }
        if k == 0 {
            for i in 0 ..< m { for j in 0 ..< n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        let work = m * n * k
        if parallel && Parallel.splitEnabled && work >= 1 << 19 {
            // Pick the split that packs the least per worker: by rows each worker packs all of
            // op(B), by columns all of op(A), by k half of each plus a scratch [m, n] to add
            // (weight-gradient products: k = batch·tokens ≫ m, n). Packing was ~14% of a T5
            // training step.
            let big = Int.max
            let byRows = m >= 32 ? m * k / 2 + k * n : big
            let byCols = n >= 64 ? m * k + k * n / 2 : big
            let byK = k >= 512 ? (m * k + k * n) / 2 + 3 * m * n : big
            if byK < byRows && byK < byCols {
                let k1 = ((k / 2) + 7) / 8 * 8
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
                defer { scratch.deallocate() }
                DispatchQueue_concurrent2 { part in
                    let k0 = part == 0 ? 0 : k1, kk = part == 0 ? k1 : k - k1
                    let aOff = transA ? k0 * lda : k0, bOff = transB ? k0 : k0 * ldb
                    if part == 0 {
                        serial(transA: transA, transB: transB, m: m, n: n, k: kk, alpha: alpha, a: a + aOff, lda: lda,
                               b: b + bOff, ldb: ldb, beta: beta, c: c, ldc: ldc)
                    } else {
                        serial(transA: transA, transB: transB, m: m, n: n, k: kk, alpha: alpha, a: a + aOff, lda: lda,
                               b: b + bOff, ldb: ldb, beta: 0, c: scratch, ldc: n)
                    }
                }
                // C += scratch, rows split over the workers.
                Parallel.split(m, costPerItem: n, minimumWork: 1 << 15) { rows in
                    for i in rows { Kernels.addInPlaceSerial(scratch + i * n, c + i * ldc, n) }
                }
                return
            }
            if byRows <= byCols {
                let m1 = ((m / 2) + 7) / 8 * 8
                DispatchQueue_concurrent2 { part in
                    let r0 = part == 0 ? 0 : m1, rows = part == 0 ? m1 : m - m1
                    let aOff = transA ? r0 : r0 * lda
                    serial(transA: transA, transB: transB, m: rows, n: n, k: k, alpha: alpha, a: a + aOff, lda: lda,
                           b: b, ldb: ldb, beta: beta, c: c + r0 * ldc, ldc: ldc)
                }
                return
            }
            if byCols < big {
                let n1 = ((n / 2) + 15) / 16 * 16
                DispatchQueue_concurrent2 { part in
                    let c0 = part == 0 ? 0 : n1, cols = part == 0 ? n1 : n - n1
                    let bOff = transB ? c0 * ldb : c0
                    serial(transA: transA, transB: transB, m: m, n: cols, k: k, alpha: alpha, a: a, lda: lda,
                           b: b + bOff, ldb: ldb, beta: beta, c: c + c0, ldc: ldc)
                }
                return
            }
        }
        serial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
               beta: beta, c: c, ldc: ldc)
    }

    /// One-thread product (no split); one-row products use `sgemv` (2× faster for decoding).
    public static func serial(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                              a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                              beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        FlopCounter.add(2 * m * n * k)
        if m == 1 {
            // c[1, n] = op(B)ᵀ-free form: y = op(B)ᵀ x with x the single row of op(A).
            let incx = transA ? lda : 1
            if transB {
                // B stored [n, k]: y = B · x.
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), a, Int32(incx),
                            beta, c, 1)
            } else {
                // B stored [k, n]: y = Bᵀ · x.
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb), a, Int32(incx),
                            beta, c, 1)
            }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `batch` independent products C_i = alpha · op(A_i) op(B_i) + beta · C_i with fixed
    /// strides between batch members (attention: [B·H, q, d] × [B·H, k, d]ᵀ). A stride of 0
    /// shares one operand across the batch. Split by batch member across the two workers.
    public static func batchedGemm(batch: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                                   a: UnsafePointer<Float>, lda: Int, strideA: Int,
                                   b: UnsafePointer<Float>, ldb: Int, strideB: Int,
                                   beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int) {
        if batch == 1 {
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                 beta: beta, c: c, ldc: ldc)
            return
        }
        Parallel.split(batch, costPerItem: m * n * k, minimumWork: 1 << 18) { range in
            for i in range {
                serial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                       a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
                       beta: beta, c: c + i * strideC, ldc: ldc)
            }
        }
    }
}

import Dispatch

@inline(__always) private func DispatchQueue_concurrent2(_ body: (Int) -> Void) {
    DispatchQueue.concurrentPerform(iterations: 2, execute: body)
}

extension BLAS {
    /// Output-layer logits and their row normalisers in one pass: `logits[i, j] = a[i, :] · b[j, :]`
    /// (A [m, k], B [n, k], both row-major, C [m, n]) and `logSumExp[i] = log Σ_j exp(logits[i, j])`,
    /// so that `logits[i, j] - logSumExp[i]` is the log-softmax. The product runs in column
    /// chunks small enough to stay in cache while each chunk's max and sum of exponentials are
    /// taken, and the chunks' (max, sum) pairs are combined per row; the separate full-width
    /// passes of `gemm` + log-softmax (zero C, write C, read it for the max, read it for the sum,
    /// rewrite it normalised) become one write. Rows are split across the two workers.
    public static func logitsAndLogSumExp(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                          logits c: UnsafeMutablePointer<Float>,
                                          logSumExp: UnsafeMutablePointer<Float>) {
        Parallel.configure()
        precondition(n > 0 && k > 0, "logitsAndLogSumExp: empty vocabulary or width")
        if m == 0 { return }
        let maxima = UnsafeMutablePointer<Float>.allocate(capacity: 2 * m)
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: 2 * m)
        defer { maxima.deallocate(); sums.deallocate() }
        maxima.update(repeating: -.infinity, count: 2 * m)
        sums.update(repeating: 0, count: 2 * m)
        if m < 32, Parallel.splitEnabled, m * n * k >= 1 << 19 {
            // Few rows (batch-1 decoding): each worker takes half of the columns, and the two
            // (max, sum) pairs of a row are combined afterwards.
            let half = (n / 2 + 15) / 16 * 16
            DispatchQueue_concurrent2 { part in
                let cols = part == 0 ? 0 ..< half : half ..< n
                logitsBlock(rows: 0 ..< m, cols: cols, n: n, k: k, a: a, b: b, c: c,
                            maxima: maxima + part * m, sums: sums + part * m)
            }
            for i in 0 ..< m { combine(maxima[m + i], sums[m + i], into: &maxima[i], &sums[i]) }
        } else {
            Parallel.split(m, costPerItem: n * k, minimumWork: 1 << 19) { rows in
                logitsBlock(rows: rows, cols: 0 ..< n, n: n, k: k, a: a, b: b, c: c,
                            maxima: maxima + rows.lowerBound, sums: sums + rows.lowerBound)
            }
        }
        for i in 0 ..< m { logSumExp[i] = maxima[i] + logf(sums[i]) }
    }

    /// Logits of `rows` × `cols` (C row stride `n`) in column chunks of about 256 KB, folding each
    /// chunk's max and sum of exponentials into `maxima[i]` / `sums[i]` (i from 0 for the first row).
    private static func logitsBlock(rows: Range<Int>, cols: Range<Int>, n: Int, k: Int, a: UnsafePointer<Float>,
                                    b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                                    maxima: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>) {
        let count = rows.count
        let chunk = max(64, (65_536 / count) / 16 * 16)
        var start = cols.lowerBound
        while start < cols.upperBound {
            let width = min(chunk, cols.upperBound - start)
            let block = c + rows.lowerBound * n + start
            serial(transA: false, transB: true, m: count, n: width, k: k, alpha: 1, a: a + rows.lowerBound * k, lda: k,
                   b: b + start * k, ldb: k, beta: 0, c: block, ldc: n)
            for i in 0 ..< count {
                let x = UnsafePointer(block + i * n)
                let chunkMax = Kernels.maximum(x, width)
                guard chunkMax > -.infinity else { continue }
                combine(chunkMax, Kernels.sumOfExponentials(x, width, shift: chunkMax), into: &maxima[i], &sums[i])
            }
            start += width
        }
    }

    /// Folds a (max, Σ exp(x − max)) pair into a running one (also `PackedLogits`).
    @inline(__always)
    static func combine(_ otherMax: Float, _ otherSum: Float, into max: inout Float, _ sum: inout Float) {
        guard otherMax > -.infinity else { return }
        if otherMax > max {
            sum = sum * sexp(max - otherMax) + otherSum
            max = otherMax
        } else {
            sum += otherSum * sexp(otherMax - max)
        }
    }
}

extension BLAS {
    /// Which OpenBLAS kernel runs and how the library was built, for every benchmark and training
    /// log: the same binary's speed (and its float rounding) depends on the kernel, which
    /// `OPENBLAS_CORETYPE` can force (some environments set it without the user knowing).
    public struct Backend: Codable, Sendable, Equatable, CustomStringConvertible {
        /// `openblas_get_corename()`, e.g. "Haswell", "SkylakeX", "Zen", "Cooperlake".
        public var kernel: String
        /// `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64".
        public var configuration: String
        /// `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE` as this process saw them (nil when unset).
        public var forcedCoreType: String?
        public var l2Size: String?

        public var description: String {
            let forced = forcedCoreType.map { "forced by OPENBLAS_CORETYPE=\($0)" } ?? "chosen by OpenBLAS for this CPU"
            let l2 = l2Size.map { ", OPENBLAS_L2_SIZE=\($0)" } ?? ""
            return "OpenBLAS kernel \(kernel) (\(forced)\(l2)); \(configuration.trimmingCharacters(in: .whitespaces))"
        }
    }

    public static var backend: Backend {
        let env = ProcessInfo.processInfo.environment
        return Backend(kernel: openblas_get_corename().map { String(cString: $0) } ?? "unknown",
                       configuration: openblas_get_config().map { String(cString: $0) } ?? "unknown",
                       forcedCoreType: env["OPENBLAS_CORETYPE"], l2Size: env["OPENBLAS_L2_SIZE"])
    }
}
