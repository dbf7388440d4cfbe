import Autograd
import Corpora
import Foundation
import Support
import T5
import TensorCore
import TextEncoder
import Tokenizer

/// Item content in the prompt (issue 18 part 3; the continuous item token of ILM, arXiv
/// 2406.02844): each history item's sentence-encoder embedding (`idgenrec embed`, L2-normalised)
/// goes through a learned projection to d_model and enters the T5 encoder at that item's
/// positions. Recorded in run.json as `RecommenderConfig.itemContent` (nil = off).
public struct ItemContentSettings: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, CaseIterable, Sendable {
        /// The projected vector is added to the embeddings of the item's ID tokens.
        case add
        /// One extra input position per history item, just before its ID tokens: a marker token
        /// (the vocabulary's unknown piece) whose embedding gets the projected vector added.
        case token
    }

    public var mode: Mode
    /// Dimension of the item vectors (384 for all-MiniLM-L6-v2).
    public var dimension: Int
    /// The embeddings file given to `train --item-embeddings`, or nil when train computed them.
    public var source: String?
    /// The encoder folder's content hash and `ItemEmbeddings.textsHash` of the catalog the
    /// vectors were made from (copied from the embeddings file; the run keeps the file itself as
    /// `content_embeddings.safetensors`).
    public var encoderHash: String
    public var textsHash: String

    public init(mode: Mode, dimension: Int, source: String?, encoderHash: String, textsHash: String) {
        self.mode = mode
        self.dimension = dimension
        self.source = source
        self.encoderHash = encoderHash
        self.textsHash = textsHash
    }
}

/// The learned projection from item-vector space to d_model: `weight` [d_model, dimension],
/// zero-initialised so a run starts as the model without content and learns how much to use.
public final class ItemContentProjection: Module {
    public let weight: Variable

    public static let fileName = "content_projection.safetensors"

    public init(dModel: Int, dimension: Int) {
        weight = .parameter(Tensor(zeros: [dModel, dimension]), name: "item_content.weight")
    }

    public func namedParameters() -> [(name: String, parameter: Variable)] { [("item_content.weight", weight)] }

    public func save(to folder: URL) throws {
        try ParameterIO.save(namedParameters(), metadata: ["format": "idgenrec-item-content-1"], to: folder.appendingPathComponent(Self.fileName))
    }

    public func load(from folder: URL) throws {
        let url = folder.appendingPathComponent(Self.fileName)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw RecommenderError.checkpoint(path: folder.path, message: "the run uses item content but \(Self.fileName) is missing")
        }
        try ParameterIO.load(namedParameters(), from: url)
    }
}

/// Item content of one catalog: its item vectors (catalog order, unit rows), the projection and
/// the mode. A class: trainers copied by value share one projection.
public final class ItemContent {
    public let mode: ItemContentSettings.Mode
    /// [items, dimension], L2-normalised rows in catalog order.
    public let vectors: Tensor
    public let projection: ItemContentProjection

    /// The run folder's copy of the item embeddings.
    public static let embeddingsFile = "content_embeddings.safetensors"

    public init(mode: ItemContentSettings.Mode, projection: ItemContentProjection, vectors: Tensor) {
        precondition(vectors.shape.count == 2 && vectors.shape[1] == projection.weight.shape[1],
                     "item content: vectors \(vectors.shape) for a projection \(projection.weight.shape)")
        self.mode = mode
        self.vectors = vectors
        self.projection = projection
    }

    /// Content for `catalog` from `embeddings` (every catalog item must have a vector: a file made
    /// for another catalog is an error naming the first missing item), with a fresh projection.
    public convenience init(mode: ItemContentSettings.Mode, embeddings: ItemEmbeddings, catalog: Catalog, source: String, dModel: Int) throws {
        let vectors = try ItemTokenRunner.contentMatrix(embeddings, catalog: catalog, source: source)
        self.init(mode: mode, projection: ItemContentProjection(dModel: dModel, dimension: embeddings.dimension), vectors: vectors)
    }

    /// The marker token of `token` mode: the unknown piece (never part of an item ID or a
    /// template), else padding.
    public static func marker(_ tokenizer: Tokenizer) -> Int32 { tokenizer.unkID ?? tokenizer.padID ?? 0 }

    /// Input positions that receive item `item`'s content in a prompt: the ID tokens (add) or the
    /// marker just before them (token).
    func positions(_ span: EncodedPrompt.ItemSpan) -> Range<Int> {
        switch mode {
        case .add: return span.range
        case .token: return span.range.lowerBound > 0 ? (span.range.lowerBound - 1) ..< span.range.lowerBound : 0 ..< 0
        }
    }

