import Autograd
import Support
import TensorCore
import TestSupport
import XCTest

/// The fused and pooled paths added for speed give the same results as the plain ops.
final class FusedOpsTests: XCTestCase {
    func testDropoutMaskRateAndScale() {
        var g = SeededGenerator(seed: 3)
        let n = 1 << 20
        for p: Float in [0.1, 0.5] {
            let m = Tensor.dropoutMask(shape: [n + 7], p: p, generator: &g) // odd length: short last chunk
            var dropped = 0
            for i in 0 ..< m.count {
                let v = m.pointer[i]
                if v == 0 { dropped += 1 } else { XCTAssertEqual(v, 1 / (1 - p)) }
            }
            // Binomial standard deviation at n = 1M is < 0.0005.
            XCTAssertEqual(Double(dropped) / Double(m.count), Double(p), accuracy: 0.003)
        }
        // Both halves draw from their own streams: the halves differ.
        let m = Tensor.dropoutMask(shape: [1 << 17], p: 0.5, generator: &g)
        XCTAssertNotEqual(Array(m.scalars[0 ..< 4096]), Array(m.scalars[(1 << 16) ..< (1 << 16) + 4096]))
    }

    func testFusedDropoutEqualsMaskTimesInput() {
        let x = randn([3, 1000], 1)
        var g1 = SeededGenerator(seed: 5), g2 = SeededGenerator(seed: 5)
        let mask = Tensor.dropoutMask(shape: x.shape, p: 0.3, generator: &g1)
        let (out, mask2) = Tensor.dropout(x, p: 0.3, generator: &g2)
        XCTAssertEqual(mask.scalars, mask2.scalars)
        XCTAssertEqual(out.scalars, Ops.mul(x, mask).scalars)
        XCTAssertEqual(g1, g2)
    }

    func testReluDropoutEqualsDropoutOfRelu() {
        let x = Variable.parameter(randn([5, 333], 2))
        var g1 = SeededGenerator(seed: 8), g2 = SeededGenerator(seed: 8)
        let a = dropout(relu(x), p: 0.25, generator: &g1)
        let b = reluDropout(x, p: 0.25, generator: &g2)
        XCTAssertEqual(a.value.scalars, b.value.scalars)
        let dOut = randn(a.shape, 3)
        a.backward(gradient: dOut)
        let ga = x.grad!.copy()
        x.zeroGrad()
        b.backward(gradient: dOut)
        XCTAssertEqual(ga.scalars, x.grad!.scalars)
        GradCheck().check("reluDropout", inputs: [awayFromZero([4, 9], 4)]) {
            var g = SeededGenerator(seed: 99)
            return reluDropout($0[0], p: 0.3, generator: &g)
        }
    }

    func testAddDropoutEqualsAddOfDropout() {
        let x = Variable.parameter(randn([7, 300], 11)), y = Variable.parameter(randn([7, 300], 12))
        var g1 = SeededGenerator(seed: 4), g2 = SeededGenerator(seed: 4)
        let a = x + dropout(y, p: 0.2, generator: &g1)
        let b = addDropout(x, y, p: 0.2, generator: &g2)
        XCTAssertEqual(a.value.scalars, b.value.scalars)
        let dOut = randn(a.shape, 13)
        a.backward(gradient: dOut)
        let gx = x.grad!.copy(), gy = y.grad!.copy()
        x.zeroGrad(); y.zeroGrad()
        b.backward(gradient: dOut)
        XCTAssertEqual(gx.scalars, x.grad!.scalars)
        XCTAssertEqual(gy.scalars, y.grad!.scalars)
    }

