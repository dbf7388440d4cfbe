import Foundation
import TensorCore

/// BERT encoder for inference (transformers' `BertModel` without the pooler): word + position +
/// token-type embeddings and LayerNorm, then post-LN blocks (self-attention → dense → residual →
/// LayerNorm; dense → exact GELU → dense → residual → LayerNorm).
///
/// Sequences run *packed*: a batch is the concatenation of its sequences' tokens ([tokens,
/// hidden], no padding), every linear layer is one product over all of them, and attention runs
/// per sequence and head. A padding mask is then unnecessary: transformers' mask adds the most
/// negative float to padded keys, whose softmax weight is exactly 0, so the results agree.
///
/// Shape letters: T tokens in the batch, H hidden size, A heads, D = H / A head size, F FFN size,
/// L one sequence's length.
public final class BertModel: @unchecked Sendable {
    // @unchecked Sendable: every tensor is written once in `init` and only read afterwards.
    public let config: BertConfig

    struct Layer {
        let qkvWeight: Tensor // [3H, H]: query, key, value weights stacked (one product)
        let qkvBias: Tensor // [3H]
        let outputWeight: Tensor // [H, H]
        let outputBias: Tensor // [H]
        let attentionNormWeight: Tensor, attentionNormBias: Tensor // [H]
        let intermediateWeight: Tensor // [F, H]
        let intermediateBias: Tensor // [F]
        let ffnOutputWeight: Tensor // [H, F]
        let ffnOutputBias: Tensor // [H]
        let outputNormWeight: Tensor, outputNormBias: Tensor // [H]
    }

    let wordEmbeddings: Tensor // [vocab, H]
    let positionEmbeddings: Tensor // [maxPositions, H]
    let tokenTypeEmbeddings: Tensor // [types, H]
    let embeddingNormWeight: Tensor, embeddingNormBias: Tensor // [H]
    let layers: [Layer]

    /// Tensors a BERT checkpoint may hold that inference does not use: the pooler (it serves the
    /// next-sentence head; sentence-transformers ignores it), `position_ids`, and in a checkpoint
    /// saved from a `BertFor…` model (keys prefixed `bert.`) the task heads under `cls.`, which
    /// transformers' `BertModel` also drops.
    static func isUnused(_ key: String, prefix: String) -> Bool {
        let inner = key.hasPrefix(prefix) ? String(key.dropFirst(prefix.count)) : key
        return inner == "embeddings.position_ids" || inner.hasPrefix("pooler.") || (!prefix.isEmpty && key.hasPrefix("cls."))
    }

