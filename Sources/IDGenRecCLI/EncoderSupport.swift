import Corpora
import Foundation
import IDGen
import Support
import TextEncoder

/// The sentence encoder and a catalog's item embeddings for commands that use pretrained
/// knowledge (`ids generate --generator semantic`, `train --token-init encoder`, …).
struct LoadedEncoder {
    let encoder: SentenceEncoder
    let hash: String

    init(explicit: String?) throws {
        let url = EncoderFolder.resolve(explicit: explicit)
        encoder = try SentenceEncoder(folder: url)
        hash = try encoder.folder.contentHash()
        Log.info("encoder \(url.path) (dimension \(encoder.dimension), sha256 \(hash.prefix(12)))")
    }

    /// The same, with `hint` (what the option needs the encoder for, and the way round it) added
    /// to the error when the encoder folder is missing.
    init(explicit: String?, missingHint hint: String) throws {
        do {
            try self.init(explicit: explicit)
        } catch let error as EncoderError {
            guard case .missingFolder = error else { throw error }
            throw ValidationErrorMessage(message: "\(error)\n(\(hint))")
        }
    }

    /// The catalog's item embeddings: reused from `cache` when it was made from the same items,
    /// texts and encoder, else computed (with a progress line) and written there.
    func itemEmbeddings(_ catalog: Catalog, cache: URL, progress: Bool = true) throws -> ItemEmbeddings {
        let texts = IDGeneration.embeddingTexts(catalog)
        let line = ProgressLine("embed items", total: texts.count, unit: "texts", enabled: progress)
        let (embeddings, computed, stale) = try ItemEmbeddings.loadOrCompute(at: cache, ids: catalog.ids, texts: texts, encoder: encoder,
                                                                              encoderHash: hash) { n, _ in line.advance(by: n) }
        if computed {
            line.finish()
            Log.info("item embeddings written to \(cache.path)\(stale.map { " (the old file was stale: \($0))" } ?? "")")
        } else {
            Log.info("item embeddings reused from \(cache.path)")
        }
        return embeddings
    }
}
