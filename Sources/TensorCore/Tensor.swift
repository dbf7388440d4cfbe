import Foundation
import Support

/// The raw, 64-byte aligned Float buffer behind a `Tensor`.
///
/// `@unchecked Sendable`: it is a plain buffer; the `Parallel` kernels hand disjoint index ranges
/// of one buffer to the two worker threads, which the compiler cannot prove.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        precondition(count >= 0, "negative element count \(count)")
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        self.count = count
    }

    deinit { pointer.deallocate() }
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
    /// Inverted-dropout mask: each element is 0 with probability `p`, else 1/(1−p). Two 32-bit
    /// draws per generator step, compared with p·2³², filled in two halves from two generators
    /// forked off `generator` (deterministic for a seed, independent of the thread timing).
    public static func dropoutMask(shape: [Int], p: Float, generator: inout SeededGenerator) -> Tensor {
        let mask = Tensor(uninitialized: shape)
        let n = mask.count, keep = 1 / (1 - p)
        let threshold = UInt64(Double(p) * 4_294_967_296.0)
        let forks = [generator.fork(), generator.fork()]
        let mp = mask.pointer
        Parallel.split(2, costPerItem: n, minimumWork: 1 << 16) { parts in
            for part in parts {
                // xoshiro256** inline on the fork's state (the generator's own `next()` is not
                // inlinable across modules and was 10% of a training step).
                let st = forks[part].state
                var s0 = st[0], s1 = st[1], s2 = st[2], s3 = st[3]
                @inline(__always) func next() -> UInt64 {
                    let x = s1 &* 5
                    let result = ((x << 7) | (x >> 57)) &* 9
                    let t = s1 << 17
                    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t
                    s3 = (s3 << 45) | (s3 >> 19)
                    return result
                }
                let lo = part == 0 ? 0 : n / 2, hi = part == 0 ? n / 2 : n
                var i = lo
                while i + 1 < hi {
                    let r = next()
                    mp[i] = (r & 0xFFFF_FFFF) < threshold ? 0 : keep
                    mp[i + 1] = (r >> 32) < threshold ? 0 : keep
                    i += 2
                }
                if i < hi { mp[i] = (next() & 0xFFFF_FFFF) < threshold ? 0 : keep }
            }
        }
        return mask
    }
}
