import Foundation
import Support
import T5
import TensorCore
import TextEncoder
import Tokenizer

/// Word knowledge for a T5 trained from scratch (issue 18): the shared token embedding (encoder
/// input, decoder input and tied output) starts from the sentence encoder's view of each
/// SentencePiece piece instead of random vectors. Each piece's text ("▁shampoo" → "shampoo")
/// goes through the encoder; the [pieces, 384] matrix is centred and reduced to d_model by PCA
/// fitted on the pieces; the result is scaled so its elements have the initialiser's standard
/// deviation. Control, unknown, byte and sentinel pieces (and pieces with no text) keep their
/// random rows.
public enum TokenEmbeddingInit {
    public struct Report: Codable, Sendable, Equatable {
        /// Pieces initialised from the encoder, of the vocabulary's size.
        public var covered: Int
        public var vocabulary: Int
        /// Share of the pieces' variance (around their mean) the d_model components keep.
        public var explainedVariance: Double
        public var encoderTokens: Int
        public var seconds: Double
    }

    /// The text the encoder reads for each piece id, or nil for pieces left random.
    public static func pieceTexts(_ tokenizer: Tokenizer) -> [String?] {
        (0 ..< tokenizer.vocabularySize).map { i in
            let id = Int32(i)
            guard tokenizer.kind(ofID: id) == .normal, let piece = tokenizer.piece(forID: id) else { return nil }
            if piece.hasPrefix("<extra_id_") || piece.hasPrefix("<") && piece.hasSuffix(">") { return nil }
            let text = piece.replacingOccurrences(of: "\u{2581}", with: " ").trimmingCharacters(in: .whitespaces)
            return text.isEmpty ? nil : text
        }
    }

    /// Principal directions of `x` ([n, d] row-major, already centred): the top `k`
    /// eigenvectors of the covariance by subspace iteration, as k columns of a [d, k] matrix,
    /// and the share of the variance they hold. Plain loops in Double: the same result under
    /// every BLAS kernel.
    static func principalDirections(_ x: [Float], n: Int, d: Int, k: Int, iterations: Int = 150) -> (basis: [Double], explained: Double) {
        precondition(k <= d && n > 0)
        var cov = [Double](repeating: 0, count: d * d)
        x.withUnsafeBufferPointer { xp in
            var row = [Double](repeating: 0, count: d)
            for r in 0 ..< n {
                for j in 0 ..< d { row[j] = Double(xp[r * d + j]) }
                for a in 0 ..< d {
                    let va = row[a]
                    if va == 0 { continue }
                    for b in a ..< d { cov[a * d + b] += va * row[b] }
                }
            }
        }
        for a in 0 ..< d { for b in a ..< d { cov[a * d + b] /= Double(n); cov[b * d + a] = cov[a * d + b] } }
        let total = (0 ..< d).reduce(0.0) { $0 + cov[$1 * d + $1] }
        // Deterministic start: a fixed pseudo-random [d, k] matrix.
        var g = SeededGenerator(seed: 0x5eed)
        var q = (0 ..< d * k).map { _ in Double.random(in: -1 ... 1, using: &g) }
        // Modified Gram–Schmidt, twice for accuracy. A column that vanishes (the covariance has
        // rank < k) is replaced by a fresh random direction, so the basis stays orthonormal.
        func orthonormalise(_ m: inout [Double]) {
            for c in 0 ..< k {
                for attempt in 0 ..< 4 {
                    var before = 0.0
                    for r in 0 ..< d { before += m[r * k + c] * m[r * k + c] }
                    for _ in 0 ..< 2 {
                        for p in 0 ..< c {
                            var dot = 0.0
                            for r in 0 ..< d { dot += m[r * k + c] * m[r * k + p] }
                            for r in 0 ..< d { m[r * k + c] -= dot * m[r * k + p] }
                        }
                    }
                    var norm = 0.0
                    for r in 0 ..< d { norm += m[r * k + c] * m[r * k + c] }
                    if norm > 1e-20 * max(before, 1e-300), norm > 0 || attempt == 3 {
                        let inv = 1 / max(norm.squareRoot(), 1e-300)
                        for r in 0 ..< d { m[r * k + c] *= inv }
                        break
                    }
                    for r in 0 ..< d { m[r * k + c] = Double.random(in: -1 ... 1, using: &g) }
                }
            }
        }
        orthonormalise(&q)
        var z = [Double](repeating: 0, count: d * k)
        for _ in 0 ..< iterations {
            for i in 0 ..< d * k { z[i] = 0 }
            for a in 0 ..< d {
                for b in 0 ..< d {
                    let c = cov[a * d + b]
                    if c == 0 { continue }
                    for j in 0 ..< k { z[a * k + j] += c * q[b * k + j] }
                }
            }
            orthonormalise(&z)
            swap(&q, &z)
        }
        // Variance kept: trace(Qᵀ C Q).
        var kept = 0.0
        for j in 0 ..< k {
            for a in 0 ..< d {
                var s = 0.0
                for b in 0 ..< d { s += cov[a * d + b] * q[b * k + j] }
                kept += q[a * k + j] * s
            }
        }
        return (q, total > 0 ? kept / total : 0)
    }

