import Foundation
import Support
import TensorCore
@testable import TextEncoder
import XCTest

/// A second sentence-transformers folder, unlike all-MiniLM-L6-v2 in every configurable way
/// (Fixtures/tiny-bert, random weights, made by tools/make_encoder_fixtures.py): cased vocabulary
/// without accent stripping, 2 layers of hidden 32 with 4 heads, layer_norm_eps 1e-7,
/// max_seq_length 24, `bert.`-prefixed keys beside an unused `cls.` head, CLS + max +
/// mean_sqrt_len pooling concatenated, no Normalize. It loads the same way and matches
/// sentence-transformers; it is committed, so this runs without `make setup`.
final class TinyFolderTests: XCTestCase {
    static let folder = EncoderFixtures.folder.appendingPathComponent("tiny-bert")

    func testTinyFolderMatchesSentenceTransformers() throws {
        let encoder = try SentenceEncoder(folder: Self.folder)
        XCTAssertEqual(encoder.folder.pooling.modes, [.cls, .max, .meanSqrtLength])
        XCTAssertFalse(encoder.folder.normalize)
        XCTAssertEqual(encoder.folder.maxSequenceLength, 24)
        XCTAssertEqual(encoder.tokenizer.normalizer, .init(cleanText: true, handleChineseChars: true, stripAccents: false, lowercase: false))
        XCTAssertEqual(encoder.dimension, 96)

        struct Texts: Decodable { let texts: [String] }
        let texts = try JSONDecoder().decode(Texts.self, from: Data(contentsOf: EncoderFixtures.folder.appendingPathComponent("tiny-texts.json"))).texts
        let file = try SafeTensorsFile(url: EncoderFixtures.folder.appendingPathComponent("tiny.safetensors"))
        let flat = try file.intTensor("ids").values, lengths = try file.intTensor("lengths").values.map(Int.init)
        let reference = try file.tensor("embeddings")
        XCTAssertEqual(reference.shape, [texts.count, 96])
        var start = 0, identical = 0
        for (i, text) in texts.enumerated() {
            let want = Array(flat[start ..< start + lengths[i]])
            start += lengths[i]
            XCTAssertEqual(encoder.tokenIDs(text), want, "text \(i): \(text.prefix(60))")
            if encoder.tokenIDs(text) == want { identical += 1 }
        }
        let ours = encoder.encode(texts)
        var worstCosine = 1.0
        var worstDiff: Float = 0
        for i in 0 ..< texts.count {
            var dot = 0.0, a2 = 0.0, b2 = 0.0
            for j in 0 ..< 96 {
                let a = ours.pointer[i * 96 + j], b = reference.pointer[i * 96 + j]
                dot += Double(a) * Double(b); a2 += Double(a) * Double(a); b2 += Double(b) * Double(b)
                // Unnormalised outputs of magnitude up to ~10: the tolerance is relative.
                worstDiff = max(worstDiff, abs(a - b) / max(1, abs(b)))
            }
            worstCosine = min(worstCosine, dot / (a2.squareRoot() * b2.squareRoot()))
        }
        XCTAssertGreaterThanOrEqual(worstCosine, 0.99999)
        XCTAssertLessThanOrEqual(worstDiff, 1e-4)
        print("tiny folder: \(identical)/\(texts.count) identical ids; worst cosine \(String(format: "%.13f", worstCosine)); max relative |diff| \(String(format: "%.2e", worstDiff))")
    }

    func testUnknownTensorIsRefusedByName() throws {
        let copy = ScratchSpace.path("tiny-extra")
        try FileManager.default.copyItem(at: Self.folder, to: copy)
        let weights = copy.appendingPathComponent("model.safetensors")
        var tensors = try SafeTensors.load(weights)
        tensors["bert.encoder.layer.9.extra.weight"] = Tensor(zeros: [2])
        try SafeTensors.save(tensors, to: weights)
        XCTAssertThrowsError(try SentenceEncoder(folder: copy)) { error in
            XCTAssert("\(error)".contains("bert.encoder.layer.9.extra.weight"), "\(error)")
        }
        tensors.removeValue(forKey: "bert.encoder.layer.9.extra.weight")
        tensors.removeValue(forKey: "bert.encoder.layer.1.output.dense.bias")
        try SafeTensors.save(tensors, to: weights)
        XCTAssertThrowsError(try SentenceEncoder(folder: copy)) { error in
            XCTAssert("\(error)".contains("missing tensor 'bert.encoder.layer.1.output.dense.bias'"), "\(error)")
        }
    }
}
