import Foundation
@testable import Recommender
import Support
import T5
import XCTest

/// `--freeze-embeddings-epochs`: a frozen step leaves the shared token embedding exactly as it
/// was (no gradient step, no weight decay) while the rest of the model trains.
final class FrozenEmbeddingTests: XCTestCase {
    func testFrozenStepKeepsTheTokenEmbeddingAndTrainsTheRest() throws {
        var g = SeededGenerator(seed: 4)
        let model = try T5Model(config: T5Config.preset(.tiny, vocabularySize: 64), generator: &g)
        let config = RecommenderConfig()
        let optimizer = RecommenderTrainer.makeOptimizer(model: model, config: config)
        let batch = (0 ..< 4).map { i in PromptSample(source: [Int32(5 + i), 9, 10, 1], target: [Int32(20 + i), 1]) }
        var dropout = SeededGenerator(seed: 5)
        let shared0 = model.shared.value.scalars
        let others0 = model.namedParameters().filter { $0.name != "shared.weight" }.map { $0.parameter.value.scalars }
        _ = RecommenderTrainer.step(model: model, batch: batch, optimizer: optimizer, learningRate: 1e-2, clipNorm: 1,
                                    dropout: &dropout, useDropout: false, freezeEmbeddings: true)
        XCTAssertEqual(model.shared.value.scalars, shared0)
        let others1 = model.namedParameters().filter { $0.name != "shared.weight" }.map { $0.parameter.value.scalars }
        XCTAssertTrue(zip(others0, others1).contains { $0 != $1 }, "the rest of the model should train")
        _ = RecommenderTrainer.step(model: model, batch: batch, optimizer: optimizer, learningRate: 1e-2, clipNorm: 1,
                                    dropout: &dropout, useDropout: false, freezeEmbeddings: false)
        XCTAssertNotEqual(model.shared.value.scalars, shared0)
    }
}
