import Foundation
import Support
import TensorCore

/// Item text embeddings with what they were made from: one F32 tensor `embeddings` [items, dim]
/// in catalog order, and in the safetensors metadata the item ids, the encoder's content hash
/// and the texts' hash. A cache whose ids, texts or encoder differ is stale: `load` refuses it,
/// `loadOrCompute` rebuilds it.
public struct ItemEmbeddings {
    public static let tensorKey = "embeddings"
    public static let fileName = "item_embeddings.safetensors"

    public let itemIDs: [String]
    public let vectors: Tensor // [items, dim]
    public let encoderHash: String
    public let textsHash: String

    public var dimension: Int { vectors.shape[1] }

    public init(itemIDs: [String], vectors: Tensor, encoderHash: String, textsHash: String) {
        precondition(vectors.rank == 2 && vectors.shape[0] == itemIDs.count, "one row per item")
        self.itemIDs = itemIDs
        self.vectors = vectors
        self.encoderHash = encoderHash
        self.textsHash = textsHash
    }

    /// SHA-256 of the (id, text) pairs in order.
    public static func textsHash(ids: [String], texts: [String]) -> String {
        precondition(ids.count == texts.count, "one text per item")
        var data = Data()
        for (id, text) in zip(ids, texts) {
            data.append(Data(id.utf8)); data.append(0)
            data.append(Data(text.utf8)); data.append(0)
        }
        return SHA256.hexDigest(data)
    }

    /// Embeds `texts` (one per item, catalog order) with `encoder`.
    public static func compute(ids: [String], texts: [String], encoder: SentenceEncoder, encoderHash: String,
                               progress: ((_ texts: Int, _ tokens: Int) -> Void)? = nil) -> ItemEmbeddings {
        ItemEmbeddings(itemIDs: ids, vectors: encoder.encode(texts, progress: progress), encoderHash: encoderHash,
                       textsHash: textsHash(ids: ids, texts: texts))
    }

    public func save(to url: URL) throws {
        let ids = String(decoding: try JSONEncoder().encode(itemIDs), as: UTF8.self)
        try SafeTensors.save([Self.tensorKey: vectors],
                             metadata: ["item_ids": ids, "encoder_sha256": encoderHash, "texts_sha256": textsHash,
                                        "format": "idgenrec item embeddings 1"],
                             to: url)
    }

    /// Reads a file written by `save` (any ids, texts and encoder).
    public static func load(_ url: URL) throws -> ItemEmbeddings {
        let file = try SafeTensorsFile(url: url)
        guard let idsJSON = file.metadata["item_ids"], let encoderHash = file.metadata["encoder_sha256"],
              let textsHash = file.metadata["texts_sha256"] else {
            throw EncoderError.badField(file: url.path, field: "__metadata__", expected: "item_ids, encoder_sha256, texts_sha256",
                                        found: file.metadata.keys.sorted().joined(separator: ", "))
        }
        let ids: [String]
        do { ids = try JSONDecoder().decode([String].self, from: Data(idsJSON.utf8)) } catch {
            throw EncoderError.badField(file: url.path, field: "__metadata__.item_ids", expected: "a JSON array of strings", found: "\(error)")
        }
        let vectors = try file.tensor(tensorKey)
        guard vectors.rank == 2, vectors.shape[0] == ids.count else {
            throw EncoderError.badField(file: url.path, field: tensorKey, expected: "shape [\(ids.count), dim]", found: "\(vectors.shape)")
        }
        return ItemEmbeddings(itemIDs: ids, vectors: vectors, encoderHash: encoderHash, textsHash: textsHash)
    }

    /// Loads `url` and checks it belongs to these items, texts and encoder; a mismatch is
    /// `EncoderError.staleCache` saying what differs.
    public static func load(_ url: URL, ids: [String], texts: [String], encoderHash: String) throws -> ItemEmbeddings {
        let cached = try load(url)
        if cached.itemIDs != ids {
            throw EncoderError.staleCache(path: url.path, reason: "made for \(cached.itemIDs.count) items, "
                + "the catalog has \(ids.count)\(cached.itemIDs.count == ids.count ? " in another order or with other ids" : "")")
        }
        if cached.textsHash != textsHash(ids: ids, texts: texts) {
            throw EncoderError.staleCache(path: url.path, reason: "the item texts changed since it was made")
        }
        if cached.encoderHash != encoderHash {
            throw EncoderError.staleCache(path: url.path, reason: "made with encoder \(cached.encoderHash.prefix(12)), "
                + "this encoder is \(encoderHash.prefix(12))")
        }
        return cached
    }

    /// The cached embeddings at `url` when they match, else computed and written there (run
    /// folders keep theirs as `fileName`, so later steps reuse them). `computed` says which.
    public static func loadOrCompute(at url: URL, ids: [String], texts: [String], encoder: SentenceEncoder, encoderHash: String,
                                     progress: ((_ texts: Int, _ tokens: Int) -> Void)? = nil) throws
        -> (embeddings: ItemEmbeddings, computed: Bool, staleReason: String?) {
        var staleReason: String?
        if FileManager.default.fileExists(atPath: url.path) {
            do {
                return (try load(url, ids: ids, texts: texts, encoderHash: encoderHash), false, nil)
            } catch let EncoderError.staleCache(_, reason) {
                staleReason = reason
            }
        }
        let fresh = compute(ids: ids, texts: texts, encoder: encoder, encoderHash: encoderHash, progress: progress)
        try fresh.save(to: url)
        return (fresh, true, staleReason)
    }

    /// The `count` items nearest to row `index` by cosine (rows are unit vectors when the encoder
    /// normalises; otherwise cosines are computed), best first, `index` itself excluded.
    public func neighbours(of index: Int, count: Int) -> [(index: Int, cosine: Float)] {
        let n = itemIDs.count, d = dimension
        let scores = Tensor(uninitialized: [n])
        BLAS.gemm(transA: false, transB: true, m: 1, n: n, k: d, a: vectors.pointer + index * d, lda: d,
                  b: vectors.pointer, ldb: d, beta: 0, c: scores.pointer, ldc: n)
        var norms = [Float](repeating: 1, count: n)
        for i in 0 ..< n { norms[i] = max(Kernels.dot(vectors.pointer + i * d, vectors.pointer + i * d, d).squareRoot(), 1e-12) }
        let candidates = (0 ..< n).filter { $0 != index }.map { ($0, scores.pointer[$0] / (norms[$0] * norms[index])) }
        return Array(candidates.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(count)).map { (index: $0.0, cosine: $0.1) }
    }
}
