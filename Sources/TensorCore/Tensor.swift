import Foundation
import Support
#if canImport(Glibc)
import Glibc
#endif

/// The raw, 64-byte aligned Float buffer behind a `Tensor`.
///
/// `@unchecked Sendable`: it is a plain buffer; the `Parallel` kernels hand disjoint index ranges
/// of one buffer to the two worker threads, which the compiler cannot prove.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// Bytes actually allocated (the size class, for pooled buffers).
    let byteCount: Int

    public init(count: Int) {
        precondition(count >= 0, "negative element count \(count)")
        let (raw, bytes) = BufferPool.allocate(bytes: max(count, 1) * 4)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        byteCount = bytes
        self.count = count
    }

    deinit { BufferPool.release(UnsafeMutableRawPointer(pointer), bytes: byteCount) }
}

/// Recycles large tensor buffers (≥ 64 KB) by size class.
///
/// Why: every op returns a fresh tensor, and a training step frees and re-allocates the same
/// shapes over and over. Through malloc, the heap fragments and keeps growing for tens of steps
/// (1.3 GB after 30 tiny-T5 steps), and each new page costs a kernel page fault and a zeroing
/// on first touch — 7% of a T5 training step in `perf`. Reusing buffers of the same size class
/// skips both. Size classes are 4 per power of two (≤ 25% unused tail, never touched, so it
/// costs address space, not memory). Smaller buffers go straight to malloc, whose bins
/// already recycle them cheaply.
///
/// At most `capacity` bytes are kept; a release that would exceed it empties the pool first
/// (a workload whose shapes change refills it in one step). Thread-safe (one mutex; buffers
/// may be freed on the worker threads).
public enum BufferPool {
    static let minimumBytes = 64 << 10

    /// Most bytes kept for reuse (default 1 GB). `0` disables pooling.
    public static var capacity: Int {
        get { lock(); defer { unlock() }; return state.capacity }
        set { lock(); state.capacity = max(0, newValue); unlock(); if newValue <= 0 { trim() } }
    }

    /// Bytes currently cached (not in use by any tensor).
    public static var cachedBytes: Int { lock(); defer { unlock() }; return state.cached }

    /// Returns every cached buffer to the system allocator.
    public static func trim() {
        lock()
        let lists = state.free
        state.free = [:]
        state.cached = 0
        unlock()
        for (_, list) in lists { for p in list { p.deallocate() } }
    }

    struct State {
        var free: [Int: [UnsafeMutableRawPointer]] = [:]
        var cached = 0
        var capacity = 1 << 30
    }

    nonisolated(unsafe) static var state = State()
    nonisolated(unsafe) static let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    @inline(__always) static func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) static func unlock() { pthread_mutex_unlock(mutex) }

    /// The size class of a request: the next of 4 steps per power of two (1, 1.25, 1.5, 1.75).
    static func sizeClass(_ bytes: Int) -> Int {
        if bytes < minimumBytes { return bytes }
        let top = Int.bitWidth - 1 - (bytes - 1).leadingZeroBitCount // 2^top < bytes ≤ 2^(top+1)
        let step = 1 << (top - 2)
        return (bytes + step - 1) / step * step
    }

    static func allocate(bytes: Int) -> (UnsafeMutableRawPointer, Int) {
        let size = sizeClass(bytes)
        if size >= minimumBytes {
            lock()
            if let p = state.free[size]?.popLast() {
                state.cached -= size
                unlock()
                return (p, size)
            }
            unlock()
        }
        return (UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64), size)
    }

    static func release(_ p: UnsafeMutableRawPointer, bytes: Int) {
        if bytes < minimumBytes { p.deallocate(); return }
        lock()
        if bytes > state.capacity { unlock(); p.deallocate(); return }
        var evicted: [Int: [UnsafeMutableRawPointer]] = [:]
        if state.cached + bytes > state.capacity {
            evicted = state.free
            state.free = [:]
            state.cached = 0
        }
        state.free[bytes, default: []].append(p)
        state.cached += bytes
        unlock()
        for (_, list) in evicted { for q in list { q.deallocate() } }
    }
}

