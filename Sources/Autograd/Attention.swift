import Support
import TensorCore

/// Differentiable multi-head attention on the projection layout (see `Attention.forward`):
/// query [B, T, H·dk], key / value [B, S, H·dk] → [B, T, H·dk], with an optional additive
/// bias [H, T, S] (T5 relative position bias; receives the gradient summed over the batch),
/// an additive key mask [B, S] (no gradient) and causal masking. No 1/√dk scaling (T5).
/// `dropout` > 0 with a generator drops attention probabilities (inverted dropout, as
/// `nn.functional.dropout` on the weights in Hugging Face T5).
/// key and value must be different Variables from each other and from query.
public func attention(query: Variable, key: Variable, value: Variable, heads: Int, bias: Variable? = nil,
                      keyMask: Tensor? = nil, causal: Bool = false, dropout p: Float = 0,
                      generator: inout SeededGenerator?) -> Variable {
    precondition(query !== key && query !== value && key !== value, "attention: query, key and value must be distinct Variables")
    let inner = query.shape[2]
    precondition(key.shape.count == 3 && value.shape == key.shape && key.shape[2] == inner,
                 "attention: query \(query.shape), key \(key.shape), value \(value.shape)")
    return attentionCore(q: .init(query, 0, inner), k: .init(key, 0, inner), v: .init(value, 0, inner), inner: inner,
                         heads: heads, bias: bias, keyMask: keyMask, causal: causal, p: p, generator: &generator)
}

/// Self-attention from one packed projection `qkv` [B, T, 3·H·dk] (queries, keys and values
/// side by side, as `linear(x, weight: concat([q, k, v], axis: 0))` gives): one GEMM for the
/// three projections and one gradient buffer for their backward. Otherwise as
/// `attention(query:key:value:…)`.
public func attention(packedQKV qkv: Variable, heads: Int, bias: Variable? = nil, keyMask: Tensor? = nil,
                      causal: Bool = false, dropout p: Float = 0, generator: inout SeededGenerator?) -> Variable {
    precondition(qkv.shape.count == 3 && qkv.shape[2] % 3 == 0, "attention: packed qkv \(qkv.shape)")
    let inner = qkv.shape[2] / 3, ld = qkv.shape[2]
    return attentionCore(q: .init(qkv, 0, ld), k: .init(qkv, inner, ld), v: .init(qkv, 2 * inner, ld), inner: inner,
                         heads: heads, bias: bias, keyMask: keyMask, causal: causal, p: p, generator: &generator)
}

/// Attention with keys and values from one packed projection `keyValue` [B, S, 2·H·dk]
/// (cross-attention: `linear(encoderOutput, weight: concat([k, v], axis: 0))`).
public func attention(query: Variable, packedKeyValue kv: Variable, heads: Int, bias: Variable? = nil,
                      keyMask: Tensor? = nil, causal: Bool = false, dropout p: Float = 0,
                      generator: inout SeededGenerator?) -> Variable {
    let inner = query.shape[2]
    precondition(query !== kv && kv.shape.count == 3 && kv.shape[2] == 2 * inner,
                 "attention: query \(query.shape), packed key/value \(kv.shape)")
    return attentionCore(q: .init(query, 0, inner), k: .init(kv, 0, 2 * inner), v: .init(kv, inner, 2 * inner),
                         inner: inner, heads: heads, bias: bias, keyMask: keyMask, causal: causal, p: p,
                         generator: &generator)
}

/// Attention whose keys and values are column blocks of a wider projection `keysAndValues`
/// [B, S, width]: keys at columns `keyOffset ..< keyOffset + inner`, values at `valueOffset …`
/// (the cross-attention keys and values of every decoder layer from one GEMM over the encoder
/// output). The gradient lands in those columns of one buffer.
public func attention(query: Variable, keysAndValues kv: Variable, keyOffset: Int, valueOffset: Int, heads: Int,
                      bias: Variable? = nil, keyMask: Tensor? = nil, causal: Bool = false, dropout p: Float = 0,
                      generator: inout SeededGenerator?) -> Variable {
    let inner = query.shape[2], width = kv.shape.count == 3 ? kv.shape[2] : 0
    precondition(query !== kv && keyOffset >= 0 && valueOffset >= 0 && keyOffset + inner <= width
                 && valueOffset + inner <= width,
                 "attention: query \(query.shape), keys/values \(kv.shape) at columns \(keyOffset), \(valueOffset)")
    return attentionCore(q: .init(query, 0, inner), k: .init(kv, keyOffset, width), v: .init(kv, valueOffset, width),
                         inner: inner, heads: heads, bias: bias, keyMask: keyMask, causal: causal, p: p,
                         generator: &generator)
}

