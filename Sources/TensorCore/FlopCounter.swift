import Dispatch
import Support
import Synchronization

/// Counts the floating-point operations of matrix work (every BLAS product and the
/// single-query attention of incremental decoding), for benchmarks that report achieved
/// GFLOP/s. Off by default: one relaxed atomic add per product when on, nothing when off.
public enum FlopCounter {
    nonisolated(unsafe) public static var enabled = false
    private static let total = Atomic<Int>(0)

    @inline(__always) static func add(_ flops: Int) {
        if enabled { total.wrappingAdd(flops, ordering: .relaxed) }
    }

    /// FLOPs counted since the last reset.
    public static var count: Int { total.load(ordering: .relaxed) }

    public static func reset() { total.store(0, ordering: .relaxed) }

    /// Runs `body` with counting on and returns its result and the FLOPs it did.
    public static func measure<T>(_ body: () throws -> T) rethrows -> (result: T, flops: Int) {
        let was = enabled
        enabled = true
        reset()
        defer { enabled = was }
        let result = try body()
        return (result, count)
    }
}

extension BLAS {
    /// The machine's matrix-product peak as these benchmarks measure it: best of 6 row-major
    /// 1024³ products, GFLOP/s, through `gemm` (the two-way split) or one `cblas_sgemm` call
    /// (OpenBLAS pinned to one thread).
    public static func measuredPeak(split: Bool) -> Double {
        Parallel.configure()
        let n = 1024
        var g = SeededGenerator(seed: 1)
        let a = Tensor.normal(shape: [n, n], std: 1, generator: &g), b = Tensor.normal(shape: [n, n], std: 1, generator: &g)
        let c = Tensor(zeros: [n, n])
        var best = Double.infinity
        for _ in 0 ..< 6 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            if split {
                gemm(transA: false, transB: false, m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n,
                     beta: 0, c: c.pointer, ldc: n)
            } else {
                serial(transA: false, transB: false, m: n, n: n, k: n, alpha: 1, a: a.pointer, lda: n,
                       b: b.pointer, ldb: n, beta: 0, c: c.pointer, ldc: n)
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return 2 * Double(n * n * n) / best / 1e9
    }
}
