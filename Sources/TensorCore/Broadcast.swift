/// Numpy-style broadcasting (shapes aligned on the right, size-1 dimensions stretch), with
/// adjacent dimensions coalesced so that common cases become one or two flat loops:
/// same shape → 1 loop; row bias [d] onto [N, d] → N loops of d; a [1, H, q, k] position bias
/// onto [B, H, q, k] scores → B loops of H·q·k.
public struct BroadcastPlan {
    public let outShape: [Int]
    /// Coalesced dimensions with per-operand element strides (0 where broadcast).
    public let dims: [Int]
    public let aStrides: [Int]
    public let bStrides: [Int]

    /// nil when the shapes do not broadcast.
    public init?(_ a: [Int], _ b: [Int]) {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        var out = [Int](repeating: 1, count: rank)
        for i in 0 ..< rank {
            if pa[i] == pb[i] || pb[i] == 1 { out[i] = pa[i] } else if pa[i] == 1 { out[i] = pb[i] } else { return nil }
        }
        outShape = out
        func strides(_ s: [Int]) -> [Int] {
            var r = [Int](repeating: 0, count: rank)
            var acc = 1
            for i in stride(from: rank - 1, through: 0, by: -1) {
                r[i] = s[i] == 1 && out[i] != 1 ? 0 : acc
                acc *= s[i]
            }
            return r
        }
        let sa = strides(pa), sb = strides(pb)
        // Drop size-1 output dims, then merge neighbours whose strides chain for both operands.
        var d: [Int] = [], da: [Int] = [], db: [Int] = []
        for i in 0 ..< rank where out[i] != 1 {
            if let last = d.last,
               da.last! == sa[i] * out[i], db.last! == sb[i] * out[i] {
                d[d.count - 1] = last * out[i]
                da[da.count - 1] = sa[i]
                db[db.count - 1] = sb[i]
            } else {
                d.append(out[i]); da.append(sa[i]); db.append(sb[i])
            }
        }
        if d.isEmpty { d = [1]; da = [1]; db = [1] }
        dims = d; aStrides = da; bStrides = db
    }

    /// Calls `body(aOffset, bOffset, outOffset, innerCount, aInnerStride, bInnerStride)` for each
    /// run of the innermost coalesced dimension.
    @inline(__always)
    public func forEachRun(_ body: (Int, Int, Int, Int, Int, Int) -> Void) {
        let r = dims.count
        let inner = dims[r - 1], ia = aStrides[r - 1], ib = bStrides[r - 1]
        if r == 1 { body(0, 0, 0, inner, ia, ib); return }
        var index = [Int](repeating: 0, count: r - 1)
        var oa = 0, ob = 0, oo = 0
        while true {
            body(oa, ob, oo, inner, ia, ib)
            oo += inner
            var k = r - 2
            while k >= 0 {
                index[k] += 1
                oa += aStrides[k]; ob += bStrides[k]
                if index[k] < dims[k] { break }
                oa -= aStrides[k] * dims[k]; ob -= bStrides[k] * dims[k]
                index[k] = 0
                k -= 1
            }
            if k < 0 { return }
        }
    }
}

public enum BinaryOp { case add, sub, mul }

extension Ops {
    /// out = a ∘ b with broadcasting (either side may broadcast).
    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        guard let plan = BroadcastPlan(a.shape, b.shape) else {
            preconditionFailure("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        let out = Tensor(uninitialized: plan.outShape)
        let pa = a.pointer, pb = b.pointer, po = out.pointer
        if plan.dims.count == 1 && plan.aStrides[0] == 1 && plan.bStrides[0] == 1 {
            Parallel.split(out.count, costPerItem: 1, minimumWork: 1 << 17) { range in
                binaryRun(op, pa + range.lowerBound, 1, pb + range.lowerBound, 1, po + range.lowerBound, range.count)
            }
            return out
        }
        plan.forEachRun { oa, ob, oo, n, sa, sb in binaryRun(op, pa + oa, sa, pb + ob, sb, po + oo, n) }
        return out
    }

    @inline(__always)
    static func binaryRun(_ op: BinaryOp, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                          _ o: UnsafeMutablePointer<Float>, _ n: Int) {
        switch (op, sa, sb) {
        case (.add, 1, 1): for j in 0 ..< n { o[j] = a[j] + b[j] }
        case (.add, 1, 0): let s = b[0]; for j in 0 ..< n { o[j] = a[j] + s }
        case (.add, 0, 1): let s = a[0]; for j in 0 ..< n { o[j] = s + b[j] }
        case (.sub, 1, 1): for j in 0 ..< n { o[j] = a[j] - b[j] }
        case (.sub, 1, 0): let s = b[0]; for j in 0 ..< n { o[j] = a[j] - s }
        case (.sub, 0, 1): let s = a[0]; for j in 0 ..< n { o[j] = s - b[j] }
        case (.mul, 1, 1): for j in 0 ..< n { o[j] = a[j] * b[j] }
        case (.mul, 1, 0): let s = b[0]; for j in 0 ..< n { o[j] = a[j] * s }
        case (.mul, 0, 1): let s = a[0]; for j in 0 ..< n { o[j] = s * b[j] }
        default:
            for j in 0 ..< n {
                let x = a[j * sa], y = b[j * sb]
                o[j] = op == .add ? x + y : op == .sub ? x - y : x * y
            }
        }
    }

    /// target (+)= Σ over broadcast dims of `source` (shape = broadcast of target's shape):
    /// the gradient of a broadcast operand. `scale` multiplies the source (−1 for subtraction).
    public static func reduceBroadcast(_ source: Tensor, into target: Tensor, scale: Float = 1, accumulate: Bool) {
        if source.count == target.count {
            let s = source.pointer, t = target.pointer
            if scale == 1 { Kernels.copyOrAdd(s, t, target.count, accumulate: accumulate) }
            else { Kernels.axpy(scale, s, t, target.count, accumulate: accumulate) }
            return
        }
        guard let plan = BroadcastPlan(source.shape, target.shape), plan.outShape == source.shape else {
            preconditionFailure("cannot reduce \(source.shape) to \(target.shape)")
        }
        if !accumulate { target.fill(0) }
        let s = source.pointer, t = target.pointer
        plan.forEachRun { oa, ob, _, n, sa, sb in
            let src = s + oa, dst = t + ob
            if sb == 0 {
                dst[0] += scale * (sa == 1 ? Kernels.sum(src, n) : { var x: Float = 0; for j in 0 ..< n { x += src[j * sa] }; return x }())
            } else if sa == 1 && sb == 1 {
                for j in 0 ..< n { dst[j] += scale * src[j] }
            } else {
                for j in 0 ..< n { dst[j * sb] += scale * src[j * sa] }
            }
        }
    }
}