    /// Rows [vocabulary, dModel] for the pieces with text (nil for the others), scaled to `std`.
    public static func rows(tokenizer: Tokenizer, encoder: SentenceEncoder, dModel: Int, std: Float)
        -> (rows: [[Float]?], report: Report) {
        let start = Date()
        let texts = pieceTexts(tokenizer)
        let indices = texts.indices.filter { texts[$0] != nil }
        let d = encoder.dimension
        guard !indices.isEmpty else {
            return (texts.map { _ in nil }, Report(covered: 0, vocabulary: texts.count, explainedVariance: 0, encoderTokens: 0, seconds: 0))
        }
        let ids = indices.map { encoder.tokenIDs(texts[$0]!) }
        let vectors = encoder.encode(tokenIDs: ids)
        let n = indices.count
        var x = Array(UnsafeBufferPointer(start: vectors.pointer, count: n * d))
        var mean = [Double](repeating: 0, count: d)
        for r in 0 ..< n { for j in 0 ..< d { mean[j] += Double(x[r * d + j]) } }
        for j in 0 ..< d { mean[j] /= Double(n) }
        for r in 0 ..< n { for j in 0 ..< d { x[r * d + j] -= Float(mean[j]) } }
        let k = min(dModel, d)
        let (basis, explained) = principalDirections(x, n: n, d: d, k: k)
        var projected = [[Float]](repeating: [Float](repeating: 0, count: dModel), count: n)
        var sumSquares = 0.0
        for r in 0 ..< n {
            for j in 0 ..< k {
                var s = 0.0
                for a in 0 ..< d { s += Double(x[r * d + a]) * basis[a * k + j] }
                projected[r][j] = Float(s)
                sumSquares += s * s
            }
        }
        // Scale so the elements' standard deviation (over all dModel columns) is `std`.
        let scale = Float((Double(n * dModel) / max(sumSquares, 1e-30)).squareRoot()) * std
        var out = [[Float]?](repeating: nil, count: texts.count)
        for (r, index) in indices.enumerated() { out[index] = projected[r].map { $0 * scale } }
        let report = Report(covered: n, vocabulary: texts.count, explainedVariance: explained,
                            encoderTokens: ids.reduce(0) { $0 + $1.count }, seconds: Date().timeIntervalSince(start))
        return (out, report)
    }

    /// Overwrites `model.shared` rows with the encoder-derived ones (the model's own initialiser
    /// standard deviation, `initializer_factor`, is the target scale).
    @discardableResult
    public static func apply(to model: T5Model, tokenizer: Tokenizer, encoder: SentenceEncoder) -> Report {
        let dModel = model.config.d_model
        let (rows, report) = rows(tokenizer: tokenizer, encoder: encoder, dModel: dModel, std: model.config.initializer_factor ?? 1)
        let table = model.shared.value
        precondition(table.shape[0] >= rows.count && table.shape[1] == dModel)
        for (i, row) in rows.enumerated() {
            guard let row else { continue }
            for j in 0 ..< dModel { table.pointer[i * dModel + j] = row[j] }
        }
        return report
    }
}
