import Autograd
import Corpora
import Foundation
import Optim
import Support
import T5
import TensorCore
import TextEncoder

// `--scheme item-token` (issue 20; single-token item IDs after arXiv 2509.03746): the T5 encoder
// reads the same prompt as the textual-ID scheme (the history's textual IDs, template 0 at
// test); the decoder takes ONE step from the start token, and its output h [d_model] scores
// every catalog item through an item output table [items, d_model]: score_i = ⟨h, row_i⟩.
// Top-k is exact over the whole catalog and needs no trie.

/// Settings of the item-token scheme, saved in `run.json` (`RecommenderConfig.itemToken`).
public struct ItemTokenSettings: Codable, Sendable, Equatable {
    /// Where an item's output row comes from.
    public enum Rows: String, Codable, Sendable, CaseIterable {
        /// A free parameter per item (random initialisation).
        case learned
        /// The item's sentence-encoder embedding (`idgenrec embed`) through a learned projection
        /// [d_model, dim]: a new item gets a row from its text.
        case content
        /// The mean of the item's ID-token embeddings (the T5's shared table, trained with it).
        case idMean = "id-mean"
        /// A content row plus a learned per-item residual that starts at zero: the text gives
        /// every item its first row (and an item added later, or on another catalog, its whole
        /// row), and the residual learns what the text does not say, as SASRec's free vector.
        case hybrid

        /// Whether the rows are built from item embeddings (`--item-embeddings`).
        public var readsContent: Bool { self == .content || self == .hybrid }
    }

    public enum Loss: String, Codable, Sendable, CaseIterable {
        /// Full softmax cross-entropy over the catalog.
        case ce
        /// Sampled softmax with logQ correction over in-batch positives and uniform negatives.
        case sampledSoftmax = "sampled-softmax"
        /// Sampled WARP with the corrected rank estimate (CIKM 2024).
        case warp
        /// Sampled LambdaRank with corrected rank estimates (CIKM 2024).
        case lambdarank
    }

    /// Whether the item rows also enter the encoder's input (`--item-input`).
    public enum Input: String, Codable, Sendable, CaseIterable {
        /// The encoder reads the history's ID tokens only.
        case off
        /// Each history item's output row, times √d_model (the scale of a token embedding), is
        /// added to the embeddings of that item's ID tokens: the table is tied between input and
        /// output as SASRec's item embedding is, so the encoder sees each item's collaborative
        /// vector next to its words.
        case add
        /// Each history item is **one** input position: a shared item marker token (the
        /// tokenizer's unknown piece) plus the item's row × √d_model, as SASRec's input is; the
        /// ID words and the ` ; ` separators are not read (`PromptEncoder.itemPlaceholder`), so
        /// the prompt is a third as long. The rows carry everything the encoder knows of an item.
        case replace

        /// Whether the rows enter the encoder's input (`add` and `replace`).
        public var addsRows: Bool { self != .off }
    }

    public var rows: Rows = .learned
    public var loss: Loss = .ce
    /// nil (run.json files written before `--item-input`) = off.
    public var input: Input?
    /// Uniform negatives per batch (shared by its rows) for the sampled losses.
    public var negatives = 1000
    /// The item-embedding file content rows were built from (copied into the run folder).
    public var embeddings: String?
    /// A learned score offset for the items of the prompt's history (`--history-bias learned`):
    /// the model learns from the training targets how likely a user is to pick an item again
    /// (Beauty's and ml-100k's never repeat). nil = off (and run.json files written before).
    public var historyBias: Bool?
    /// Label smoothing of the full-softmax loss (`--label-smoothing`; `ce` only): the target
    /// keeps 1 − ε of the probability and ε is spread uniformly over the catalog. nil = 0 (and
    /// run.json files written before the flag).
    public var labelSmoothing: Float?

    public init(rows: Rows = .learned, loss: Loss = .ce, negatives: Int = 1000, embeddings: String? = nil, input: Input? = nil) {
        self.rows = rows
        self.loss = loss
        self.input = input
        self.negatives = negatives
        self.embeddings = embeddings
    }
}

