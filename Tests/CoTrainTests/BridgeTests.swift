import Autograd
import Corpora
import Foundation
import IDGen
import Recommender
import Support
import T5
import TensorCore
import Tokenizer
import XCTest
@testable import CoTrain

final class BridgeTests: XCTestCase {
    /// A toy domain, a shared vocabulary, two tiny T5s and keyword IDs.
    func makeBridge(regularizer: Float) throws -> (Bridge, [TrainingSample]) {
        let words = ["soap", "rose", "cream", "mint", "oil", "brush", "comb", "argan", "shampoo", "lotion", "gel", "balm"]
        var items: [(id: String, fields: [TextField])] = []
        for i in 0 ..< 24 {
            items.append((id: "i\(i)", fields: [TextField("title", "\(words[i % 12]) \(words[(i * 5 + 3) % 12]) \(i)"), TextField("brand", "brand\(i % 4)")]))
        }
        let catalog = Catalog(items: items)
        var users: [String] = [], sequences: [[Int]] = []
        var g = SeededGenerator(seed: 5)
        for u in 0 ..< 12 {
            users.append("u\(u)")
            var seq: [Int] = []
            while seq.count < 6 { let i = Int(g.next() % 24); if !seq.contains(i) { seq.append(i) } }
            sequences.append(seq)
        }
        let domain = Domain(name: "toy", catalog: catalog, interactions: Interactions(users: users, sequences: sequences),
                            report: ImportReport(format: .idgenrec, files: []))
        var sentences = (0 ..< catalog.count).map { catalog.text(at: $0) }
        sentences += PromptTemplates.standard
        var options = TrainingOptions()
        options.vocabularySize = 330
        let tokenizer = try Tokenizer.train(sentences: sentences + sentences, options: options)
        let ids = try IDGeneration.keywords(catalog: catalog, words: 2).table
        var config = RecommenderConfig()
        config.historyCap = 4
        let split = try Split.leaveOneOut(domain, historyCap: 4)
        let data = try RecommenderData(domain: domain, split: split, ids: ids, tokenizer: tokenizer, config: config)
        let t5 = T5Config(vocabSize: tokenizer.vocabularySize, dModel: 16, dKV: 8, dFF: 32, layers: 1, heads: 2, dropout: 0)
        var rng = SeededGenerator(seed: 9)
        let generator = try T5Model(config: t5, generator: &rng)
        let recommender = try T5Model(config: t5, generator: &rng)
        let sources = ItemText.all(catalog).map { generatorSource($0, tokenizer: tokenizer, maximumTokens: 64) }
        let bridge = try Bridge(generator: generator, recommender: recommender, data: data, sources: sources, regularizerWeight: regularizer)
        return (bridge, Array(split.trainingSamples(historyCap: 4).prefix(3)))
    }

    /// The generator's gradient through the bridge matches central finite differences, with the
    /// discrete greedy decoding held fixed.
    func testGeneratorGradientThroughTheBridgeMatchesFiniteDifferences() throws {
        for regularizer: Float in [0, 0.5] {
            let (bridge, samples) = try makeBridge(regularizer: regularizer)
            let templates = samples.indices.map { $0 % 10 }
            let items = bridge.items(of: samples)
            let decoded = items.map { bridge.data.itemTokens[($0 + 1) % bridge.data.itemTokens.count] } // any valid token runs
            for p in bridge.generator.namedParameters() { p.parameter.zeroGrad() }
            let losses = try bridge.loss(samples: samples, templates: templates, decoded: decoded)
            XCTAssertGreaterThan(losses.softItems, 0)
            losses.total.backward()
            let checked = try assertGeneratorGradientsMatchFiniteDifferences(
                bridge, samples: samples, templates: templates, decoded: decoded, label: "regularizer \(regularizer)",
                parameters: ["shared.weight", "decoder.final_layer_norm.weight", "encoder.block.0.layer.0.SelfAttention.q.weight",
                             "decoder.block.0.layer.2.DenseReluDense.wo.weight"])
            XCTAssertEqual(checked, 16)
            // The recommender is frozen: the bridge never needs its update, only its input gradient.
        }
    }

    /// Central differences of the bridge loss at four seeded entries of each named generator
    /// parameter against its gradient (after `loss(…).total.backward()`); the count checked.
    @discardableResult
    func assertGeneratorGradientsMatchFiniteDifferences(_ bridge: Bridge, samples: [TrainingSample], templates: [Int], decoded: [[Int32]],
                                                        label: String, parameters: [String]) throws -> Int {
        let named = Dictionary(uniqueKeysWithValues: bridge.generator.namedParameters().map { ($0.name, $0.parameter) })
        var checked = 0
        for name in parameters {
            let p = try XCTUnwrap(named[name], name)
            let grad = try XCTUnwrap(p.grad, "\(name) got no gradient")
            var g = SeededGenerator(seed: UInt64(name.count))
            for _ in 0 ..< 4 {
                let k = Int(g.next() % UInt64(p.value.count))
                let original = p.value.pointer[k]
                let h: Float = 1e-2
                p.value.pointer[k] = original + h
                let plus = Double(try GradMode.withoutGradients { try bridge.loss(samples: samples, templates: templates, decoded: decoded) }.total.value.item)
                p.value.pointer[k] = original - h
                let minus = Double(try GradMode.withoutGradients { try bridge.loss(samples: samples, templates: templates, decoded: decoded) }.total.value.item)
                p.value.pointer[k] = original
                let numeric = (plus - minus) / (2 * Double(h))
                let analytic = Double(grad.pointer[k])
                XCTAssertEqual(analytic, numeric, accuracy: 2e-3 + 3e-2 * max(abs(analytic), abs(numeric)), "\(name)[\(k)] \(label)")
                checked += 1
            }
        }
        return checked
    }

    func testMismatchedVocabulariesAreRefused() throws {
        let (bridge, _) = try makeBridge(regularizer: 0)
        var rng = SeededGenerator(seed: 1)
        let other = try T5Model(config: T5Config(vocabSize: bridge.recommender.config.vocab_size + 1, dModel: 16, dKV: 8, dFF: 32, layers: 1, heads: 2), generator: &rng)
        XCTAssertThrowsError(try Bridge(generator: other, recommender: bridge.recommender, data: bridge.data, sources: bridge.sources, regularizerWeight: 0)) { error in
            XCTAssert("\(error)".contains("one SentencePiece vocabulary"), "\(error)")
        }
    }
}

final class ScheduleTests: XCTestCase {
    func testPhaseOrders() {
        var c = CoTrainConfig()
        c.rounds = 2
        XCTAssertEqual(CoTraining.phases(c), [.generator(round: 1), .recommender(round: 1), .generator(round: 2), .recommender(round: 2)])
        c.order = .recommenderFirst
        // No trailing generator phase: its IDs would never be trained on.
        XCTAssertEqual(CoTraining.phases(c), [.recommender(round: 1), .generator(round: 1), .recommender(round: 2)])
    }
}