    /// For a padded batch of prompts (their item spans) of length `length`: the distinct items
    /// (first-seen order) and, per position, the row of `[content of items; 0]` to add.
    func layout(_ spans: [[EncodedPrompt.ItemSpan]], length: Int) -> (items: [Int], index: [Int32]) {
        Self.layout(spans, length: length, positions: positions)
    }

    /// `layout` for any choice of positions per item span (also used by the item-token scheme's
    /// `--item-input add`, which writes at the ID tokens).
    static func layout(_ spans: [[EncodedPrompt.ItemSpan]], length: Int,
                       positions: (EncodedPrompt.ItemSpan) -> Range<Int>) -> (items: [Int], index: [Int32]) {
        var items: [Int] = []
        var row: [Int: Int32] = [:]
        var index = [Int32](repeating: -1, count: spans.count * length)
        for (b, prompt) in spans.enumerated() {
            for span in prompt {
                let r: Int32
                if let known = row[span.item] { r = known } else { r = Int32(items.count); row[span.item] = r; items.append(span.item) }
                for p in positions(span) where p < length { index[b * length + p] = r }
            }
        }
        let none = Int32(items.count)
        for k in index.indices where index[k] < 0 { index[k] = none }
        return (items, index)
    }

    func rows(_ items: [Int]) -> Tensor {
        let dim = vectors.shape[1]
        let out = Tensor(zeros: [items.count, dim])
        for (n, i) in items.enumerated() { (out.pointer + n * dim).update(from: vectors.pointer + i * dim, count: dim) }
        return out
    }

    /// The content term [B, length, d_model] with autograd (the gradient reaches the projection).
    public func addition(_ spans: [[EncodedPrompt.ItemSpan]], length: Int) -> Variable {
        let (items, index) = layout(spans, length: length)
        let d = projection.weight.shape[0]
        if items.isEmpty { return Variable(Tensor(zeros: [spans.count, length, d])) }
        let projected = linear(Variable(rows(items)), weight: projection.weight) // [U, d]
        let table = concat([projected, Variable(Tensor(zeros: [1, d]))], axis: 0) // [U + 1, d]
        return embedding(table, indices: IntTensor(shape: [spans.count, length], values: index))
    }

    /// The same term graph-free, for ranking.
    public func additionTensor(_ spans: [[EncodedPrompt.ItemSpan]], length: Int) -> Tensor {
        let (items, index) = layout(spans, length: length)
        let d = projection.weight.shape[0]
        if items.isEmpty { return Tensor(zeros: [spans.count, length, d]) }
        let projected = Ops.linear(rows(items), weight: projection.weight.value) // [U, d]
        let table = Ops.concat([projected, Tensor(zeros: [1, d])], axis: 0)
        return Ops.embedding(table, indices: IntTensor(shape: [spans.count, length], values: index))
    }

    /// Encoder input embeddings with content, for a training batch: rows of `shared` plus the
    /// content term.
    public func inputEmbeddings(model: T5Model, batch: Seq2SeqBatch, spans: [[EncodedPrompt.ItemSpan]]) -> Variable {
        embedding(model.shared, indices: batch.inputIDs) + addition(spans, length: batch.sourceLength)
    }

    // MARK: run folder

    /// The settings a new run records for `embeddings`.
    public static func settings(mode: ItemContentSettings.Mode, embeddings: ItemEmbeddings, source: String?) -> ItemContentSettings {
        ItemContentSettings(mode: mode, dimension: embeddings.dimension, source: source, encoderHash: embeddings.encoderHash, textsHash: embeddings.textsHash)
    }

    /// Reopens a run's content for `catalog`: the run's embeddings copy (checked against
    /// run.json's record) and the projection of `checkpoint` (nil: a zero projection, e.g.
    /// before the first epoch).
    public static func load(run folder: URL, settings: ItemContentSettings, catalog: Catalog, dModel: Int, checkpoint: URL?) throws -> ItemContent {
        let url = folder.appendingPathComponent(embeddingsFile)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw RecommenderError.checkpoint(path: folder.path, message: "the run uses item content (\(settings.mode.rawValue)) but \(embeddingsFile) is missing")
        }
        let embeddings = try ItemEmbeddings.load(url)
        guard embeddings.textsHash == settings.textsHash, embeddings.dimension == settings.dimension else {
            throw RecommenderError.checkpoint(path: url.path, message: "these item embeddings (texts \(embeddings.textsHash.prefix(12)), \(embeddings.dimension)-d) are not the ones run.json records (texts \(settings.textsHash.prefix(12)), \(settings.dimension)-d)")
        }
        let content = try ItemContent(mode: settings.mode, embeddings: embeddings, catalog: catalog, source: url.path, dModel: dModel)
        if let checkpoint { try content.projection.load(from: checkpoint) }
        return content
    }
}