extension RecommenderConfig {
    /// The scheme name recorded in `run.json` for this scheme (`IDScheme.itemToken`).
    public static let itemTokenScheme = "item-token"
    public var isItemToken: Bool { scheme == Self.itemTokenScheme }
}

/// The item output table: rows [items, d_model] by one of `ItemTokenSettings.Rows`.
public final class ItemHead: Module {
    public let kind: ItemTokenSettings.Rows
    public let itemCount: Int
    /// learned: the rows [items, d_model]; hybrid: the residuals [items, d_model] (zero at the start).
    public let table: Variable?
    /// content and hybrid: the projection [d_model, dim] and the constant embeddings [items, dim].
    public let projection: Variable?
    public private(set) var content: Tensor?
    /// id-mean: the T5's shared embedding [vocab, d_model] and each item's ID tokens.
    let shared: Variable?
    let itemTokens: [[Int32]]
    /// `--history-bias learned`: one scalar [1, 1] added to the score of every item of the
    /// prompt's history (starts at 0).
    public let historyBias: Variable?

    /// `content` is required for `.content` and `.hybrid` rows (unit-norm sentence embeddings,
    /// catalog order).
    public init(kind: ItemTokenSettings.Rows, model: T5Model, itemTokens: [[Int32]], content: Tensor?, historyBias: Bool = false,
                generator: inout SeededGenerator) throws {
        self.kind = kind
        self.historyBias = historyBias ? .parameter(Tensor(zeros: [1, 1]), name: "history_bias") : nil
        self.itemTokens = itemTokens
        itemCount = itemTokens.count
        let d = model.config.d_model
        switch kind {
        case .learned:
            // Scores ⟨h, row⟩ with h the RMS-normed decoder output (entries ≈ 1, norm ≈ √d; see
            // `ItemTokenModel.hidden`): rows of std 1/√d start with logits of order 1.
            table = .parameter(Tensor.normal(shape: [itemCount, d], std: 1 / Float(d).squareRoot(), generator: &generator), name: "item_table")
            projection = nil
            shared = nil
        case .content, .hybrid:
            guard let content, content.rank == 2, content.shape[0] == itemCount else {
                throw RecommenderError.invalidInput("\(kind.rawValue) rows need one item embedding per catalog item (\(itemCount))")
            }
            self.content = content
            // Unit-norm inputs: a projection of std 1/√d gives rows of std ≈ 1/√d per coordinate.
            projection = .parameter(Tensor.normal(shape: [d, content.shape[1]], std: 1 / Float(d).squareRoot(), generator: &generator),
                                    name: "item_projection")
            table = kind == .hybrid ? .parameter(Tensor(zeros: [itemCount, d]), name: "item_residual") : nil
            shared = nil
        case .idMean:
            table = nil
            projection = nil
            shared = model.shared
        }
    }

    /// Trainable parameters of the head itself (id-mean has none: it trains the T5's table).
    public func namedParameters() -> [(name: String, parameter: Variable)] {
        let bias = historyBias.map { [("history_bias", $0)] } ?? []
        switch kind {
        case .learned: return [("item_table", table!)] + bias
        case .content: return [("item_projection", projection!)] + bias
        case .hybrid: return [("item_projection", projection!), ("item_residual", table!)] + bias
        case .idMean: return bias
        }
    }

    /// Replaces the item set (zero-shot on another catalog): content rows from new embeddings,
    /// id-mean rows from new ID tokens, hybrid rows as content rows (the new items' residuals are
    /// zero). Learned rows cannot move to another catalog.
    public func retargeted(itemTokens: [[Int32]], content: Tensor?, model: T5Model) throws -> ItemHead {
        guard kind != .learned else {
            throw RecommenderError.invalidInput("learned item rows exist only for the training catalog; train with --item-rows content or id-mean for zero-shot")
        }
        var g = SeededGenerator(seed: 0)
        let head = try ItemHead(kind: kind, model: model, itemTokens: itemTokens, content: content, historyBias: historyBias != nil, generator: &g)
        if let projection, let p = head.projection { p.value.assign(projection.value) }
        if let historyBias, let b = head.historyBias { b.value.assign(historyBias.value) }
        return head
    }

