import Foundation
import TensorCore
@testable import TextEncoder
import XCTest

/// Parity with sentence-transformers on the fixtures of tools/make_encoder_fixtures.py (203
/// texts: Beauty and Office titles and item texts, accents in both normal forms, CJK, emoji,
/// control characters, an empty string, a 2,000-word text): identical token ids for every text;
/// each embedding within cosine 0.99999 and max |difference| 1e-4 of `SentenceTransformer.encode`.
final class ParityTests: XCTestCase {
    func testTokenIDsAreIdenticalForEveryText() throws {
        let encoder = try EncoderFixtures.encoder()
        let texts = try EncoderFixtures.texts()
        let reference = try EncoderFixtures.reference()
        XCTAssertGreaterThanOrEqual(texts.texts.count, 200)
        var identical = 0
        for (i, text) in texts.texts.enumerated() {
            let ids = encoder.tokenIDs(text)
            if ids == reference.ids[i] { identical += 1 } else {
                let first = zip(ids, reference.ids[i]).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(ids.count, reference.ids[i].count)
                XCTFail("\(texts.tags[i]) (#\(i)): ids differ at position \(first): swift \(ids.count) tokens "
                    + "\(ids[first...].prefix(6).map { encoder.tokenizer.tokens[Int($0)] }), "
                    + "reference \(reference.ids[i].count) \(reference.ids[i][first...].prefix(6).map { encoder.tokenizer.tokens[Int($0)] })")
            }
        }
        print("token ids: \(identical)/\(texts.texts.count) texts identical")
    }

    func testEmbeddingsMatchSentenceTransformers() throws {
        let encoder = try EncoderFixtures.encoder()
        let texts = try EncoderFixtures.texts()
        let reference = try EncoderFixtures.reference().embeddings
        let ours = encoder.encode(texts.texts)
        XCTAssertEqual(ours.shape, reference.shape)
        let d = ours.shape[1]
        var worstCosine = 1.0, worstDiff: Float = 0, worstCosineTag = "", worstDiffTag = ""
        for i in 0 ..< ours.shape[0] {
            var dot = 0.0, a2 = 0.0, b2 = 0.0
            var diff: Float = 0
            for j in 0 ..< d {
                let a = Double(ours.pointer[i * d + j]), b = Double(reference.pointer[i * d + j])
                dot += a * b; a2 += a * a; b2 += b * b
                diff = max(diff, abs(ours.pointer[i * d + j] - reference.pointer[i * d + j]))
            }
            let cosine = dot / (a2.squareRoot() * b2.squareRoot())
            XCTAssertGreaterThanOrEqual(cosine, 0.99999, texts.tags[i])
            XCTAssertLessThanOrEqual(diff, 1e-4, texts.tags[i])
            if cosine < worstCosine { worstCosine = cosine; worstCosineTag = texts.tags[i] }
            if diff > worstDiff { worstDiff = diff; worstDiffTag = texts.tags[i] }
        }
        print("embeddings: \(ours.shape[0]) texts; worst cosine \(String(format: "%.13f", worstCosine)) (\(worstCosineTag)); "
            + "max |diff| \(String(format: "%.2e", worstDiff)) (\(worstDiffTag)); \(BLAS.backend)")
    }

    /// Results do not depend on which texts share a batch, the batch size or the order.
    func testResultsDoNotDependOnBatching() throws {
        let encoder = try EncoderFixtures.encoder()
        let texts = Array(try EncoderFixtures.texts().texts.prefix(60))
        let all = encoder.encode(texts)
        let reversed = Array(texts.reversed())
        let saved = encoder.tokensPerBatch
        encoder.tokensPerBatch = 100
        defer { encoder.tokensPerBatch = saved }
        let small = encoder.encode(reversed)
        let d = encoder.dimension
        for i in 0 ..< texts.count {
            let j = texts.count - 1 - i
            for k in 0 ..< d {
                XCTAssertEqual(all.pointer[i * d + k], small.pointer[j * d + k], accuracy: 2e-6, "text \(i)")
            }
        }
        let one = encoder.encode([texts[7]])
        for k in 0 ..< d { XCTAssertEqual(one.pointer[k], all.pointer[7 * d + k], accuracy: 2e-6) }
    }

    func testOutputsAreUnitVectorsAndTokenStatesPoolToThem() throws {
        let encoder = try EncoderFixtures.encoder()
        let texts = ["A red matte lipstick", "", "Ergonomic office chair with lumbar support"]
        let vectors = encoder.encode(texts)
        let states = encoder.tokenStates(texts)
        let d = encoder.dimension
        for i in 0 ..< texts.count {
            let norm = Kernels.dot(vectors.pointer + i * d, vectors.pointer + i * d, d).squareRoot()
            XCTAssertEqual(norm, 1, accuracy: 1e-5)
            XCTAssertEqual(states[i].ids, encoder.tokenIDs(texts[i]))
            XCTAssertEqual(states[i].states.shape, [states[i].ids.count, encoder.folder.config.hidden_size])
            // Mean of the token states, normalised, is the sentence vector.
            var mean = [Float](repeating: 0, count: d)
            let l = states[i].ids.count
            for r in 0 ..< l { for j in 0 ..< d { mean[j] += states[i].states.pointer[r * d + j] / Float(l) } }
            let n = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for j in 0 ..< d { XCTAssertEqual(mean[j] / n, vectors.pointer[i * d + j], accuracy: 1e-5) }
        }
        XCTAssertEqual(encoder.tokenIDs(""), [101, 102])
    }
}
