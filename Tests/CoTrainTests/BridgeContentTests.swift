import Autograd
import Foundation
import Recommender
import Support
import TensorCore
import XCTest
@testable import CoTrain

/// The bridge with item content (`cotrain --item-content`): the content term enters the frozen
/// recommender's input next to the soft IDs, and the generator's gradient through it still
/// matches central finite differences (decoding held fixed), in both modes.
extension BridgeTests {
    func testBridgeWithItemContentGradientMatchesFiniteDifferences() throws {
        for mode in ItemContentSettings.Mode.allCases {
            let (plain, samples) = try makeBridge(regularizer: 0)
            var config = RecommenderConfig()
            config.historyCap = 4
            config.itemContent = ItemContentSettings(mode: mode, dimension: 8, source: nil, encoderHash: "", textsHash: "")
            let d = plain.data
            let data = try RecommenderData(domain: d.domain, split: d.split, ids: d.ids, tokenizer: d.tokenizer, config: config)
            var bridge = try Bridge(generator: plain.generator, recommender: plain.recommender, data: data, sources: plain.sources, regularizerWeight: 0)
            var g = SeededGenerator(seed: 21)
            let projection = ItemContentProjection(dModel: plain.recommender.config.d_model, dimension: 8)
            projection.weight.value.assign(Tensor.normal(shape: [plain.recommender.config.d_model, 8], std: 0.5, generator: &g))
            bridge.content = ItemContent(mode: mode, projection: projection,
                                         vectors: Tensor.normal(shape: [d.domain.catalog.count, 8], std: 0.3, generator: &g))
            let templates = samples.indices.map { $0 % 10 }
            let items = bridge.items(of: samples)
            let decoded = items.map { bridge.data.itemTokens[($0 + 1) % bridge.data.itemTokens.count] }
            for p in bridge.generator.namedParameters() { p.parameter.zeroGrad() }
            let losses = try bridge.loss(samples: samples, templates: templates, decoded: decoded)
            XCTAssertGreaterThan(losses.softItems, 0)
            var off = bridge
            off.content = nil
            let without = try GradMode.withoutGradients { try off.loss(samples: samples, templates: templates, decoded: decoded) }.total.value.item
            XCTAssertNotEqual(losses.total.value.item, without, "\(mode): the content term changes the recommender's loss")
            losses.total.backward()
            try assertGeneratorGradientsMatchFiniteDifferences(bridge, samples: samples, templates: templates, decoded: decoded, label: "\(mode)",
                                                               parameters: ["shared.weight", "encoder.block.0.layer.0.SelfAttention.q.weight"])
        }
    }
}