    /// Loads `model.safetensors` strictly: every tensor BertModel needs, with its shape; keys may
    /// carry a `bert.` prefix; a tensor that is neither used nor known to be unused is an error.
    public init(config: BertConfig, weights url: URL) throws {
        self.config = config
        guard FileManager.default.fileExists(atPath: url.path) else { throw EncoderError.missingFile(path: url.path) }
        let file = try SafeTensorsFile(url: url)
        let prefix = file.entries.keys.contains { $0.hasPrefix("bert.") } ? "bert." : ""
        var used = Set<String>()
        func load(_ key: String, _ shape: [Int]) throws -> Tensor {
            let full = prefix + key
            guard let entry = file.entries[full] else {
                throw TensorError.missingTensor(key: full, file: url.path, expectedShape: shape)
            }
            guard entry.shape == shape else {
                throw TensorError.shapeMismatch(key: full, file: url.path, expected: shape, actual: entry.shape)
            }
            used.insert(full)
            return try file.tensor(full)
        }
        let h = config.hidden_size, f = config.intermediate_size
        wordEmbeddings = try load("embeddings.word_embeddings.weight", [config.vocab_size, h])
        positionEmbeddings = try load("embeddings.position_embeddings.weight", [config.max_position_embeddings, h])
        tokenTypeEmbeddings = try load("embeddings.token_type_embeddings.weight", [config.type_vocab_size ?? 2, h])
        embeddingNormWeight = try load("embeddings.LayerNorm.weight", [h])
        embeddingNormBias = try load("embeddings.LayerNorm.bias", [h])
        var layers: [Layer] = []
        for i in 0 ..< config.num_hidden_layers {
            let p = "encoder.layer.\(i)."
            let qkvWeight = Tensor(uninitialized: [3 * h, h]), qkvBias = Tensor(uninitialized: [3 * h])
            for (j, name) in ["query", "key", "value"].enumerated() {
                let w = try load(p + "attention.self.\(name).weight", [h, h])
                let b = try load(p + "attention.self.\(name).bias", [h])
                (qkvWeight.pointer + j * h * h).update(from: w.pointer, count: h * h)
                (qkvBias.pointer + j * h).update(from: b.pointer, count: h)
            }
            layers.append(Layer(
                qkvWeight: qkvWeight, qkvBias: qkvBias,
                outputWeight: try load(p + "attention.output.dense.weight", [h, h]),
                outputBias: try load(p + "attention.output.dense.bias", [h]),
                attentionNormWeight: try load(p + "attention.output.LayerNorm.weight", [h]),
                attentionNormBias: try load(p + "attention.output.LayerNorm.bias", [h]),
                intermediateWeight: try load(p + "intermediate.dense.weight", [f, h]),
                intermediateBias: try load(p + "intermediate.dense.bias", [f]),
                ffnOutputWeight: try load(p + "output.dense.weight", [h, f]),
                ffnOutputBias: try load(p + "output.dense.bias", [h]),
                outputNormWeight: try load(p + "output.LayerNorm.weight", [h]),
                outputNormBias: try load(p + "output.LayerNorm.bias", [h])))
        }
        self.layers = layers
        for key in file.keys where !used.contains(key) && !Self.isUnused(key, prefix: prefix) {
            throw TensorError.unexpectedTensor(key: key, file: url.path, shape: file.entries[key]!.shape)
        }
    }

    /// Matrix multiply-adds per token for a sequence of length `length` (for throughput figures):
    /// the linear layers plus the two attention products.
    public func flopsPerSequence(length: Int) -> Double {
        let h = Double(config.hidden_size), f = Double(config.intermediate_size), l = Double(length)
        let perLayer = 2 * l * (4 * h * h + 2 * h * f) + 2 * 2 * l * l * h
        return perLayer * Double(config.num_hidden_layers)
    }

