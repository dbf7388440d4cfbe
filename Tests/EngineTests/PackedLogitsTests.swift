import Support
import XCTest
@testable import TensorCore

/// `BLAS.logitsAndLogSumExp(m:a:packed:…)` (head packed once, own 4×16 kernel) against the
/// OpenBLAS path it replaces in T5 generation: same logits and normalisers within float
/// rounding, for row counts around the 4-row block, vocabularies that are and are not multiples
/// of 16, with the 2-way split on and off.
final class PackedLogitsTests: XCTestCase {
    func testPackedLogitsMatchOpenBLAS() {
        var rng = SeededGenerator(seed: 7)
        let saved = Parallel.splitEnabled
        defer { Parallel.splitEnabled = saved }
        for (m, n, k) in [(1, 17, 8), (3, 939, 64), (4, 8000, 64), (5, 1000, 32), (37, 8000, 64), (80, 2050, 64)] {
            let a = (0 ..< m * k).map { _ in Float.random(in: -2 ... 2, using: &rng) }
            let b = (0 ..< n * k).map { _ in Float.random(in: -2 ... 2, using: &rng) }
            var expected = [Float](repeating: 0, count: m * n), expectedLSE = [Float](repeating: 0, count: m)
            BLAS.logitsAndLogSumExp(m: m, n: n, k: k, a: a, b: b, logits: &expected, logSumExp: &expectedLSE)
            let packed = b.withUnsafeBufferPointer { PackedPanels(b: $0.baseAddress!, n: n, k: k) }
            for split in [true, false] {
                Parallel.splitEnabled = split
                var logits = [Float](repeating: .nan, count: m * n), lse = [Float](repeating: .nan, count: m)
                BLAS.logitsAndLogSumExp(m: m, a: a, packed: packed, logits: &logits, logSumExp: &lse)
                var worst: Float = 0
                for i in 0 ..< m * n { worst = max(worst, abs(logits[i] - expected[i]) / max(1, abs(expected[i]))) }
                XCTAssertLessThan(worst, 1e-5, "logits m \(m) n \(n) k \(k) split \(split)")
                for i in 0 ..< m {
                    XCTAssertEqual(lse[i], expectedLSE[i], accuracy: 1e-5 * max(1, abs(expectedLSE[i])), "row \(i) m \(m) n \(n) split \(split)")
                }
            }
        }
    }
}