    /// Rows of `items` (nil = the whole catalog, in catalog order): [n, d_model].
    public func rows(_ items: [Int]? = nil) -> Variable {
        switch kind {
        case .learned:
            guard let items else { return table! }
            return embedding(table!, indices: IntTensor(shape: [items.count], values: items.map(Int32.init)))
        case .content, .hybrid:
            let e: Tensor
            if let items {
                e = Ops.embedding(content!, indices: IntTensor(shape: [items.count], values: items.map(Int32.init)))
            } else {
                e = content!
            }
            let projected = linear(Variable(e), weight: projection!) // [n, d_model]
            guard kind == .hybrid else { return projected }
            guard let items else { return projected + table! }
            return projected + embedding(table!, indices: IntTensor(shape: [items.count], values: items.map(Int32.init)))
        case .idMean:
            return Self.idMeanRows(shared: shared!, tokens: (items ?? Array(0 ..< itemCount)).map { itemTokens[$0] })
        }
    }

    /// id-mean rows of items with these ID tokens: the mean of each item's token embeddings.
    static func idMeanRows(shared: Variable, tokens items: [[Int32]]) -> Variable {
        var flat: [Int32] = [], offsets = [0]
        for tokens in items { flat += tokens; offsets.append(flat.count) }
        let tokens = embedding(shared, indices: IntTensor(shape: [flat.count], values: flat)) // [T, d_model]
        // T5's token embeddings have std ≈ 1; 1/√d puts the rows on the scale of the others.
        return segmentMean(tokens, offsets: offsets) * (1 / Float(shared.shape[1]).squareRoot()) // [n, d_model]
    }

    /// Rows [n, d_model] (no graph) for items the head was not built with, such as items added
    /// while serving: id-mean rows from each item's ID tokens (without eos, as `itemTokens`);
    /// content rows from each item's sentence embedding (`embeddings` [n, dim], unit-normalised
    /// here as `ItemTokenRunner.contentMatrix` does) through the trained projection; hybrid rows
    /// the same (a new item's residual is zero: nothing was learned about it). Each row is
    /// computed on its own, so an item's row does not depend on which items come with it.
    /// Learned rows exist only for the items trained: an error says so.
    public func rows(newItemTokens tokens: [[Int32]], embeddings: Tensor?) throws -> Tensor {
        switch kind {
        case .learned:
            throw RecommenderError.invalidInput("learned item rows exist only for the items the run was trained on; a new item has no row (train with --item-rows id-mean or content to add items)")
        case .idMean:
            let d = shared!.shape[1]
            return GradMode.withoutGradients {
                let out = Tensor(zeros: [tokens.count, d])
                for (i, t) in tokens.enumerated() {
                    precondition(!t.isEmpty, "id-mean rows: item \(i) has no ID tokens")
                    let row = Self.idMeanRows(shared: shared!, tokens: [t]).value
                    withExtendedLifetime(row) { (out.pointer + i * d).update(from: row.pointer, count: d) }
                }
                return out
            }
        case .content, .hybrid:
            guard let embeddings, embeddings.rank == 2, embeddings.shape[0] == tokens.count, let projection, embeddings.shape[1] == projection.shape[1] else {
                throw RecommenderError.invalidInput("content rows: expected one sentence embedding of dimension \(projection?.shape[1] ?? 0) per new item (\(tokens.count)), found shape \(embeddings?.shape ?? [])")
            }
            let dim = embeddings.shape[1], d = projection.shape[0]
            return GradMode.withoutGradients {
                let out = Tensor(zeros: [tokens.count, d])
                let unit = Tensor(zeros: [1, dim])
                for i in 0 ..< tokens.count {
                    Self.normalise(embeddings.pointer + i * dim, into: unit.pointer, count: dim)
                    let row = Ops.linear(unit, weight: projection.value)
                    withExtendedLifetime(row) { (out.pointer + i * d).update(from: row.pointer, count: d) }
                }
                return out
            }
        }
    }

    /// `dst` = `src` / |src| (zeros stay zeros): the normalisation of content rows.
    static func normalise(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count dim: Int) {
        var norm: Float = 0
        for j in 0 ..< dim { norm += src[j] * src[j] }
        let scale = norm > 0 ? 1 / norm.squareRoot() : 0
        for j in 0 ..< dim { dst[j] = src[j] * scale }
    }