    /// Last hidden states of a packed batch: `sequences` token ids (token type 0), output
    /// [Σ lengths, H] with each sequence's rows in order.
    public func forward(_ sequences: [[Int32]]) -> Tensor {
        let h = config.hidden_size, f = config.intermediate_size
        let heads = config.num_attention_heads, d = config.headSize
        let lengths = sequences.map(\.count)
        var offsets = [0]
        for l in lengths { offsets.append(offsets.last! + l) }
        let t = offsets.last!
        let x = Tensor(uninitialized: [t, h]) // [T, H]
        if t == 0 { return x }
        precondition(lengths.allSatisfy { $0 <= config.max_position_embeddings }, "sequence longer than max_position_embeddings")

        // Embeddings: word + position + token type 0, then LayerNorm.
        let vocab = config.vocab_size
        Parallel.split(sequences.count, costPerItem: h * (t / max(sequences.count, 1)), minimumWork: 1 << 15) { range in
            for s in range {
                for (p, id) in sequences[s].enumerated() {
                    let row = x.pointer + (offsets[s] + p) * h
                    let idx = Int(id)
                    precondition(idx >= 0 && idx < vocab, "token id \(idx) outside the vocabulary")
                    let w = wordEmbeddings.pointer + idx * h, pe = positionEmbeddings.pointer + p * h
                    let te = tokenTypeEmbeddings.pointer
                    for j in 0 ..< h { row[j] = w[j] + pe[j] + te[j] }
                }
            }
        }
        Kernels.layerNorm(x.pointer, embeddingNormWeight.pointer, embeddingNormBias.pointer, x.pointer,
                          mean: nil, rstd: nil, rows: t, n: h, eps: config.layerNormEps)

        let qkv = Tensor(uninitialized: [t, 3 * h]) // [T, 3H]: per token q | k | v, heads within
        let context = Tensor(uninitialized: [t, h]) // [T, H]
        let inner = Tensor(uninitialized: [t, f]) // [T, F]
        let maxLength = lengths.max()!
        let scale = 1 / Float(d).squareRoot()
        let eps = config.layerNormEps
        // Products that feed a residual accumulate straight into x (beta 1: no zeroing pass, no
        // separate output to read back); every bias is added in the pass that next reads the
        // product (GELU, or bias + LayerNorm), so no pass exists only for a bias.
        for layer in layers {
            product(x, layer.qkvWeight, into: qkv, accumulate: false)
            EncoderKernels.addBias(qkv.pointer, layer.qkvBias.pointer, rows: t, n: 3 * h)
            attention(qkv: qkv, offsets: offsets, heads: heads, headSize: d, maxLength: maxLength, scale: scale, into: context)
            product(context, layer.outputWeight, into: x, accumulate: true) // x += attention output
            EncoderKernels.biasLayerNorm(x.pointer, layer.outputBias.pointer, layer.attentionNormWeight.pointer,
                                         layer.attentionNormBias.pointer, rows: t, n: h, eps: eps)
            product(x, layer.intermediateWeight, into: inner, accumulate: false)
            EncoderKernels.biasGeluErf(inner.pointer, layer.intermediateBias.pointer, rows: t, n: f)
            product(inner, layer.ffnOutputWeight, into: x, accumulate: true) // x += FFN output
            EncoderKernels.biasLayerNorm(x.pointer, layer.ffnOutputBias.pointer, layer.outputNormWeight.pointer,
                                         layer.outputNormBias.pointer, rows: t, n: h, eps: eps)
        }
        return x
    }

    /// out[T, N] (+)= input[T, K] · weightᵀ (PyTorch `Linear` without its bias: weight [N, K]).
    private func product(_ input: Tensor, _ weight: Tensor, into out: Tensor, accumulate: Bool) {
        let rows = input.shape[0], k = input.shape[1], n = weight.shape[0]
        BLAS.gemm(transA: false, transB: true, m: rows, n: n, k: k, a: input.pointer, lda: k,
                  b: weight.pointer, ldb: k, beta: accumulate ? 1 : 0, c: out.pointer, ldc: n)
    }

    /// Self-attention of each sequence separately, per head: softmax(q kᵀ / √D) v, written into
    /// `out` [T, H] (heads side by side, as transformers merges them). The (sequence, head) pairs
    /// are split over the two workers by cost (L² each); each worker has its own score buffer.
    private func attention(qkv: Tensor, offsets: [Int], heads: Int, headSize d: Int, maxLength: Int, scale: Float,
                           into out: Tensor) {
        let h = heads * d, ld = 3 * h
        let count = offsets.count - 1
        var cost = [Int](repeating: 0, count: count * heads + 1)
        for s in 0 ..< count {
            let l = offsets[s + 1] - offsets[s]
            for a in 0 ..< heads { cost[s * heads + a + 1] = cost[s * heads + a] + l * (l + 2 * d) }
        }
        let total = cost.last!
        // The pair where the running cost crosses half: two parts of nearly equal work.
        let middle = cost.firstIndex { $0 * 2 >= total } ?? 0
        let q = qkv.pointer, o = out.pointer
        let work = { (pairs: Range<Int>) in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: maxLength * maxLength) // [L, L]
            defer { scores.deallocate() }
            for pair in pairs {
                let s = pair / heads, a = pair % heads
                let start = offsets[s], l = offsets[s + 1] - start
                let qa = q + start * ld + a * d // query rows of head a, stride 3H
                let ka = qa + h, va = qa + 2 * h
                // scores[L, L] = scale · q kᵀ
                BLAS.serial(transA: false, transB: true, m: l, n: l, k: d, alpha: scale, a: qa, lda: ld, b: ka, ldb: ld,
                            beta: 0, c: scores, ldc: l)
                for r in 0 ..< l { Kernels.softmaxRow(scores + r * l, scores + r * l, l) }
                // out[L, D] (columns of head a) = scores · v
                BLAS.serial(transA: false, transB: false, m: l, n: d, k: l, alpha: 1, a: scores, lda: l, b: va, ldb: ld,
                            beta: 0, c: o + start * h + a * d, ldc: h)
            }
        }
        let pairs = count * heads
        if total < 1 << 15 || !Parallel.splitEnabled || pairs < 2 {
            work(0 ..< pairs)
        } else {
            let cut = min(max(middle, 1), pairs - 1)
            DispatchQueue.concurrentPerform(iterations: 2) { part in work(part == 0 ? 0 ..< cut : cut ..< pairs) }
        }
    }
}