/// A dense, contiguous, row-major `Float` tensor.
///
/// **Reference semantics**: a `Tensor` is a shape plus a shared `TensorStorage`. Copying a
/// `Tensor` value (or `reshaped`) shares the buffer, and writes through `pointer` are seen by
/// every copy. Use `copy()` for an independent buffer. This keeps hot paths free of
/// copy-on-write checks; ops never write into their inputs unless their name says so
/// (`…InPlace`, `accumulate:`).
public struct Tensor: CustomStringConvertible {
    /// Dimensions, outermost first. A scalar has shape `[]` and one element.
    public let shape: [Int]
    public let storage: TensorStorage

    @inline(__always) public var pointer: UnsafeMutablePointer<Float> { storage.pointer }
    @inline(__always) public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// Zero-filled tensor.
    public init(zeros shape: [Int]) {
        self.init(uninitialized: shape)
        pointer.initialize(repeating: 0, count: count)
    }

    /// Tensor whose contents are unspecified (callers overwrite every element).
    public init(uninitialized shape: [Int]) {
        self.shape = shape
        storage = TensorStorage(count: Tensor.elementCount(shape))
    }

    public init(shape: [Int], repeating value: Float) {
        self.init(uninitialized: shape)
        pointer.initialize(repeating: value, count: count)
    }

    public init(shape: [Int], values: [Float]) {
        precondition(Tensor.elementCount(shape) == values.count,
                     "shape \(shape) needs \(Tensor.elementCount(shape)) values, got \(values.count)")
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A rank-0 tensor.
    public init(scalar: Float) { self.init(shape: [], values: [scalar]) }

    /// Shares `storage` under a new shape of the same element count.
    public init(shape: [Int], storage: TensorStorage) {
        precondition(Tensor.elementCount(shape) == storage.count, "shape \(shape) does not match \(storage.count) elements")
        self.shape = shape
        self.storage = storage
    }

    public static func elementCount(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape {
            precondition(d >= 0, "negative dimension in shape \(shape)")
            n *= d
        }
        return n
    }

    /// Samples from N(mean, std²) with `generator`.
    public static func normal(shape: [Int], mean: Float = 0, std: Float, generator: inout SeededGenerator) -> Tensor {
        let t = Tensor(uninitialized: shape)
        let p = t.pointer
        for i in 0 ..< t.count { p[i] = mean + std * generator.nextGaussian() }
        return t
    }

    /// Samples uniformly from [low, high) with `generator`.
    public static func uniform(shape: [Int], low: Float, high: Float, generator: inout SeededGenerator) -> Tensor {
        let t = Tensor(uninitialized: shape)
        let p = t.pointer
        let width = high - low
        for i in 0 ..< t.count { p[i] = low + width * generator.nextFloat() }
        return t
    }

    /// Same buffer, new shape. One dimension may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            var known = 1
            for (i, d) in newShape.enumerated() where i != inferred { known *= d }
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[inferred] = count / known
        }
        return Tensor(shape: resolved, storage: storage)
    }

    /// An independent copy of the data.
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.pointer.update(from: pointer, count: count)
        return t
    }

    /// Overwrites this tensor's elements with `other`'s (same element count).
    public func assign(_ other: Tensor) {
        precondition(other.count == count, "assign: \(other.shape) into \(shape)")
        pointer.update(from: other.pointer, count: count)
    }

    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    public var scalars: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// The single value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item of a tensor with shape \(shape)")
        return pointer[0]
    }

    /// Flat (row-major) element access.
    public subscript(flat i: Int) -> Float {
        get { precondition(i >= 0 && i < count); return pointer[i] }
        nonmutating set { precondition(i >= 0 && i < count); pointer[i] = newValue }
    }

    /// Element access by full index.
    public subscript(_ index: Int...) -> Float {
        get { pointer[flatIndex(index)] }
        nonmutating set { pointer[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) for shape \(shape)")
        var flat = 0
        for (i, d) in shape.enumerated() {
            precondition(index[i] >= 0 && index[i] < d, "index \(index) out of range for shape \(shape)")
            flat = flat * d + index[i]
        }
        return flat
    }

    public var description: String {
        let shown = scalars.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(shown)\(count > 8 ? ", …" : "")])"
    }
}

