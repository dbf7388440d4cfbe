import Autograd
import Corpora
import Decoding
import IDGen
import TextEncoder
import Foundation
@testable import Recommender
import Support
import T5
import TensorCore
import XCTest

/// Item content in the prompt (issue 18 part 3): the projection's and the model's gradients
/// through the content term match finite differences, the graph-free inference path equals the
/// autograd one, and with a zero content term it equals the token-id path exactly.
final class ItemContentTests: XCTestCase {
    static let dimension = 12

    func makeModel(seed: UInt64 = 3) throws -> T5Model {
        var g = SeededGenerator(seed: seed)
        return try T5Model(config: T5Config(vocabSize: 40, dModel: 16, dKV: 8, dFF: 32, layers: 1, heads: 2, dropout: 0), generator: &g)
    }

    /// Six catalog items with unit vectors and a small random projection (zero would hide the
    /// model's gradient through the term).
    func makeContent(_ mode: ItemContentSettings.Mode, dModel: Int = 16, random: Bool = true) -> ItemContent {
        var g = SeededGenerator(seed: 11)
        let vectors = Tensor.normal(shape: [6, Self.dimension], std: 1, generator: &g)
        for i in 0 ..< 6 {
            var n: Float = 0
            for j in 0 ..< Self.dimension { n += vectors.pointer[i * Self.dimension + j] * vectors.pointer[i * Self.dimension + j] }
            for j in 0 ..< Self.dimension { vectors.pointer[i * Self.dimension + j] /= n.squareRoot() }
        }
        let projection = ItemContentProjection(dModel: dModel, dimension: Self.dimension)
        if random { projection.weight.value.assign(Tensor.normal(shape: [dModel, Self.dimension], std: 0.5, generator: &g)) }
        return ItemContent(mode: mode, projection: projection, vectors: vectors)
    }

    /// Two prompts: item tokens at the spans, a marker (token 2) before each item for `token`.
    func batch(_ mode: ItemContentSettings.Mode) -> [PromptSample] {
        typealias S = EncodedPrompt.ItemSpan
        switch mode {
        case .add:
            return [PromptSample(source: [5, 6, 7, 8, 9, 10, 1], target: [20, 21, 1], spans: [S(item: 0, range: 1 ..< 3), S(item: 4, range: 4 ..< 6)]),
                    PromptSample(source: [5, 11, 8, 12, 13, 1], target: [22, 1], spans: [S(item: 2, range: 1 ..< 2), S(item: 0, range: 3 ..< 5)])]
        case .token:
            return [PromptSample(source: [5, 2, 6, 7, 8, 2, 9, 10, 1], target: [20, 21, 1], spans: [S(item: 0, range: 2 ..< 4), S(item: 4, range: 6 ..< 8)]),
                    PromptSample(source: [5, 2, 11, 8, 2, 12, 13, 1], target: [22, 1], spans: [S(item: 2, range: 2 ..< 3), S(item: 0, range: 5 ..< 7)])]
        }
    }

    func loss(_ model: T5Model, _ content: ItemContent, _ samples: [PromptSample]) -> Variable {
        let s2s = Seq2SeqBatch(sources: samples.map(\.source), targets: samples.map(\.target))
        var none: SeededGenerator?
        return model.loss(inputEmbeddings: content.inputEmbeddings(model: model, batch: s2s, spans: samples.map(\.spans)),
                          attentionMask: s2s.attentionMask, decoderInputs: s2s.decoderInputIDs, labels: s2s.labels, dropout: &none)
    }

