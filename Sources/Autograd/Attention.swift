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
    let B = query.shape[0], T = query.shape[1], inner = query.shape[2]
    let S = key.shape[1]
    precondition(key.shape == [B, S, inner] && value.shape == [B, S, inner] && inner % heads == 0,
                 "attention: query \(query.shape), key \(key.shape), value \(value.shape), \(heads) heads")
    if let bias { precondition(bias.value.count == heads * T * S, "attention: bias \(bias.shape) for [\(heads), \(T), \(S)]") }
    if let keyMask { precondition(keyMask.count == B * S, "attention: key mask \(keyMask.shape) for [\(B), \(S)]") }
    let shape = Attention.Shape(batch: B, queries: T, keys: S, heads: heads, headDim: inner / heads)
    var parents = [query, key, value]
    if let bias { parents.append(bias) }
    let needs = GradMode.isEnabled && parents.contains { $0.requiresGrad }
    var dropMask: Tensor?
    if p > 0, generator != nil {
        precondition(p < 1, "attention dropout \(p) outside [0, 1)")
        dropMask = Tensor.dropoutMask(shape: [B, heads, T, S], p: p, generator: &generator!)
    }
    let probs = needs ? Tensor(uninitialized: [B, heads, T, S]) : nil
    let out = Tensor(uninitialized: [B, T, inner])
    let qv = query.value, kv = key.value, vv = value.value
    Attention.forward(shape, q: qv.pointer, ldq: inner, k: kv.pointer, ldk: inner, v: vv.pointer, ldv: inner,
                      out: out.pointer, ldo: inner, bias: bias?.value.pointer, keyMask: keyMask?.pointer, causal: causal,
                      probabilities: probs?.pointer, dropoutMask: dropMask?.pointer)
    return record(out, parents) { g in
        var dq: Tensor?, dk: Tensor?, dv: Tensor?, db: Tensor?
        var aq = false, ak = false, av = false, ab = false
        if query.requiresGrad { query.withGradBuffer { b, a in dq = b; aq = a } }
        if key.requiresGrad { key.withGradBuffer { b, a in dk = b; ak = a } }
        if value.requiresGrad { value.withGradBuffer { b, a in dv = b; av = a } }
        if let bias, bias.requiresGrad { bias.withGradBuffer { b, a in db = b; ab = a } }
        Attention.backward(shape, dOut: g.pointer, ldo: inner, q: qv.pointer, ldq: inner, k: kv.pointer, ldk: inner,
                           v: vv.pointer, ldv: inner, probabilities: probs!.pointer, dropoutMask: dropMask?.pointer,
                           dq: dq?.pointer, accumulateDq: aq, dk: dk?.pointer, accumulateDk: ak,
                           dv: dv?.pointer, accumulateDv: av, dBias: db?.pointer, accumulateDBias: ab)
    }
}
