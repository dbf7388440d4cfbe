import Corpora
import Foundation
import Recommender
import T5
import TensorCore
import TextEncoder

/// How `serve` ranks an item-token run (`train --scheme item-token`, docs/item-token.md): the
/// prompt of template 0 over the served items' ID tokens, one decoder step, exact top-k over
/// every served item (history items not filtered) — what `ItemTokenRunner.recommend` does — and
/// the output rows of items added while serving (`ItemHead.rows(newItemTokens:embeddings:)`).
///
/// Immutable after `init`: workers score side by side with the snapshot made here.
final class ItemTokenServing: @unchecked Sendable {
    // @unchecked: every property is read-only after init; the model is not trained while serving.
    let model: ItemTokenModel
    /// The inference weights, made once (`ItemTokenModel.inferenceSnapshot`).
    let weights: T5InferenceWeights
    /// The rows of the run's catalog [catalog items, d_model], from the same snapshot.
    let catalogRows: Tensor
    /// Content rows: the sentence encoder that embeds new items' texts (the run's encoder).
    private let encoder: SentenceEncoder?
    /// Why new items cannot get a row, as POST /items answers it: 422 for learned rows (the run
    /// can never score a new item), 501 for content rows without the run's encoder (the server
    /// is not set up for it, as for semantic IDs); nil when they can.
    let noNewRows: ServeError?

    /// `encoderURL` is read only for content rows: it must be the encoder the run's
    /// `item_embeddings.safetensors` was made with (same content hash).
    init(runner: ItemTokenRunner, encoderURL: URL?) {
        model = runner.model
        let snapshot = runner.model.inferenceSnapshot()
        weights = snapshot.weights
        catalogRows = snapshot.rows
        var encoder: SentenceEncoder?
        var reason: ServeError?
        switch runner.settings.rows {
        case .learned:
            reason = ServeError(422, "this item-token run has learned item rows, which exist only for the items it was trained on: a new item has no row to be scored with (train with --item-rows id-mean or content to add items while serving)", field: "items")
        case .idMean:
            break
        case .content, .hybrid:
            let url = runner.folder.appendingPathComponent(ItemEmbeddings.fileName)
            if let encoderURL {
                do {
                    let embeddings = try ItemEmbeddings.load(url)
                    let loaded = try SentenceEncoder(folder: encoderURL)
                    let hash = try loaded.folder.contentHash()
                    if hash == embeddings.encoderHash {
                        encoder = loaded
                    } else {
                        reason = ServeError(501, "this item-token run's content rows were made with encoder sha256 \(embeddings.encoderHash.prefix(12)) (\(url.lastPathComponent)), but serve's encoder \(encoderURL.path) is \(hash.prefix(12)); serve --encoder with the run's encoder to add items", field: "items")
                    }
                } catch {
                    reason = ServeError(501, "this item-token run has content rows: a new item's row needs its sentence embedding, but the run's item embeddings or the encoder \(encoderURL.path) did not load: \(error)", field: "items")
                }
            } else {
                reason = ServeError(501, "this item-token run has content rows: a new item's row needs its sentence embedding, which needs the run's sentence encoder (make setup, or serve --encoder DIR)", field: "items")
            }
        }
        self.encoder = encoder
        noNewRows = reason
    }

    /// Rows [n, d_model] for `items` (indices of `catalog` past its base catalog).
    func rows(of items: [Int], in catalog: ServedCatalog) throws -> Tensor {
        if let noNewRows { throw noNewRows }
        var embeddings: Tensor?
        if let encoder {
            // The texts `idgenrec embed` embeds (`Catalog.text(at:)`).
            embeddings = encoder.encode(items.map { catalog.catalog.text(at: $0) })
        }
        return try model.head.rows(newItemTokens: items.map { catalog.itemTokens[$0] }, embeddings: embeddings)
    }

    /// `catalogRows` followed by the rows of every added item of `catalog`.
    func rows(for catalog: ServedCatalog) throws -> Tensor {
        guard catalog.count > catalog.baseCount else { return catalogRows }
        return Ops.concat([catalogRows, try rows(of: Array(catalog.baseCount ..< catalog.count), in: catalog)], axis: 0)
    }

    /// Exact top-`counts[i]` over the served items for each history (catalog indices, oldest
    /// first), best first; `rows` holds one row per served item.
    func rank(histories: [[Int]], counts: [Int], catalog: ServedCatalog, rows: Tensor, data: RecommenderData) -> [[(index: Int, score: Float)]] {
        let prompts = histories.map {
            data.prompts.encode(history: Array($0.suffix(data.split.historyCap)), template: 0, itemTokens: catalog.itemTokens, userTokens: nil)
        }
        let n = rows.shape[0]
        let scores = model.scores(prompts.map(\.tokens), spans: model.needsSpans ? prompts.map(\.itemSpans) : nil, weights: weights, rows: rows)
        return withExtendedLifetime(scores) { counts.enumerated().map { r, k in topK(scores.pointer + r * n, count: n, k: k) } }
    }
}
