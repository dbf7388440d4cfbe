import Foundation
import Support
import TensorCore
@testable import TextEncoder
import XCTest

final class ItemEmbeddingsTests: XCTestCase {
    func testCacheIsReusedAndRebuiltWhenStale() throws {
        let encoder = try EncoderFixtures.encoder()
        let hash = try encoder.folder.contentHash()
        XCTAssertEqual(hash.count, 64)
        let ids = ["a", "b", "c"]
        let texts = ["title: red lipstick", "title: blue stapler", "title: pink lip gloss"]
        let url = ScratchSpace.path("embeddings", suffix: ".safetensors")
        let first = try ItemEmbeddings.loadOrCompute(at: url, ids: ids, texts: texts, encoder: encoder, encoderHash: hash)
        XCTAssertTrue(first.computed)
        let second = try ItemEmbeddings.loadOrCompute(at: url, ids: ids, texts: texts, encoder: encoder, encoderHash: hash)
        XCTAssertFalse(second.computed)
        XCTAssertEqual(second.embeddings.vectors.scalars, first.embeddings.vectors.scalars)
        XCTAssertEqual(second.embeddings.itemIDs, ids)

        var changed = texts
        changed[1] = "title: green stapler"
        XCTAssertThrowsError(try ItemEmbeddings.load(url, ids: ids, texts: changed, encoderHash: hash)) { error in
            XCTAssert("\(error)".contains("stale") && "\(error)".contains("texts changed"), "\(error)")
        }
        XCTAssertThrowsError(try ItemEmbeddings.load(url, ids: ["a", "c", "b"], texts: texts, encoderHash: hash)) { error in
            XCTAssert("\(error)".contains("other order"), "\(error)")
        }
        XCTAssertThrowsError(try ItemEmbeddings.load(url, ids: ids, texts: texts, encoderHash: String(repeating: "0", count: 64)))
        let rebuilt = try ItemEmbeddings.loadOrCompute(at: url, ids: ids, texts: changed, encoder: encoder, encoderHash: hash)
        XCTAssertTrue(rebuilt.computed)
        XCTAssertNotNil(rebuilt.staleReason)

        // Neighbours: the lipstick's nearest item is the lip gloss.
        let near = first.embeddings.neighbours(of: 0, count: 2)
        XCTAssertEqual(near.map(\.index), [2, 1])
        XCTAssertGreaterThan(near[0].cosine, near[1].cosine)
    }
}