/// Integer tensor for token ids, labels and other indices (`Int32`, row-major, value semantics:
/// a Swift array underneath).
public struct IntTensor: Equatable, CustomStringConvertible {
    public var shape: [Int]
    public var values: [Int32]

    public init(shape: [Int], values: [Int32]) {
        precondition(Tensor.elementCount(shape) == values.count,
                     "shape \(shape) needs \(Tensor.elementCount(shape)) values, got \(values.count)")
        self.shape = shape
        self.values = values
    }

    public init(shape: [Int], values: [Int]) {
        self.init(shape: shape, values: values.map { Int32(truncatingIfNeeded: $0) })
    }

    public init(shape: [Int], repeating value: Int32) {
        self.init(shape: shape, values: [Int32](repeating: value, count: Tensor.elementCount(shape)))
    }

    public var count: Int { values.count }
    public var rank: Int { shape.count }

    public func reshaped(_ newShape: [Int]) -> IntTensor { IntTensor(shape: newShape, values: values) }

    public var description: String { "IntTensor(\(shape), \(values.prefix(8))\(count > 8 ? "…" : ""))" }
}

extension Tensor {
    /// Inverted-dropout mask: each element is 0 with probability `p`, else 1/(1−p).
    /// Deterministic for a seed, independent of thread timing (see `DropoutKernel`).
    public static func dropoutMask(shape: [Int], p: Float, generator: inout SeededGenerator) -> Tensor {
        let mask = Tensor(uninitialized: shape)
        DropoutKernel.run(count: mask.count, p: p, generator: &generator, DropoutKernel.MaskOnly(mask: mask.pointer))
        return mask
    }

    /// Inverted dropout of `x` in one pass: returns x · mask and the mask (the same mask
    /// `dropoutMask` would draw from this generator state).
    public static func dropout(_ x: Tensor, p: Float, generator: inout SeededGenerator) -> (output: Tensor, mask: Tensor) {
        let mask = Tensor(uninitialized: x.shape), out = Tensor(uninitialized: x.shape)
        DropoutKernel.run(count: x.count, p: p, generator: &generator,
                          DropoutKernel.Scale(x: x.pointer, mask: mask.pointer, out: out.pointer))
        return (out, mask)
    }

    /// x + y · mask in one pass (a residual connection after dropout); returns the sum and the
    /// mask (the one `dropoutMask` would draw from this generator state).
    public static func addDropout(_ x: Tensor, _ y: Tensor, p: Float, generator: inout SeededGenerator) -> (output: Tensor, mask: Tensor) {
        precondition(x.count == y.count, "addDropout: \(x.shape) + \(y.shape)")
        let mask = Tensor(uninitialized: y.shape), out = Tensor(uninitialized: x.shape)
        DropoutKernel.run(count: x.count, p: p, generator: &generator,
                          DropoutKernel.AddScaled(x: x.pointer, y: y.pointer, mask: mask.pointer, out: out.pointer))
        return (out, mask)
    }

    /// relu(x) with inverted dropout in one pass (the T5 feed-forward hidden layer). No mask
    /// is returned: where the output is positive the mask was 1/(1−p), elsewhere the
    /// gradient is 0, so the backward needs only the output.
    public static func reluDropout(_ x: Tensor, p: Float, generator: inout SeededGenerator) -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        DropoutKernel.run(count: x.count, p: p, generator: &generator, DropoutKernel.Relu(x: x.pointer, out: out.pointer))
        return out
    }
}

/// Draws inverted-dropout decisions 16 at a time: 8 xorshift128+ streams run side by side in
/// SIMD lanes (shifts, xors and adds only, so AVX2 runs all of it: xoshiro's 64-bit rotate
/// was scalarised), each 64-bit draw gives two 32-bit uniforms compared with p·2³². The element
/// range is cut in two fixed halves (multiples of 16), each with its own 8 streams forked from
/// `generator`, so masks depend on the seed only, not on threads. The per-chunk work is a
/// generic `Body` so it is specialised into the loop (a closure was an indirect call per
/// chunk). A scalar generator was 7% of a T5 training step.
enum DropoutKernel {
    protocol Body {
        /// Handles elements i ..< i + n (n ≤ 16) with their mask values (0 or 1/(1−p)).
        func callAsFunction(_ i: Int, _ mask: V16, _ n: Int)
    }

