import Foundation
import TensorCore

/// A sentence-transformers BERT encoder (all-MiniLM-L6-v2 by default, installed by `make setup`):
/// texts in, one vector per text out, pooled and (when `modules.json` says so) L2-normalised,
/// matching `SentenceTransformer.encode` (docs/encoder.md has the parity figures).
///
///     let encoder = try SentenceEncoder(folder: EncoderFolder.resolve(explicit: nil))
///     let vectors = encoder.encode(["a red lipstick", "matte lip colour"]) // [2, 384]
///
/// Texts are sorted by length and packed into batches without padding (`BertModel`); results do
/// not depend on the order or the batching of the texts.
public final class SentenceEncoder: @unchecked Sendable {
    // @unchecked Sendable: immutable after init (the model is read-only).
    public let folder: EncoderFolder
    public let tokenizer: WordPieceTokenizer
    public let model: BertModel
    /// Token budget of one packed batch: large enough for efficient products ([T, 384] × [384,
    /// 1536]), small enough that the batch's activations stay near the caches. On Beauty: 1024
    /// tokens 7,812 tokens/s, 2048 8,194, 4096 8,145 (one run each, 2026-12-06). Running two
    /// batches side by side, one per core without splitting their products, measured the same
    /// (8,178 / 8,263), so the simpler split-every-product form stays.
    public var tokensPerBatch = 2048

    public convenience init(folder url: URL) throws {
        try self.init(folder: EncoderFolder(url: url))
    }

    public init(folder: EncoderFolder) throws {
        self.folder = folder
        tokenizer = try WordPieceTokenizer(url: folder.tokenizerURL, maxLength: folder.maxSequenceLength)
        if tokenizer.vocabularySize != folder.config.vocab_size {
            throw EncoderError.badField(file: folder.tokenizerURL.path, field: "model.vocab",
                                        expected: "\(folder.config.vocab_size) tokens (vocab_size of config.json)",
                                        found: "\(tokenizer.vocabularySize)")
        }
        model = try BertModel(config: folder.config, weights: folder.weightsURL)
    }

    /// Output dimension (384 for all-MiniLM-L6-v2).
    public var dimension: Int { folder.dimension }

    /// One vector per text, [texts.count, dimension], rows in the order of `texts`.
    /// `progress` is called after each batch with the number of texts and tokens it held.
    public func encode(_ texts: [String], progress: ((_ texts: Int, _ tokens: Int) -> Void)? = nil) -> Tensor {
        encode(tokenIDs: texts.map(tokenIDs), progress: progress)
    }

    /// The model's input ids for `text`, as sentence-transformers makes them: the text stripped
    /// of leading and trailing whitespace (Python `str.strip()`), then tokenised.
    public func tokenIDs(_ text: String) -> [Int32] {
        tokenizer.encode(Self.pythonStripped(text))
    }

    /// `str.strip()`: Python's whitespace (Unicode White_Space plus U+001C–U+001F).
    static func pythonStripped(_ text: String) -> String {
        func isSpace(_ s: Unicode.Scalar) -> Bool { (s.value >= 0x1C && s.value <= 0x1F) || s.properties.isWhitespace }
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        if first == scalars.startIndex && last == scalars.index(before: scalars.endIndex) { return text }
        return String(scalars[first ... last])
    }

    /// As `encode(_:)`, from token ids (`tokenizer.encode` output, specials included).
    public func encode(tokenIDs: [[Int32]], progress: ((_ texts: Int, _ tokens: Int) -> Void)? = nil) -> Tensor {
        let dim = dimension, h = folder.config.hidden_size
        let out = Tensor(zeros: [tokenIDs.count, dim]) // [n, dim]
        let modes = folder.pooling.modes
        forEachBatch(tokenIDs) { indices, states, offsets in
            for (b, i) in indices.enumerated() {
                let rows = states.pointer + offsets[b] * h, l = offsets[b + 1] - offsets[b]
                Self.pool(rows, length: l, hidden: h, modes: modes, into: out.pointer + i * dim)
                if folder.normalize { Self.normalizeL2(out.pointer + i * dim, dim) }
            }
            progress?(indices.count, offsets.last!)
        }
        return out
    }

    /// Token-level last hidden states of each text, [length, hidden] each (the `[CLS]` row
    /// first), before pooling; with the token ids they belong to.
    public func tokenStates(_ texts: [String]) -> [(ids: [Int32], states: Tensor)] {
        let ids = texts.map(tokenIDs)
        let h = folder.config.hidden_size
        var result = [(ids: [Int32], states: Tensor)?](repeating: nil, count: ids.count)
        forEachBatch(ids) { indices, states, offsets in
            for (b, i) in indices.enumerated() {
                let l = offsets[b + 1] - offsets[b]
                let t = Tensor(uninitialized: [l, h])
                t.pointer.update(from: states.pointer + offsets[b] * h, count: l * h)
                result[i] = (ids[i], t)
            }
        }
        return result.map { $0! }
    }

    /// Runs the model over texts sorted by length (longest first), in packed batches of about
    /// `tokensPerBatch` tokens; `body(indices, states [Σ lengths, H], offsets)` sees each batch.
    private func forEachBatch(_ ids: [[Int32]], _ body: (_ indices: [Int], _ states: Tensor, _ offsets: [Int]) -> Void) {
        let order = ids.indices.sorted { ids[$0].count != ids[$1].count ? ids[$0].count > ids[$1].count : $0 < $1 }
        var start = 0
        while start < order.count {
            var end = start, tokens = 0
            while end < order.count && (end == start || tokens + ids[order[end]].count <= tokensPerBatch) {
                tokens += ids[order[end]].count
                end += 1
            }
            let indices = Array(order[start ..< end])
            let batch = indices.map { ids[$0] }
            var offsets = [0]
            for s in batch { offsets.append(offsets.last! + s.count) }
            body(indices, model.forward(batch), offsets)
            start = end
        }
    }

    /// sentence-transformers `Pooling` over one sequence's rows [length, hidden]: the modes'
    /// vectors side by side (every token counts: a packed sequence has no padding).
    static func pool(_ rows: UnsafePointer<Float>, length l: Int, hidden h: Int, modes: [PoolingConfig.Mode],
                     into out: UnsafeMutablePointer<Float>) {
        for (m, mode) in modes.enumerated() {
            let o = out + m * h
            switch mode {
            case .cls:
                o.update(from: rows, count: h)
            case .max:
                o.update(from: rows, count: h)
                for r in 1 ..< max(l, 1) { for j in 0 ..< h where rows[r * h + j] > o[j] { o[j] = rows[r * h + j] } }
            case .mean, .meanSqrtLength:
                // Sum in Double: the reference sums in float32 over at most 512 rows; Double keeps
                // this side's rounding negligible.
                var sum = [Double](repeating: 0, count: h)
                for r in 0 ..< l { for j in 0 ..< h { sum[j] += Double(rows[r * h + j]) } }
                let divisor = mode == .mean ? Double(l) : Double(l).squareRoot()
                for j in 0 ..< h { o[j] = Float(sum[j] / max(divisor, 1e-9)) }
            }
        }
    }

    /// x ← x / max(‖x‖, 1e-12) (`torch.nn.functional.normalize`, as sentence-transformers' Normalize).
    static func normalizeL2(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        var s: Double = 0
        for j in 0 ..< n { s += Double(x[j]) * Double(x[j]) }
        let inv = Float(1 / max(s.squareRoot(), 1e-12))
        for j in 0 ..< n { x[j] *= inv }
    }
}