/// A column block `offset ..< offset + inner` of a [B, L, ld] projection.
struct AttentionOperand {
    let variable: Variable
    let offset: Int
    let ld: Int
    init(_ variable: Variable, _ offset: Int, _ ld: Int) { self.variable = variable; self.offset = offset; self.ld = ld }
}

func attentionCore(q: AttentionOperand, k: AttentionOperand, v: AttentionOperand, inner: Int, heads: Int,
                   bias: Variable?, keyMask: Tensor?, causal: Bool, p: Float,
                   generator: inout SeededGenerator?) -> Variable {
    let B = q.variable.shape[0], T = q.variable.shape[1]
    let S = k.variable.shape[1]
    precondition(k.variable.shape[0] == B && v.variable.shape[0] == B && v.variable.shape[1] == S && inner % heads == 0,
                 "attention: query \(q.variable.shape), key \(k.variable.shape), value \(v.variable.shape), \(heads) heads")
    if let bias { precondition(bias.value.count == heads * T * S, "attention: bias \(bias.shape) for [\(heads), \(T), \(S)]") }
    if let keyMask { precondition(keyMask.count == B * S, "attention: key mask \(keyMask.shape) for [\(B), \(S)]") }
    let shape = Attention.Shape(batch: B, queries: T, keys: S, heads: heads, headDim: inner / heads)
    // Distinct parent Variables (q, k and v may share one packed projection).
    var inputs: [Variable] = []
    for o in [q, k, v] where !inputs.contains(where: { $0 === o.variable }) { inputs.append(o.variable) }
    var parents = inputs
    if let bias { parents.append(bias) }
    let needs = GradMode.isEnabled && parents.contains { $0.requiresGrad }
    var dropMask: Tensor?
    if p > 0, generator != nil {
        precondition(p < 1, "attention dropout \(p) outside [0, 1)")
        dropMask = Tensor.dropoutMask(shape: [B, heads, T, S], p: p, generator: &generator!)
    }
    let probs = needs ? Tensor(uninitialized: [B, heads, T, S]) : nil
    let out = Tensor(uninitialized: [B, T, inner])
    let qv = q.variable.value, kv = k.variable.value, vv = v.variable.value
    Attention.forward(shape, q: qv.pointer + q.offset, ldq: q.ld, k: kv.pointer + k.offset, ldk: k.ld,
                      v: vv.pointer + v.offset, ldv: v.ld, out: out.pointer, ldo: inner, bias: bias?.value.pointer,
                      keyMask: keyMask?.pointer, causal: causal, probabilities: probs?.pointer,
                      dropoutMask: dropMask?.pointer)
    return record(out, parents) { g in
        // One gradient buffer (and one overwrite/accumulate decision) per distinct input.
        // A fresh buffer that these operands only partly cover (column blocks of a wider
        // projection) is zeroed first and accumulated into, so its other columns stay valid.
        var buffers: [(Variable, UnsafeMutablePointer<Float>, Bool)] = []
        for x in inputs where x.requiresGrad {
            let covered = [q, k, v].filter { $0.variable === x }.count * inner
            x.withGradBuffer { b, a in
                if !a && covered < x.shape[2] {
                    b.fill(0)
                    buffers.append((x, b.pointer, true))
                } else {
                    buffers.append((x, b.pointer, a))
                }
            }
        }
        func grad(_ o: AttentionOperand) -> (UnsafeMutablePointer<Float>?, Bool) {
            guard let e = buffers.first(where: { $0.0 === o.variable }) else { return (nil, false) }
            return (e.1 + o.offset, e.2)
        }
        let (dq, aq) = grad(q), (dk, ak) = grad(k), (dv, av) = grad(v)
        var db: Tensor?, ab = false
        if let bias, bias.requiresGrad { bias.withGradBuffer { b, a in db = b; ab = a } }
        Attention.backward(shape, dOut: g.pointer, ldo: inner, q: qv.pointer + q.offset, ldq: q.ld,
                           k: kv.pointer + k.offset, ldk: k.ld, v: vv.pointer + v.offset, ldv: v.ld,
                           probabilities: probs!.pointer, dropoutMask: dropMask?.pointer,
                           dq: dq, accumulateDq: aq, dk: dk, accumulateDk: ak,
                           dv: dv, accumulateDv: av, dBias: db?.pointer, accumulateDBias: ab)
    }
}
