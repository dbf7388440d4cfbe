import Autograd
import Foundation
import Optim
@testable import Recommender
import Support
import T5
import TensorCore
import XCTest

/// The item-token scheme (issue 20): item rows, candidates, exact top-k, gradients through the
/// head, and that each loss trains a tiny model on a deterministic next-item rule.
final class ItemTokenTests: XCTestCase {
    let items = 12

    func tinyModel(seed: UInt64) throws -> T5Model {
        var g = SeededGenerator(seed: seed)
        var c = T5Config.preset(.tiny, vocabularySize: 64)
        c.dropout_rate = 0
        return try T5Model(config: c, generator: &g)
    }

    /// Item i's ID is the tokens [20 + i, 40 + i % 3] (id-mean rows share the second token).
    var itemTokens: [[Int32]] { (0 ..< items).map { [Int32(20 + $0), Int32(40 + $0 % 3)] } }

    func content(dim: Int = 6) -> Tensor {
        var g = SeededGenerator(seed: 9)
        return Tensor.normal(shape: [items, dim], std: 1, generator: &g)
    }

    func head(_ kind: ItemTokenSettings.Rows, _ model: T5Model) throws -> ItemHead {
        var g = SeededGenerator(seed: 3)
        return try ItemHead(kind: kind, model: model, itemTokens: itemTokens, content: kind.readsContent ? content() : nil, generator: &g)
    }

    func testRowsFollowTheirDefinition() throws {
        let model = try tinyModel(seed: 1)
        let d = model.config.d_model
        let idMean = try head(.idMean, model).rows().value
        XCTAssertEqual(idMean.shape, [items, d])
        let shared = model.shared.value.pointer
        for i in [0, 5, 11] {
            for j in 0 ..< d {
                let expected = (shared[(20 + i) * d + j] + shared[(40 + i % 3) * d + j]) / 2 / Float(d).squareRoot()
                XCTAssertEqual(idMean.pointer[i * d + j], expected, accuracy: 1e-5)
            }
        }
        let c = try head(.content, model)
        let rows = c.rows().value, e = c.content!, p = c.projection!.value
        for i in [0, 7] {
            for j in 0 ..< d {
                var v: Float = 0
                for k in 0 ..< e.shape[1] { v += e.pointer[i * e.shape[1] + k] * p.pointer[j * e.shape[1] + k] }
                XCTAssertEqual(rows.pointer[i * d + j], v, accuracy: 1e-4)
            }
        }
        // A subset of rows equals the same rows of the full table, for every kind.
        for kind in ItemTokenSettings.Rows.allCases {
            let h = try head(kind, model)
            let all = h.rows().value, some = h.rows([3, 0, 9]).value
            for (r, i) in [3, 0, 9].enumerated() {
                for j in 0 ..< d { XCTAssertEqual(some.pointer[r * d + j], all.pointer[i * d + j], accuracy: 1e-5, "\(kind)") }
            }
        }
        // Content rows move to another catalog with the trained projection; learned rows cannot.
        var g = SeededGenerator(seed: 77)
        let newContent = Tensor.normal(shape: [5, 6], std: 1, generator: &g)
        let other = try c.retargeted(itemTokens: Array(itemTokens.prefix(5)), content: newContent, model: model)
        XCTAssertEqual(other.rows().shape, [5, d])
        XCTAssertEqual(other.projection!.value.scalars, c.projection!.value.scalars)
        XCTAssertThrowsError(try head(.learned, model).retargeted(itemTokens: itemTokens, content: nil, model: model))

        // Hybrid rows: the content row plus the item's residual, which starts at zero (so a
        // hybrid head starts as the content head of the same seed) ...
        let hy = try head(.hybrid, model)
        XCTAssertEqual(hy.rows().value.scalars, rows.scalars)
        XCTAssertEqual(hy.namedParameters().map(\.name), ["item_projection", "item_residual"])
        var r = SeededGenerator(seed: 78)
        hy.table!.value.assign(Tensor.normal(shape: [items, d], std: 1, generator: &r))
        let hyRows = hy.rows().value, residual = hy.table!.value
        for i in [0, 4, 11] {
            for j in 0 ..< d { XCTAssertEqual(hyRows.pointer[i * d + j], rows.pointer[i * d + j] + residual.pointer[i * d + j], accuracy: 1e-5) }
        }
        // ... and on another catalog (or for an added item) an item has no residual: its row is
        // the content row through the trained projection.
        let moved = try hy.retargeted(itemTokens: Array(itemTokens.prefix(5)), content: newContent, model: model)
        XCTAssertEqual(moved.rows().value.scalars, other.rows().value.scalars)
        // Added items' embeddings are unit-normalised first (as `contentMatrix` does for a catalog).
        let unit = Tensor(zeros: [5, 6])
        for i in 0 ..< 5 { ItemHead.normalise(newContent.pointer + i * 6, into: unit.pointer + i * 6, count: 6) }
        let added = try hy.rows(newItemTokens: Array(itemTokens.prefix(5)), embeddings: newContent)
        let expected = try c.retargeted(itemTokens: Array(itemTokens.prefix(5)), content: unit, model: model).rows().value
        XCTAssertEqual(added.shape, expected.shape)
        for (x, y) in zip(added.scalars, expected.scalars) { XCTAssertEqual(x, y, accuracy: 1e-5) }
    }