    public func save(to url: URL) throws {
        try ParameterIO.save(namedParameters(), metadata: ["rows": kind.rawValue], to: url)
    }

    public func load(from url: URL) throws {
        guard !namedParameters().isEmpty else { return }
        try ParameterIO.load(namedParameters(), from: url)
    }
}

/// The T5 encoder-decoder with an item head: one decoder step, scores over the catalog.
public struct ItemTokenModel {
    public let t5: T5Model
    public let head: ItemHead
    /// `--item-input`: whether the head's rows are added at the history items' ID tokens (`add`)
    /// or at their one marker position each (`replace`; the prompt was built so).
    public let input: ItemTokenSettings.Input

    public init(t5: T5Model, head: ItemHead, input: ItemTokenSettings.Input? = nil) {
        self.t5 = t5
        self.head = head
        self.input = input ?? .off
    }

    /// Where the item rows enter a padded batch of prompts of length `length`: the distinct
    /// history items (first-seen order) and, per position, the row of `[√d·rows(items); 0]`.
    static func inputLayout(_ spans: [[EncodedPrompt.ItemSpan]], length: Int) -> (items: [Int], index: IntTensor) {
        let (items, index) = ItemContent.layout(spans, length: length, positions: \.range)
        return (items, IntTensor(shape: [spans.count, length], values: index))
    }

    /// `replace` rows go to one position per history item: prompts built with words there would
    /// silently train as `add`.
    static func spansFit(_ input: ItemTokenSettings.Input, _ spans: [[EncodedPrompt.ItemSpan]]) -> Bool {
        input != .replace || spans.allSatisfy { $0.allSatisfy { $0.range.count == 1 } }
    }

    /// The spans the input term needs (`add`, `replace`), checked: one list per source and, for
    /// `replace`, one position per item.
    func checkedSpans(_ spans: [[EncodedPrompt.ItemSpan]]?, sources: Int) -> [[EncodedPrompt.ItemSpan]] {
        guard let spans, spans.count == sources else { preconditionFailure("item-token: --item-input \(input.rawValue) needs the item spans of every source") }
        precondition(Self.spansFit(input, spans), "item-token: --item-input replace needs prompts with one position per history item (PromptEncoder.itemPlaceholder)")
        return spans
    }

    /// The encoder's input embeddings [B, S, d_model] with the item rows added (autograd: the
    /// gradient reaches the rows and the token table).
    func inputEmbeddings(ids: IntTensor, spans: [[EncodedPrompt.ItemSpan]]) -> Variable {
        let d = t5.config.d_model
        let (items, index) = Self.inputLayout(spans, length: ids.shape[1])
        let tokens = embedding(t5.shared, indices: ids)
        guard !items.isEmpty else { return tokens }
        let rows = head.rows(items) * Float(d).squareRoot() // [U, d]
        let table = concat([rows, Variable(Tensor(zeros: [1, d]))], axis: 0)
        return tokens + embedding(table, indices: index)
    }

    /// The same graph-free from a snapshot of all rows [items, d_model].
    func inputEmbeddings(ids: IntTensor, spans: [[EncodedPrompt.ItemSpan]], rows all: Tensor) -> Tensor {
        let d = t5.config.d_model
        let (items, index) = Self.inputLayout(spans, length: ids.shape[1])
        let tokens = Ops.embedding(t5.shared.value, indices: ids)
        guard !items.isEmpty else { return tokens }
        let rows = Ops.scale(Ops.embedding(all, indices: IntTensor(shape: [items.count], values: items.map(Int32.init))), Float(d).squareRoot())
        let table = Ops.concat([rows, Tensor(zeros: [1, d])], axis: 0)
        return Ops.add(tokens, Ops.embedding(table, indices: index))
    }

    public func namedParameters() -> [(name: String, parameter: Variable)] { t5.namedParameters() + head.namedParameters() }

    /// Whether scoring needs each prompt's item spans: for the input term (`add`, `replace`) or
    /// for the history bias (which items the prompt holds).
    public var needsSpans: Bool { input.addsRows || head.historyBias != nil }

