import CBLAS
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Our own 2-way work split (ENGINE-NOTES.md: OpenBLAS on one thread plus a 2-way split beats
/// two BLAS threads, which oversubscribe when nested inside our split).
public enum Parallel {
    /// Number of workers the split uses (the machines have 2 cores).
    public static let workers = 2

    /// When false, every split (and the BLAS row/column split) runs on the calling thread:
    /// single-thread measurements (`idgenrec bench --threads 1`). Set it before work starts.
    nonisolated(unsafe) public static var splitEnabled = true

    private static let configured: Bool = {
        openblas_set_num_threads(1)
        #if os(Linux)
        // Keep freed large buffers in the heap instead of returning them to the kernel: every
        // op output is a fresh allocation, and an mmap'd buffer costs a page fault per 4 KB on
        // first touch (several ms per step at these sizes). 1 GB thresholds keep reuse cheap.
        _ = glibcMallopt(-3 /* M_MMAP_THRESHOLD */, 1 << 30)
        _ = glibcMallopt(-1 /* M_TRIM_THRESHOLD */, 1 << 30)
        #endif
        return true
    }()

    /// Sets OpenBLAS to one thread and tunes the allocator. Idempotent and cheap; every BLAS and
    /// split entry point calls it, so callers never need to.
    @inline(__always) public static func configure() { _ = configured }

    /// Runs `body` over `0..<n`, split into two contiguous halves on two threads when
    /// `n * costPerItem` is large enough to pay for the hand-off (~10 µs), else on this thread.
    @inline(__always)
    public static func split(_ n: Int, costPerItem: Int = 1, minimumWork: Int = 32_768, _ body: (Range<Int>) -> Void) {
        configure()
        if n < 2 || n * costPerItem < minimumWork || !splitEnabled {
            body(0 ..< n)
            return
        }
        let half = n / 2
        DispatchQueue.concurrentPerform(iterations: 2) { part in
            body(part == 0 ? 0 ..< half : half ..< n)
        }
    }
}

#if os(Linux)
/// glibc `mallopt` (declared in <malloc.h>, which the Glibc module does not export).
@_silgen_name("mallopt") private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