    /// Ranking scores come from the generation engine's first step; they must equal the training
    /// graph's ⟨hidden, row⟩ for every row kind (prompts of different lengths: padding masked).
    /// `--label-smoothing ε` reaches the CE loss: with the model's scores s (no dropout), the loss
    /// is the batch mean of (1 − ε)·(−log p_target) + ε·mean over the catalog of (−log p_j).
    func testLabelSmoothingIsTheSmoothedCrossEntropyOfTheScores() throws {
        let sources: [[Int32]] = [[5, 6, 7, 1], [10, 11, 1], [12, 1]]
        let targets = [3, 0, 11]
        let model = try tinyModel(seed: 4)
        let m = ItemTokenModel(t5: model, head: try head(.hybrid, model))
        let scores = m.scores(sources)
        for epsilon: Float in [0, 0.1, 0.4] {
            var expected = 0.0
            for (b, t) in targets.enumerated() {
                let row = (0 ..< items).map { Double(scores.pointer[b * items + $0]) }
                let top = row.max()!
                let logZ = top + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - top) })
                let nll = logZ - row[t], uniform = row.reduce(0) { $0 + logZ - $1 } / Double(items)
                expected += (1 - Double(epsilon)) * nll + Double(epsilon) * uniform
            }
            expected /= Double(targets.count)
            var settings = ItemTokenSettings(rows: .hybrid, loss: .ce)
            settings.labelSmoothing = epsilon == 0 ? nil : epsilon
            var none: SeededGenerator?
            var rng = SeededGenerator(seed: 1)
            let variable = m.loss(sources: sources, targets: targets, settings: settings, popularity: [Double](repeating: 1 / Double(items), count: items),
                                  dropout: &none, rng: &rng)
            let loss = variable.value.item
            XCTAssertEqual(Double(loss), expected, accuracy: 1e-4 * max(1, expected), "epsilon \(epsilon)")
        }
    }

    /// `--history-bias learned`: the scores are the scores without it plus β at each prompt's
    /// history items (each once, repeated or not), on the fast path and in the training graph;
    /// the mask marks history items among sampled columns; dL/dβ of CE is the formula
    /// mean_b (Σ_{j ∈ H_b} p_bj − [t_b ∈ H_b]) and matches finite differences.
    func testHistoryBiasAddsALearnedOffsetAtHistoryItems() throws {
        let sources: [[Int32]] = [[5, 6, 7, 1], [10, 11, 1], [12, 1]]
        let spans: [[EncodedPrompt.ItemSpan]] = [[.init(item: 2, range: 0 ..< 1), .init(item: 7, range: 1 ..< 2), .init(item: 2, range: 2 ..< 3)],
                                                  [.init(item: 0, range: 0 ..< 2)], []]
        let history: [Set<Int>] = [[2, 7], [0], []]
        let targets = [3, 0, 11] // the second target is in its history
        let model = try tinyModel(seed: 4)
        var g = SeededGenerator(seed: 3)
        let biased = try ItemHead(kind: .learned, model: model, itemTokens: itemTokens, content: nil, historyBias: true, generator: &g)
        XCTAssertEqual(biased.namedParameters().map(\.name), ["item_table", "history_bias"])
        biased.historyBias!.value.pointer[0] = -2.5
        let m = ItemTokenModel(t5: model, head: biased)
        XCTAssert(m.needsSpans)
        g = SeededGenerator(seed: 3)
        let plain = ItemTokenModel(t5: model, head: try ItemHead(kind: .learned, model: model, itemTokens: itemTokens, content: nil, generator: &g))
        XCTAssertFalse(plain.needsSpans)
        let with = m.scores(sources, spans: spans), without = plain.scores(sources)
        let graph = GradMode.withoutGradients { () -> Tensor in
            var none: SeededGenerator?
            return m.withHistoryBias(linear(m.hidden(sources, dropout: &none), weight: m.head.rows()), spans: spans).value.copy()
        }
        for b in 0 ..< 3 {
            for j in 0 ..< items {
                let expected = without.pointer[b * items + j] + (history[b].contains(j) ? -2.5 : 0)
                XCTAssertEqual(with.pointer[b * items + j], expected, accuracy: 1e-4, "prompt \(b) item \(j)")
                XCTAssertEqual(graph.pointer[b * items + j], expected, accuracy: 1e-4, "graph, prompt \(b) item \(j)")
            }
        }
        // Sampled columns [7, 3, 2]: prompt 0 holds 7 and 2, prompt 1 none of them.
        let mask = ItemTokenModel.historyMask(spans, columns: [7, 3, 2], count: 3)
        XCTAssertEqual(mask.scalars, [1, 0, 1, 0, 0, 0, 0, 0, 0])

        // dL/dβ of full CE: the formula, and finite differences.
        let settings = ItemTokenSettings(rows: .learned, loss: .ce)
        func loss(_ beta: Float) -> (value: Double, gradient: Double) {
            biased.historyBias!.value.pointer[0] = beta
            for (_, p) in m.namedParameters() { p.zeroGrad() }
            var none: SeededGenerator?
            var rng = SeededGenerator(seed: 1)
            let l = m.loss(sources: sources, spans: spans, targets: targets, settings: settings, popularity: [Double](repeating: 1 / Double(items), count: items),
                           dropout: &none, rng: &rng)
            l.backward()
            return (Double(l.value.item), Double(biased.historyBias!.grad!.pointer[0]))
        }
        let beta: Float = -0.7
        let at = loss(beta)
        let scoresAt = m.scores(sources, spans: spans)
        var formula = 0.0
        for b in 0 ..< 3 {
            let row = (0 ..< items).map { Double(scoresAt.pointer[b * items + $0]) }
            let top = row.max()!
            let z = row.reduce(0) { $0 + Foundation.exp($1 - top) }
            formula += history[b].reduce(0) { $0 + Foundation.exp(row[$1] - top) / z } - (history[b].contains(targets[b]) ? 1 : 0)
        }
        formula /= 3
        XCTAssertEqual(at.gradient, formula, accuracy: 1e-4)
        let h: Float = 1e-2
        let numeric = (loss(beta + h).value - loss(beta - h).value) / Double(2 * h)
        XCTAssertEqual(at.gradient, numeric, accuracy: 2e-3 * max(1, abs(numeric)))
    }

    func testInferenceScoresMatchTheTrainingGraph() throws {
        let sources: [[Int32]] = [[5, 6, 7, 8, 9, 1], [10, 1], [11, 12, 1]]
        for kind in ItemTokenSettings.Rows.allCases {
            let model = try tinyModel(seed: 6)
            let m = ItemTokenModel(t5: model, head: try head(kind, model))
            let fast = m.scores(sources)
            let graph = GradMode.withoutGradients { () -> Tensor in
                var none: SeededGenerator?
                return Ops.linear(m.hidden(sources, dropout: &none).value, weight: m.head.rows().value)
            }
            XCTAssertEqual(fast.shape, [3, items])
            for i in 0 ..< fast.count {
                XCTAssertEqual(fast.pointer[i], graph.pointer[i], accuracy: 1e-4 * max(1, abs(graph.pointer[i])), "\(kind) \(i)")
            }
        }
    }

    func testCandidatesHoldEveryPositiveOnceAndDistinctUniformDraws() {
        var g = SeededGenerator(seed: 5)
        for negatives in [1, 7, 50, 200] {
            let targets = [3, 3, 17, 0, 99]
            let c = ItemTokenCandidates.draw(targets: targets, negatives: negatives, catalog: 100, rng: &g)
            XCTAssertEqual(Set(c.items).count, c.items.count, "each item once")
            XCTAssertEqual(zip(targets, c.targetColumns).filter { c.items[$1] != $0 }.count, 0)
            XCTAssertEqual(c.uniformColumns.count, min(negatives, 100))
            XCTAssertEqual(Set(c.uniformColumns).count, c.uniformColumns.count, "uniform draws are distinct")
            XCTAssert(c.items.allSatisfy { (0 ..< 100).contains($0) })
        }
        // Uniformity: over many draws of 10 of 40 items, each item is drawn about 1/4 of the time.
        var counts = [Int](repeating: 0, count: 40)
        for _ in 0 ..< 4000 {
            let c = ItemTokenCandidates.draw(targets: [], negatives: 10, catalog: 40, rng: &g)
            for col in c.uniformColumns { counts[c.items[col]] += 1 }
        }
        // Binomial(4000, 0.25): sd ≈ 27; 6 sd either side.
        XCTAssert(counts.allSatisfy { abs($0 - 1000) < 165 }, "\(counts)")
    }

    func testTopKIsTheSortedPrefix() {
        var g = SeededGenerator(seed: 7)
        let scores = (0 ..< 300).map { _ in Float(Int.random(in: 0 ..< 50, using: &g)) } // many ties
        let top = scores.withUnsafeBufferPointer { topK($0.baseAddress!, count: 300, k: 10) }
        let expected = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }.prefix(10)
        XCTAssertEqual(top.map(\.index), Array(expected))
    }

    /// Analytic gradients of the full CE loss through the model reach the head's parameters and
    /// match central differences (a few elements of each head's parameter; id-mean: the T5's
    /// shared rows of ID tokens).
    func testHeadGradientsMatchFiniteDifferences() throws {
        let sources: [[Int32]] = [[5, 6, 7, 1], [8, 9, 1], [5, 1]]
        let targets = [2, 7, 11]
        for kind in ItemTokenSettings.Rows.allCases {
            let model = try tinyModel(seed: 2)
            let m = ItemTokenModel(t5: model, head: try head(kind, model))
            var none: SeededGenerator?
            var rng = SeededGenerator(seed: 1)
            func loss() -> Double {
                GradMode.withoutGradients {
                    var n: SeededGenerator?
                    var r = SeededGenerator(seed: 1)
                    return Double(m.loss(sources: sources, targets: targets, settings: ItemTokenSettings(), popularity: [], dropout: &n, rng: &r).value.item)
                }
            }
            let l = m.loss(sources: sources, targets: targets, settings: ItemTokenSettings(), popularity: [], dropout: &none, rng: &rng)
            l.backward()
            let parameter = m.head.table ?? m.head.projection ?? model.shared
            let grad = try XCTUnwrap(parameter.grad, "\(kind)")
            let d = model.config.d_model
            let elements = kind == .idMean ? [(20 + 7) * d + 3, (40 + 2) * d + 1, (20 + 11) * d] : [0, 7 * min(d, 6) + 1, parameter.value.count - 1]
            assertMatchesCentralDifferences(parameter, grad: grad, elements: elements, loss: loss, "\(kind)")
        }
    }

    /// Each loss trains a tiny model on "the next item is (last token − 5 + 1) mod items":
    /// the mean loss of the last 10 of 60 steps is well below that of the first 10 (measured
    /// ratios 0.05–0.5 here; bound 0.8), and the full-catalog top-1 is right for most sources.
    func testEachLossLearnsADeterministicRule() throws {
        let sources: [[Int32]] = (0 ..< items).map { [Int32(5 + $0), 1] }
        let targets = (0 ..< items).map { ($0 + 1) % items }
        let popularity = [Double](repeating: 1 / Double(items), count: items)
        for loss in ItemTokenSettings.Loss.allCases {
            let model = try tinyModel(seed: 11)
            let m = ItemTokenModel(t5: model, head: try head(.learned, model))
            let optimizer = AdamW(groups: [ParameterGroup(parameters: m.namedParameters(), weightDecay: 0)], learningRate: 1e-2)
            let settings = ItemTokenSettings(rows: .learned, loss: loss, negatives: 6)
            var rng = SeededGenerator(seed: 4)
            var losses: [Float] = []
            for _ in 0 ..< 60 {
                optimizer.zeroGrad()
                var none: SeededGenerator?
                let l = m.loss(sources: sources, targets: targets, settings: settings, popularity: popularity, dropout: &none, rng: &rng)
                losses.append(l.value.item)
                l.backward()
                optimizer.step()
            }
            let first = losses.prefix(10).reduce(0, +), last = losses.suffix(10).reduce(0, +)
            XCTAssertLessThan(last, 0.8 * first, "\(loss): \(losses.prefix(3)) … \(losses.suffix(3))")
            let scores = m.scores(sources)
            let correct = (0 ..< items).filter { r in topK(scores.pointer + r * items, count: items, k: 1)[0].index == targets[r] }.count
            XCTAssertGreaterThan(correct, items / 2, "\(loss): \(correct) of \(items) right")
        }
    }

    /// Each listed element of `grad` against the central difference (step 1e-2) of `loss` in
    /// that element of `parameter`.
    func assertMatchesCentralDifferences(_ parameter: Variable, grad: Tensor, elements: [Int], loss: () -> Double, _ label: String,
                                         file: StaticString = #filePath, line: UInt = #line) {
        for i in elements {
            let saved = parameter.value.pointer[i]
            parameter.value.pointer[i] = saved + 1e-2
            let plus = loss()
            parameter.value.pointer[i] = saved - 1e-2
            let minus = loss()
            parameter.value.pointer[i] = saved
            let numeric = (plus - minus) / 2e-2, analytic = Double(grad.pointer[i])
            XCTAssertEqual(analytic, numeric, accuracy: 3e-3 + 3e-2 * max(abs(numeric), abs(analytic)), "\(label) element \(i)", file: file, line: line)
        }
    }

    // MARK: --item-input add

    /// Prompts holding items' ID tokens (itemTokens: [20 + i, 40 + i % 3]) between other tokens,
    /// with their spans; the last has no history item.
    var inputPrompts: (sources: [[Int32]], spans: [[EncodedPrompt.ItemSpan]]) {
        let sources: [[Int32]] = [[5, 20, 40, 6, 23, 40, 1], [7, 31, 42, 1], [8, 1]]
        let spans: [[EncodedPrompt.ItemSpan]] = [[.init(item: 0, range: 1 ..< 3), .init(item: 3, range: 4 ..< 6)],
                                                 [.init(item: 11, range: 1 ..< 3)], []]
        return (sources, spans)
    }

    /// With the rows in the input, ranking scores (generation path, from a snapshot of the rows)
    /// still equal the training graph's, for every row kind; the input term changes the scores
    /// of prompts with history items and leaves a prompt without any as it was.
    func testItemInputScoresMatchTheTrainingGraph() throws {
        let (sources, spans) = inputPrompts
        for kind in ItemTokenSettings.Rows.allCases {
            let model = try tinyModel(seed: 6)
            let h = try head(kind, model)
            let m = ItemTokenModel(t5: model, head: h, input: .add)
            let fast = m.scores(sources, spans: spans)
            let graph = GradMode.withoutGradients { () -> Tensor in
                var none: SeededGenerator?
                return Ops.linear(m.hidden(sources, spans: spans, dropout: &none).value, weight: m.head.rows().value)
            }
            for i in 0 ..< fast.count {
                XCTAssertEqual(fast.pointer[i], graph.pointer[i], accuracy: 1e-4 * max(1, abs(graph.pointer[i])), "\(kind) \(i)")
            }
            let without = ItemTokenModel(t5: model, head: h).scores(sources)
            for r in 0 ..< 2 {
                let change = (0 ..< items).map { abs(fast.pointer[r * items + $0] - without.pointer[r * items + $0]) }.max()!
                XCTAssertGreaterThan(change, 1e-3, "\(kind): the rows reach prompt \(r)")
            }
            for j in 0 ..< items { XCTAssertEqual(fast.pointer[2 * items + j], without.pointer[2 * items + j], accuracy: 1e-5) }
        }
    }

    /// `replace` needs one position per history item (the placeholder prompt); `add` takes any span.
    func testReplaceInputChecksItsPromptLayout() {
        let one: [[EncodedPrompt.ItemSpan]] = [[.init(item: 0, range: 2 ..< 3), .init(item: 4, range: 3 ..< 4)], []]
        let words: [[EncodedPrompt.ItemSpan]] = [[.init(item: 0, range: 2 ..< 4)]]
        XCTAssertTrue(ItemTokenModel.spansFit(.replace, one))
        XCTAssertFalse(ItemTokenModel.spansFit(.replace, words))
        XCTAssertTrue(ItemTokenModel.spansFit(.add, words))
    }

    /// The input term is √d·row of each history item at its ID tokens: the encoder's input
    /// embeddings are the token rows plus that, position by position.
    func testItemInputAddsScaledRowsAtTheItemsTokens() throws {
        let (sources, spans) = inputPrompts
        let model = try tinyModel(seed: 4)
        let m = ItemTokenModel(t5: model, head: try head(.learned, model), input: .add)
        let (ids, _) = Seq2SeqBatch.pad(sources, with: 0)
        let x = GradMode.withoutGradients { m.inputEmbeddings(ids: ids, spans: spans).value }
        let rows = m.head.rows().value, shared = model.shared.value
        let d = model.config.d_model, length = ids.shape[1], scale = Float(d).squareRoot()
        for (b, source) in sources.enumerated() {
            for p in 0 ..< length {
                let token = p < source.count ? Int(source[p]) : 0
                let item = spans[b].first { $0.range.contains(p) }?.item
                for j in 0 ..< d {
                    let expected = shared.pointer[token * d + j] + (item.map { scale * rows.pointer[$0 * d + j] } ?? 0)
                    XCTAssertEqual(x.pointer[(b * length + p) * d + j], expected, accuracy: 1e-5, "prompt \(b) position \(p)")
                }
            }
        }
        // The graph-free twin (ranking) builds the same tensor.
        let y = m.inputEmbeddings(ids: ids, spans: spans, rows: rows)
        XCTAssertEqual(y.scalars, x.scalars)
    }

    /// Gradients of the full CE loss reach the rows through the input as well as the output and
    /// match central differences: history items' rows (0, 3, 11: in the input, not targets), a
    /// target's row, and the content projection.
    func testItemInputGradientsMatchFiniteDifferences() throws {
        let (sources, spans) = inputPrompts
        let targets = [2, 7, 3]
        for kind in [ItemTokenSettings.Rows.learned, .content, .hybrid] {
            let model = try tinyModel(seed: 2)
            let h = try head(kind, model)
            if kind == .hybrid { // residuals away from zero, so the check is not at a special point
                var r = SeededGenerator(seed: 12)
                h.table!.value.assign(Tensor.normal(shape: [items, model.config.d_model], std: 0.2, generator: &r))
            }
            let m = ItemTokenModel(t5: model, head: h, input: .add)
            func loss() -> Double {
                GradMode.withoutGradients {
                    var n: SeededGenerator?
                    var r = SeededGenerator(seed: 1)
                    return Double(m.loss(sources: sources, spans: spans, targets: targets, settings: ItemTokenSettings(), popularity: [], dropout: &n, rng: &r).value.item)
                }
            }
            var none: SeededGenerator?
            var rng = SeededGenerator(seed: 1)
            m.loss(sources: sources, spans: spans, targets: targets, settings: ItemTokenSettings(), popularity: [], dropout: &none, rng: &rng).backward()
            let d = model.config.d_model
            // Learned and hybrid: the table (rows or residuals); content and hybrid: the projection.
            for parameter in [m.head.table, m.head.projection].compactMap({ $0 }) {
                let grad = try XCTUnwrap(parameter.grad, "\(kind)")
                let isTable = parameter === m.head.table
                let elements = isTable ? [0 * d + 1, 3 * d + 5, 11 * d + d - 1, 7 * d + 2] : [0, 9, parameter.value.count - 1]
                assertMatchesCentralDifferences(parameter, grad: grad, elements: elements, loss: loss, "\(kind) \(isTable ? "table" : "projection")")
            }
            if kind == .learned, let parameter = m.head.table {
                // Row 0 is in the input: its gradient differs from the one the model without
                // the input term gives it (the output side alone).
                let withInput = try XCTUnwrap(parameter.grad).pointer[1]
                let plain = ItemTokenModel(t5: model, head: m.head)
                parameter.zeroGrad()
                var n2: SeededGenerator?
                var r2 = SeededGenerator(seed: 1)
                plain.loss(sources: sources, targets: targets, settings: ItemTokenSettings(), popularity: [], dropout: &n2, rng: &r2).backward()
                let outputOnly = try XCTUnwrap(parameter.grad).pointer[1]
                XCTAssertGreaterThan(abs(withInput - outputOnly), 1e-5, "the input term contributes to row 0's gradient")
            }
        }
    }
}