    /// [B, columns] with 1 where column c's item (`columns[c]`, nil = catalog order) is in prompt
    /// b's history (`spans[b]`), else 0.
    static func historyMask(_ spans: [[EncodedPrompt.ItemSpan]], columns: [Int]?, count n: Int) -> Tensor {
        let mask = Tensor(zeros: [spans.count, n])
        var column: [Int: Int] = [:]
        if let columns { for (c, item) in columns.enumerated() { column[item] = c } }
        for (b, items) in spans.enumerated() {
            for span in items {
                guard let c = columns == nil ? span.item : column[span.item] else { continue }
                mask.pointer[b * n + c] = 1
            }
        }
        return mask
    }

    /// `logits` [B, columns] plus the history bias at each prompt's history items (unchanged without one).
    func withHistoryBias(_ logits: Variable, spans: [[EncodedPrompt.ItemSpan]]?, columns: [Int]? = nil) -> Variable {
        guard let bias = head.historyBias else { return logits }
        guard let spans, spans.count == logits.shape[0] else { preconditionFailure("item-token: --history-bias needs the item spans of every source") }
        return logits + bias * Variable(Self.historyMask(spans, columns: columns, count: logits.shape[1]))
    }

    /// Decoder output of the single step from the start token: [B, d_model], the RMS-normed
    /// state without the tied head's d^-0.5 rescale. With the rescale (|h| ≈ 1) an Adam step of
    /// size lr moves a logit by only ≈ lr·√d, and on Beauty the full-softmax loss stayed at the
    /// uniform level (ln 12,101) for the first 800 batches; unscaled it moves √d times faster,
    /// the regime of SASRec's output layer.
    /// `spans` (the history items' positions in each source) are needed with `--item-input add`.
    public func hidden(_ sources: [[Int32]], spans: [[EncodedPrompt.ItemSpan]]? = nil, dropout: inout SeededGenerator?) -> Variable {
        let (ids, mask) = Seq2SeqBatch.pad(sources, with: Int32(t5.config.pad_token_id))
        let start = IntTensor(shape: [sources.count, 1], values: [Int32](repeating: Int32(t5.config.decoder_start_token_id), count: sources.count))
        let h: Variable
        if input.addsRows {
            h = t5.decoderHidden(inputEmbeddings: inputEmbeddings(ids: ids, spans: checkedSpans(spans, sources: sources.count)), attentionMask: mask, decoderInputs: start, dropout: &dropout)
                .reshaped([sources.count, t5.config.d_model])
        } else {
            h = t5.decoderHidden(inputIDs: ids, attentionMask: mask, decoderInputs: start, dropout: &dropout)
                .reshaped([sources.count, t5.config.d_model])
        }
        return t5.config.scalesDecoderOutput ? h * Float(t5.config.d_model).squareRoot() : h
    }

    /// Scores [B, items] (no graph), on the generation path (`T5InferenceWeights`, the engine
    /// beam search uses). `weights` and `rows` are snapshots of the current parameters: pass
    /// them when scoring many batches with fixed weights.
    public func scores(_ sources: [[Int32]], spans: [[EncodedPrompt.ItemSpan]]? = nil, weights: T5InferenceWeights? = nil, rows: Tensor? = nil) -> Tensor {
        GradMode.withoutGradients {
            let (ids, mask) = Seq2SeqBatch.pad(sources, with: Int32(t5.config.pad_token_id))
            let rows = rows ?? head.rows().value
            let w = weights ?? T5InferenceWeights(t5)
            var h: Tensor // [B, d_model]
            if input.addsRows {
                h = w.firstDecoderHidden(inputEmbeddings: inputEmbeddings(ids: ids, spans: checkedSpans(spans, sources: sources.count), rows: rows), attentionMask: mask)
            } else {
                h = w.firstDecoderHidden(inputIDs: ids, attentionMask: mask)
            }
            if t5.config.scalesDecoderOutput { h = Ops.scale(h, Float(t5.config.d_model).squareRoot()) }
            let scores = Ops.linear(h, weight: rows) // [B, items]
            if let bias = head.historyBias {
                guard let spans, spans.count == sources.count else { preconditionFailure("item-token: --history-bias needs the item spans of every source") }
                let beta = bias.value.pointer[0], n = scores.shape[1]
                for (b, items) in spans.enumerated() {
                    for item in Set(items.map(\.item)) { scores.pointer[b * n + item] += beta }
                }
            }
            return scores
        }
    }