    func testGradientsThroughTheContentTermMatchFiniteDifferences() throws {
        for mode in ItemContentSettings.Mode.allCases {
            let model = try makeModel()
            let content = makeContent(mode)
            let samples = batch(mode)
            for p in model.namedParameters() { p.parameter.zeroGrad() }
            content.projection.weight.zeroGrad()
            loss(model, content, samples).backward()
            let named = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter) })
            let checked: [(String, Variable)] = [("item_content.weight", content.projection.weight), ("shared.weight", named["shared.weight"]!),
                                                 ("encoder.block.0.layer.0.SelfAttention.q.weight", named["encoder.block.0.layer.0.SelfAttention.q.weight"]!)]
            for (name, p) in checked {
                let grad = try XCTUnwrap(p.grad, "\(name) got no gradient")
                var g = SeededGenerator(seed: UInt64(name.count))
                for _ in 0 ..< 6 {
                    let k = Int(g.next() % UInt64(p.value.count))
                    let original = p.value.pointer[k]
                    let h: Float = 1e-2
                    p.value.pointer[k] = original + h
                    let plus = Double(GradMode.withoutGradients { loss(model, content, samples) }.value.item)
                    p.value.pointer[k] = original - h
                    let minus = Double(GradMode.withoutGradients { loss(model, content, samples) }.value.item)
                    p.value.pointer[k] = original
                    let numeric = (plus - minus) / (2 * Double(h))
                    let analytic = Double(grad.pointer[k])
                    XCTAssertEqual(analytic, numeric, accuracy: 2e-3 + 3e-2 * max(abs(analytic), abs(numeric)), "\(mode) \(name)[\(k)]")
                }
            }
            // The projection's gradient is non-trivial: the content term reaches the loss.
            let g = content.projection.weight.grad!
            XCTAssertGreaterThan((0 ..< g.count).map { abs(g.pointer[$0]) }.max()!, 1e-6, "\(mode)")
        }
    }

    func testContentLandsOnTheItemPositionsOnly() {
        for mode in ItemContentSettings.Mode.allCases {
            let content = makeContent(mode)
            let samples = batch(mode)
            let length = samples.map(\.source.count).max()!
            let term = content.additionTensor(samples.map(\.spans), length: length) // [2, length, 16]
            XCTAssertEqual(term.shape, [2, length, 16])
            let expected = Ops.linear(content.vectors, weight: content.projection.weight.value) // [6, 16]
            for (b, s) in samples.enumerated() {
                var owner = [Int?](repeating: nil, count: length)
                for span in s.spans {
                    for p in (mode == .add ? span.range : (span.range.lowerBound - 1) ..< span.range.lowerBound) { owner[p] = span.item }
                }
                for p in 0 ..< length {
                    for c in 0 ..< 16 {
                        let v = term.pointer[(b * length + p) * 16 + c]
                        let want = owner[p].map { expected.pointer[$0 * 16 + c] } ?? 0
                        XCTAssertEqual(v, want, accuracy: 1e-5, "\(mode) row \(b) position \(p)")
                    }
                }
            }
        }
    }

    /// Inference's embeddings path equals the ids path when the term is zero (bit for bit) and
    /// equals the autograd encoder with the term otherwise; generate with a zero addition returns
    /// what generate without one returns.
    func testInferenceEmbeddingsPathMatchesTheIDsPathAndTraining() throws {
        let model = try makeModel(seed: 8)
        let weights = T5InferenceWeights(model)
        let samples = batch(.add)
        let (ids, mask) = Seq2SeqBatch.pad(samples.map(\.source), with: 0)
        let plain = weights.encode(inputIDs: ids, attentionMask: mask)
        let zero = makeContent(.add, random: false)
        let x = Ops.embedding(model.shared.value, indices: ids)
        Ops.addInPlace(x, zero.additionTensor(samples.map(\.spans), length: ids.shape[1]))
        let viaEmbeddings = weights.encode(inputEmbeddings: x, attentionMask: mask)
        XCTAssertEqual(plain.hidden.scalars, viaEmbeddings.hidden.scalars)
        XCTAssertEqual(plain.crossKV.scalars, viaEmbeddings.crossKV.scalars)

        let content = makeContent(.add)
        let y = Ops.embedding(model.shared.value, indices: ids)
        Ops.addInPlace(y, content.additionTensor(samples.map(\.spans), length: ids.shape[1]))
        let inference = weights.encode(inputEmbeddings: y, attentionMask: mask).hidden
        var none: SeededGenerator?
        let training = GradMode.withoutGradients {
            model.encode(inputEmbeddings: content.inputEmbeddings(model: model, batch: Seq2SeqBatch(sources: samples.map(\.source), targets: samples.map(\.target)),
                                                                  spans: samples.map(\.spans)), attentionMask: mask, dropout: &none).value
        }
        XCTAssertEqual(inference.shape, training.shape)
        for k in 0 ..< inference.count { XCTAssertEqual(inference.pointer[k], training.pointer[k], accuracy: 1e-4) }
        XCTAssertNotEqual(inference.scalars, plain.hidden.scalars, "a non-zero term changes the encoding")

        var gen = GenerationConfig(maxNewTokens: 3)
        gen.numBeams = 3
        gen.numReturnSequences = 3
        let a = try model.generate(inputs: samples.map(\.source), config: gen, batchSize: 1)
        let b = try model.generate(inputs: samples.map(\.source), config: gen, batchSize: 1) { range, length in
            zero.additionTensor(samples[range].map(\.spans), length: length)
        }
        XCTAssertEqual(a.map { $0.sequences.map(\.tokens) }, b.map { $0.sequences.map(\.tokens) })
        XCTAssertEqual(a.map { $0.sequences.map(\.score) }, b.map { $0.sequences.map(\.score) })
    }

    func testTokenModeInsertsOneMarkerBeforeEachItem() throws {
        var encoder = try PromptEncoder(tokenizer: PromptTests.tokenizer, templates: ["user{user} : {history}"], maximumLength: 64)
        let itemTokens: [[Int32]] = [[30, 31], [32], [33, 34, 35]]
        let plain = encoder.encode(history: [0, 2], template: 0, itemTokens: itemTokens, userTokens: nil)
        encoder.itemMarker = [2]
        let marked = encoder.encode(history: [0, 2], template: 0, itemTokens: itemTokens, userTokens: nil)
        XCTAssertEqual(marked.tokens.count, plain.tokens.count + 2)
        for span in marked.itemSpans {
            XCTAssertEqual(Array(marked.tokens[span.range]), itemTokens[span.item])
            XCTAssertEqual(marked.tokens[span.range.lowerBound - 1], 2)
        }
        XCTAssertEqual(marked.tokens.filter { $0 == 2 }.count, 2)
    }
}