    /// Packed q/k/v (self-attention) and packed k/v (cross-attention) give the values and
    /// gradients of the separate projections.
    func testPackedAttentionEqualsSeparate() {
        let B = 2, T = 5, S = 7, heads = 2, inner = 8
        let bias = randn([heads, T, T], 9)
        for causal in [false, true] {
            let qkv = Variable.parameter(randn([B, T, 3 * inner], 1))
            var none: SeededGenerator? = nil
            let packed = attention(packedQKV: qkv, heads: heads, bias: Variable(bias), causal: causal, generator: &none)
            let q = Variable.parameter(Ops.slice(qkv.value, axis: 2, range: 0 ..< inner))
            let k = Variable.parameter(Ops.slice(qkv.value, axis: 2, range: inner ..< 2 * inner))
            let v = Variable.parameter(Ops.slice(qkv.value, axis: 2, range: 2 * inner ..< 3 * inner))
            let plain = attention(query: q, key: k, value: v, heads: heads, bias: Variable(bias), causal: causal, generator: &none)
            assertClose(packed.value, plain.value, "self-attention causal=\(causal)")
            let dOut = randn(packed.shape, 4)
            packed.backward(gradient: dOut)
            plain.backward(gradient: dOut)
            let joined = Ops.concat([q.grad!, k.grad!, v.grad!], axis: 2)
            assertClose(qkv.grad!, joined, "self-attention gradient causal=\(causal)")
        }
        let q = Variable.parameter(randn([B, T, inner], 5))
        let kv = Variable.parameter(randn([B, S, 2 * inner], 6))
        let mask = Tensor(zeros: [B, S])
        mask.pointer[S - 1] = -1e9
        var none: SeededGenerator? = nil
        let packed = attention(query: q, packedKeyValue: kv, heads: heads, keyMask: mask, generator: &none)
        let q2 = Variable.parameter(q.value.copy())
        let k = Variable.parameter(Ops.slice(kv.value, axis: 2, range: 0 ..< inner))
        let v = Variable.parameter(Ops.slice(kv.value, axis: 2, range: inner ..< 2 * inner))
        let plain = attention(query: q2, key: k, value: v, heads: heads, keyMask: mask, generator: &none)
        assertClose(packed.value, plain.value, "cross-attention")
        let dOut = randn(packed.shape, 7)
        packed.backward(gradient: dOut)
        plain.backward(gradient: dOut)
        assertClose(q.grad!, q2.grad!, "cross-attention query gradient")
        assertClose(kv.grad!, Ops.concat([k.grad!, v.grad!], axis: 2), "cross-attention key/value gradient")
    }

    /// Two attentions reading column blocks of one wider projection (decoder layers sharing
    /// one cross key/value GEMM): the gradient of each block equals the separate one, and a
    /// fresh gradient buffer is not left with garbage in the other block.
    func testColumnBlocksOfOneProjection() {
        let B = 2, T = 3, S = 6, heads = 2, inner = 8
        let kv = Variable.parameter(randn([B, S, 4 * inner], 21))
        let q0 = Variable.parameter(randn([B, T, inner], 22)), q1 = Variable.parameter(randn([B, T, inner], 23))
        var none: SeededGenerator? = nil
        let a0 = attention(query: q0, keysAndValues: kv, keyOffset: 0, valueOffset: inner, heads: heads, generator: &none)
        let a1 = attention(query: q1, keysAndValues: kv, keyOffset: 2 * inner, valueOffset: 3 * inner, heads: heads,
                           generator: &none)
        let parts = (0 ..< 4).map { Variable.parameter(Ops.slice(kv.value, axis: 2, range: $0 * inner ..< ($0 + 1) * inner)) }
        let r0 = attention(query: Variable(q0.value), key: parts[0], value: parts[1], heads: heads, generator: &none)
        let r1 = attention(query: Variable(q1.value), key: parts[2], value: parts[3], heads: heads, generator: &none)
        assertClose(a0.value, r0.value, "block 0")
        assertClose(a1.value, r1.value, "block 1")
        let d0 = randn(a0.shape, 24), d1 = randn(a1.shape, 25)
        sum(a1 * Variable(d1) + a0 * Variable(d0)).backward() // block 1's backward runs first
        sum(r1 * Variable(d1) + r0 * Variable(d0)).backward()
        assertClose(kv.grad!, Ops.concat(parts.map { $0.grad! }, axis: 2), "gradient of the shared projection")
    }

    func testBufferPoolReusesLargeBuffers() {
        let saved = BufferPool.capacity
        defer { BufferPool.capacity = saved }
        BufferPool.trim()
        var a: Tensor? = Tensor(zeros: [100_000])
        let pointer = a!.pointer
        a = nil
        XCTAssertGreaterThan(BufferPool.cachedBytes, 0)
        let b = Tensor(uninitialized: [99_000]) // same size class (400 KB → 448 KB)
        XCTAssertEqual(b.pointer, pointer)
        XCTAssertEqual(BufferPool.cachedBytes, 0)
        // Small buffers are not pooled; capacity 0 disables pooling.
        _ = Tensor(zeros: [100])
        XCTAssertEqual(BufferPool.cachedBytes, 0)
        BufferPool.capacity = 0
        _ = Tensor(zeros: [100_000])
        XCTAssertEqual(BufferPool.cachedBytes, 0)
    }

    func assertClose(_ a: Tensor, _ b: Tensor, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        var worst: Float = 0
        for i in 0 ..< min(a.count, b.count) { worst = max(worst, abs(a.pointer[i] - b.pointer[i])) }
        XCTAssertLessThan(worst, 1e-5, what, file: file, line: line)
    }
}