    /// A snapshot of what `scores` needs, for scoring many batches with fixed weights.
    public func inferenceSnapshot() -> (weights: T5InferenceWeights, rows: Tensor) {
        GradMode.withoutGradients { (T5InferenceWeights(t5), head.rows().value.copy()) }
    }

    /// Training loss of a batch (`targets`: catalog indices). `popularity[i]`: item i's share of
    /// the training targets (for the logQ correction); `rng` draws the uniform negatives.
    public func loss(sources: [[Int32]], spans: [[EncodedPrompt.ItemSpan]]? = nil, targets: [Int], settings: ItemTokenSettings, popularity: [Double],
                     dropout: inout SeededGenerator?, rng: inout SeededGenerator) -> Variable {
        let h = hidden(sources, spans: spans, dropout: &dropout) // [B, d_model]
        let n = head.itemCount, b = targets.count
        if settings.loss == .ce {
            let logits = withHistoryBias(linear(h, weight: head.rows()), spans: spans) // [B, items]
            return crossEntropy(logits, targets: IntTensor(shape: [b], values: targets.map(Int32.init)), labelSmoothing: settings.labelSmoothing ?? 0)
        }
        let c = ItemTokenCandidates.draw(targets: targets, negatives: settings.negatives, catalog: n, rng: &rng)
        let logits = withHistoryBias(linear(h, weight: head.rows(c.items)), spans: spans, columns: c.items) // [B, C]
        switch settings.loss {
        case .sampledSoftmax:
            let k = Double(c.uniformColumns.count)
            let logQ = c.items.map { Float(Foundation.log(Double(b) * popularity[$0] + k / Double(n))) }
            return sampledSoftmaxLoss(logits, targets: c.targetColumns, logQ: logQ)
        case .warp:
            return sampledWARPLoss(logits, targets: c.targetColumns, uniform: c.uniformColumns, catalog: n)
        case .lambdarank:
            return sampledLambdaRankLoss(logits, targets: c.targetColumns, uniform: c.uniformColumns, catalog: n)
        case .ce:
            preconditionFailure("handled above")
        }
    }
}

/// The candidate columns of a sampled batch: the batch's positives and `negatives` items drawn
/// uniformly without replacement from the catalog, each item once.
public struct ItemTokenCandidates: Equatable {
    public var items: [Int]
    /// Column of each row's positive.
    public var targetColumns: [Int]
    /// Columns of the uniform draws (an item both drawn and a positive counts as drawn).
    public var uniformColumns: [Int]

    public static func draw(targets: [Int], negatives: Int, catalog: Int, rng: inout SeededGenerator) -> ItemTokenCandidates {
        var column: [Int: Int] = [:]
        var items: [Int] = []
        func add(_ i: Int) -> Int {
            if let c = column[i] { return c }
            column[i] = items.count
            items.append(i)
            return items.count - 1
        }
        let targetColumns = targets.map(add)
        // Floyd's algorithm: `negatives` distinct items uniformly without replacement.
        let m = min(negatives, catalog)
        var drawn = Set<Int>()
        var order: [Int] = []
        for j in (catalog - m) ..< catalog {
            let t = Int(rng.next() % UInt64(j + 1))
            let pick = drawn.contains(t) ? j : t
            drawn.insert(pick)
            order.append(pick)
        }
        let uniformColumns = order.map(add)
        return ItemTokenCandidates(items: items, targetColumns: targetColumns, uniformColumns: uniformColumns)
    }
}

/// Top-k of a score row, best first (ties: lower index first): exact, O(n·k).
public func topK(_ scores: UnsafePointer<Float>, count n: Int, k: Int) -> [(index: Int, score: Float)] {
    var best: [(index: Int, score: Float)] = []
    best.reserveCapacity(k + 1)
    for i in 0 ..< n {
        let s = scores[i]
        if best.count == k, let last = best.last, !(s > last.score) { continue }
        var pos = best.count
        while pos > 0, s > best[pos - 1].score { pos -= 1 }
        best.insert((i, s), at: pos)
        if best.count > k { best.removeLast() }
    }
    return best
}