/// Kernels the encoder needs that TensorCore's training engine does not have.
public enum EncoderKernels {
    /// x[r, :] += bias for each of `rows` rows of width `n`.
    public static func addBias(_ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, n: Int) {
        Parallel.split(rows, costPerItem: n, minimumWork: 1 << 16) { range in
            for r in range { Kernels.addInPlaceSerial(bias, x + r * n, n) }
        }
    }

    /// x[r, :] ← GELU(x[r, :] + bias), exact erf form (`geluErf`), in one pass.
    public static func biasGeluErf(_ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, n: Int) {
        Parallel.split(rows, costPerItem: 12 * n, minimumWork: 1 << 15) { range in
            for r in range {
                let xr = x + r * n
                var j = 0
                while j + 16 <= n { store16(geluErf16(load16(xr + j) + load16(bias + j)), xr + j); j += 16 }
                if j < n {
                    let count = n - j
                    storePartial16(geluErf16(loadPartial16(xr + j, count, fill: 0) + loadPartial16(bias + j, count, fill: 0)), xr + j, count)
                }
            }
        }
    }

    /// Post-LN residual, once the product has been accumulated into x: x[r, :] ←
    /// LayerNorm(x[r, :] + bias) · w + b, row by row while the row is in cache (normalised as
    /// `Kernels.layerNorm` does).
    public static func biasLayerNorm(_ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>,
                                     _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, n: Int, eps: Float) {
        Parallel.split(rows, costPerItem: 4 * n, minimumWork: 1 << 15) { range in
            for r in range {
                let xr = x + r * n
                Kernels.addInPlaceSerial(bias, xr, n)
                Kernels.layerNorm(xr, w, b, xr, mean: nil, rstd: nil, rows: 1, n: n, eps: eps)
            }
        }
    }

    /// Exact GELU, x · ½ (1 + erf(x / √2)) (transformers' "gelu" = `torch.nn.functional.gelu`),
    /// not TensorCore's tanh form (`Kernels.gelu`, "gelu_new"), which differs by up to ~5e-4.
    /// erf is Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), the approximation PyTorch's
    /// vectorised CPU erf uses, written with the vector exponential.
    public static func geluErf(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        Parallel.split(n, costPerItem: 12) { range in
            var j = range.lowerBound
            while j + 16 <= range.upperBound {
                store16(geluErf16(load16(x + j)), y + j)
                j += 16
            }
            if j < range.upperBound {
                let count = range.upperBound - j
                storePartial16(geluErf16(loadPartial16(x + j, count, fill: 0)), y + j, count)
            }
        }
    }

    @inline(__always) static func geluErf16(_ v: V16) -> V16 {
        let z = v * 0.707_106_781_186_547_5 // x / √2
        var az = z
        az.replace(with: -z, where: z .< 0)
        let t = 1 / (0.327_591_1 * az + 1)
        var p = V16(repeating: 1.061_405_429)
        p = p * t - 1.453_152_027
        p = p * t + 1.421_413_741
        p = p * t - 0.284_496_736
        p = p * t + 0.254_829_592
        let e = 1 - p * t * vexp(-(az * az)) // erf(|z|)
        var erf = e
        erf.replace(with: -e, where: z .< 0)
        return 0.5 * v * (1 + erf)
    }
}
