import Dispatch
import Foundation

/// An output head B [n, k] (row-major, e.g. T5's [vocab, d_model]) packed once into panels of 16
/// columns, k-major inside a panel: `panels[(p * k + i) * 16 + j] = B[16p + j, i]`, the last
/// panel zero-padded. `BLAS.logitsAndLogSumExp(m:a:packed:…)` then reads it without the
/// per-call packing OpenBLAS does: with small k (d_model 64) and few rows (a beam-search step),
/// OpenBLAS spent as long packing the head as multiplying (docs/serve.md#speed).
public struct PackedPanels: @unchecked Sendable {
    // @unchecked: `storage` is written only in `init` and read-only afterwards.
    public let n: Int
    public let k: Int
    let storage: UnsafeMutablePointer<Float>
    private let owner: Owner

    final class Owner {
        let pointer: UnsafeMutablePointer<Float>
        init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
        deinit { pointer.deallocate() }
    }

    public var panelCount: Int { (n + 15) / 16 }

    public init(b: UnsafePointer<Float>, n: Int, k: Int) {
        precondition(n > 0 && k > 0, "PackedPanels: empty matrix")
        self.n = n
        self.k = k
        let panels = (n + 15) / 16
        storage = .allocate(capacity: panels * k * 16)
        storage.initialize(repeating: 0, count: panels * k * 16)
        owner = Owner(storage)
        for p in 0 ..< panels {
            for j in 0 ..< min(16, n - p * 16) {
                let row = b + (p * 16 + j) * k
                for i in 0 ..< k { storage[(p * k + i) * 16 + j] = row[i] }
            }
        }
    }
}

extension BLAS {
    /// `logitsAndLogSumExp(m:n:k:a:b:…)` with B packed once (`PackedPanels`): `logits[i, j] =
    /// a[i, :] · b[j, :]` (C [m, n] row-major) and `logSumExp[i] = log Σ_j exp(logits[i, j])`.
    /// Each dot product sums over k in order, in single-precision FMAs, as OpenBLAS's kernels do;
    /// the max and sum of exponentials of a block of 4 rows × 1,024 columns are taken while it is
    /// in L1. With the split on, the two workers take halves of the panels.
    public static func logitsAndLogSumExp(m: Int, a: UnsafePointer<Float>, packed: PackedPanels,
                                          logits c: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>) {
        Parallel.configure()
        if m == 0 { return }
        let n = packed.n, panels = packed.panelCount
        let maxima = UnsafeMutablePointer<Float>.allocate(capacity: 2 * m)
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: 2 * m)
        defer { maxima.deallocate(); sums.deallocate() }
        maxima.update(repeating: -.infinity, count: 2 * m)
        sums.update(repeating: 0, count: 2 * m)
        if Parallel.splitEnabled, panels >= 2, m * n * packed.k >= 1 << 19 {
            let half = panels / 2
            DispatchQueue.concurrentPerform(iterations: 2) { part in
                packedLogitsBlock(m: m, a: a, packed: packed, panels: part == 0 ? 0 ..< half : half ..< panels, c: c,
                                  maxima: maxima + part * m, sums: sums + part * m)
            }
            for i in 0 ..< m { combine(maxima[m + i], sums[m + i], into: &maxima[i], &sums[i]) }
        } else {
            packedLogitsBlock(m: m, a: a, packed: packed, panels: 0 ..< panels, c: c, maxima: maxima, sums: sums)
        }
        for i in 0 ..< m { logSumExp[i] = maxima[i] + logf(sums[i]) }
    }

    /// Logits of every row over `panels`, in chunks of 64 panels (1,024 columns), folding each
    /// chunk's (max, Σ exp) per row into `maxima` / `sums`.
    private static func packedLogitsBlock(m: Int, a: UnsafePointer<Float>, packed: PackedPanels, panels: Range<Int>,
                                          c: UnsafeMutablePointer<Float>, maxima: UnsafeMutablePointer<Float>,
                                          sums: UnsafeMutablePointer<Float>) {
        let n = packed.n, k = packed.k
        let chunkPanels = 64
        var p0 = panels.lowerBound
        while p0 < panels.upperBound {
            let p1 = min(p0 + chunkPanels, panels.upperBound)
            let col0 = p0 * 16, col1 = min(p1 * 16, n)
            var r = 0
            while r < m {
                let rowsHere = min(4, m - r)
                for p in p0 ..< p1 {
                    let panel = UnsafeRawPointer(packed.storage + p * k * 16)
                    let cols = min(16, n - p * 16)
                    if rowsHere == 4 {
                        let a0 = a + r * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k
                        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
                        for i in 0 ..< k {
                            let w = panel.loadUnaligned(fromByteOffset: i * 64, as: SIMD16<Float>.self)
                            s0.addProduct(SIMD16(repeating: a0[i]), w)
                            s1.addProduct(SIMD16(repeating: a1[i]), w)
                            s2.addProduct(SIMD16(repeating: a2[i]), w)
                            s3.addProduct(SIMD16(repeating: a3[i]), w)
                        }
                        store(s0, c + r * n + p * 16, cols)
                        store(s1, c + (r + 1) * n + p * 16, cols)
                        store(s2, c + (r + 2) * n + p * 16, cols)
                        store(s3, c + (r + 3) * n + p * 16, cols)
                    } else {
                        for q in r ..< r + rowsHere {
                            let aq = a + q * k
                            var s = SIMD16<Float>()
                            for i in 0 ..< k { s.addProduct(SIMD16(repeating: aq[i]), panel.loadUnaligned(fromByteOffset: i * 64, as: SIMD16<Float>.self)) }
                            store(s, c + q * n + p * 16, cols)
                        }
                    }
                }
                for q in r ..< r + rowsHere {
                    let x = UnsafePointer(c + q * n + col0)
                    let width = col1 - col0
                    let chunkMax = Kernels.maximum(x, width)
                    guard chunkMax > -.infinity else { continue }
                    combine(chunkMax, Kernels.sumOfExponentials(x, width, shift: chunkMax), into: &maxima[q], &sums[q])
                }
                r += rowsHere
            }
            p0 = p1
        }
    }

    @inline(__always)
    private static func store(_ v: SIMD16<Float>, _ to: UnsafeMutablePointer<Float>, _ count: Int) {
        if count == 16 {
            UnsafeMutableRawPointer(to).storeBytes(of: v, as: SIMD16<Float>.self)
        } else {
            for j in 0 ..< count { to[j] = v[j] }
        }
    }

}