/// A content run stopped after epoch 1 and resumed equals one that ran straight (model and
/// projection bit for bit), and `load` reads the projection back for ranking.
final class ItemContentResumeTests: XCTestCase {
    /// Seeded 10-dimensional stand-ins for the toy domain's sentence embeddings.
    static func toyEmbeddings(_ domain: Domain) -> ItemEmbeddings {
        var g = SeededGenerator(seed: 2)
        return ItemEmbeddings(itemIDs: domain.catalog.ids, vectors: Tensor.normal(shape: [domain.catalog.count, 10], std: 1, generator: &g),
                              encoderHash: "test", textsHash: "toy")
    }

    func runner(_ folder: URL, domain: Domain, embeddings: ItemEmbeddings, mode: ItemContentSettings.Mode, resume: Bool) throws -> RecommenderRunner {
        var config = ResumeTests.toyConfig()
        config.itemContent = ItemContent.settings(mode: mode, embeddings: embeddings, source: nil)
        let ids = try IDGeneration.keywords(catalog: domain.catalog, words: 2).table
        let r = try RecommenderPipeline.open(folder: folder, inputs: .init(dataPath: "toy", domain: domain, ids: ids, idsSource: "keywords",
                                                                           itemEmbeddings: resume ? nil : embeddings),
                                             config: config, resume: resume)
        r.verbose = false
        return r
    }

    func testResumeEqualsUninterruptedRunAndLoadReadsTheProjection() throws {
        let domain = ResumeTests.toyDomain()
        let embeddings = Self.toyEmbeddings(domain)
        for mode in ItemContentSettings.Mode.allCases {
            let base = ScratchSpace.root.appendingPathComponent("content-resume-\(UUID().uuidString)")
            let straight = try runner(base.appendingPathComponent("a"), domain: domain, embeddings: embeddings, mode: mode, resume: false)
            let a = try straight.train(resume: false)
            let first = try runner(base.appendingPathComponent("b"), domain: domain, embeddings: embeddings, mode: mode, resume: false)
            try first.train(resume: false, stopAfter: 1)
            let second = try runner(base.appendingPathComponent("b"), domain: domain, embeddings: embeddings, mode: mode, resume: true)
            let b = try second.train(resume: true)
            XCTAssertEqual(a.log.map(\.loss), b.log.map(\.loss), "\(mode)")
            for (p, q) in zip(straight.model.namedParameters(), second.model.namedParameters()) {
                XCTAssert(p.parameter.value.scalars == q.parameter.value.scalars, "\(mode): \(p.name) differs after resume")
            }
            let w = try XCTUnwrap(straight.trainer.content).projection.weight.value.scalars
            XCTAssertEqual(w, try XCTUnwrap(second.trainer.content).projection.weight.value.scalars, "\(mode): projection differs after resume")
            XCTAssert(w.contains { $0 != 0 }, "\(mode): the projection trained")

            let loaded = try RecommenderPipeline.load(folder: base.appendingPathComponent("a"), domain: domain, dataPath: "toy", checkpoint: .last)
            XCTAssertEqual(try XCTUnwrap(loaded.trainer.content).projection.weight.value.scalars, w)
            let targets = Array(straight.trainer.data.split.test.prefix(6))
            XCTAssertEqual(try loaded.trainer.rank(model: loaded.model, targets: targets), try straight.trainer.rank(model: straight.model, targets: targets))
            // Another catalog's embeddings are refused by name.
            let other = ItemEmbeddings(itemIDs: domain.catalog.ids.map { "x" + $0 }, vectors: embeddings.vectors, encoderHash: "test", textsHash: "other")
            XCTAssertThrowsError(try runner(base.appendingPathComponent("c"), domain: domain, embeddings: other, mode: mode, resume: false)) { error in
                XCTAssert("\(error)".contains("no embedding for item 'i0'"), "\(error)")
            }
        }
    }
}