    static func run<B: Body>(count n: Int, p: Float, generator: inout SeededGenerator, _ body: B) {
        precondition(p >= 0 && p < 1, "dropout probability \(p) outside [0, 1)")
        let keep = 1 / (1 - p)
        let threshold = UInt32(min(Double(p) * 4_294_967_296.0, 4_294_967_295.0))
        // Per half, 8 lanes × 2 state words (never both zero: SplitMix-seeded forks).
        var seeds: [(SIMD8<UInt64>, SIMD8<UInt64>)] = []
        for _ in 0 ..< 2 {
            var a = SIMD8<UInt64>.zero, b = SIMD8<UInt64>.zero
            for lane in 0 ..< 8 {
                let st = generator.fork().state
                a[lane] = st[0]; b[lane] = st[1] | 1
            }
            seeds.append((a, b))
        }
        let half = (n / 2 + 15) / 16 * 16
        Parallel.split(2, costPerItem: n, minimumWork: 1 << 16) { parts in
            for part in parts {
                var (s0, s1) = seeds[part]
                let lo = part == 0 ? 0 : min(half, n), hi = part == 0 ? min(half, n) : n
                let keepV = V16(repeating: keep), zero = V16(repeating: 0)
                let thr = SIMD16<UInt32>(repeating: threshold)
                var i = lo
                while i < hi {
                    // xorshift128+ (Vigna's 23/17/26) on 8 lanes.
                    var x = s0
                    let y = s1
                    s0 = y
                    x ^= x &<< 23
                    s1 = x ^ y ^ (x &>> 17) ^ (y &>> 26)
                    let u = unsafeBitCast(s1 &+ y, to: SIMD16<UInt32>.self)
                    body(i, keepV.replacing(with: zero, where: u .< thr), min(16, hi - i))
                    i += 16
                }
            }
        }
    }

    struct MaskOnly: Body {
        let mask: UnsafeMutablePointer<Float>
        @inline(__always) func callAsFunction(_ i: Int, _ m: V16, _ n: Int) {
            if n == 16 { store16(m, mask + i) } else { for j in 0 ..< n { mask[i + j] = m[j] } }
        }
    }

    struct Scale: Body {
        let x: UnsafePointer<Float>, mask: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>
        init(x: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
            self.x = UnsafePointer(x); self.mask = mask; self.out = out
        }
        @inline(__always) func callAsFunction(_ i: Int, _ m: V16, _ n: Int) {
            if n == 16 { store16(m, mask + i); store16(load16(x + i) * m, out + i); return }
            for j in 0 ..< n { mask[i + j] = m[j]; out[i + j] = x[i + j] * m[j] }
        }
    }

    struct AddScaled: Body {
        let x: UnsafePointer<Float>, y: UnsafePointer<Float>, mask: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>
        init(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>,
             out: UnsafeMutablePointer<Float>) {
            self.x = UnsafePointer(x); self.y = UnsafePointer(y); self.mask = mask; self.out = out
        }
        @inline(__always) func callAsFunction(_ i: Int, _ m: V16, _ n: Int) {
            if n == 16 { store16(m, mask + i); store16(load16(x + i) + load16(y + i) * m, out + i); return }
            for j in 0 ..< n { mask[i + j] = m[j]; out[i + j] = x[i + j] + y[i + j] * m[j] }
        }
    }

    struct Relu: Body {
        let x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>
        init(x: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) { self.x = UnsafePointer(x); self.out = out }
        @inline(__always) func callAsFunction(_ i: Int, _ m: V16, _ n: Int) {
            if n == 16 {
                let v = load16(x + i), zero = V16(repeating: 0)
                store16((v * m).replacing(with: zero, where: v .< zero), out + i)
                return
            }
            for j in 0 ..< n { out[i + j] = x[i + j] > 0 ? x[i + j] * m[j] : 0 }
        }
    }
}
