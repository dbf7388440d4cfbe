import Autograd
import Decoding
import Foundation
import Support
import TensorCore
import Tokenizer
import XCTest
@testable import T5

final class ModelTests: XCTestCase {
    private func temporaryFolder() -> URL {
        let url = ScratchSpace.root.appendingPathComponent("t5tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// The incremental decoder (KV cache, reorders included) reproduces the teacher-forced
    /// full forward's log-probabilities at every position.
    func testIncrementalDecodingEqualsTeacherForcing() throws {
        for name in Fixtures.models {
            let model = try T5Model.load(folder: Fixtures.folder(name))
            let io = try Fixtures.io(name)
            let logits = model.logits(io.batch).value // [B, T, V]
            let full = Ops.logSoftmax(logits)
            let b = io.batch.batchSize, t = io.batch.targetLength, v = model.config.vocab_size
            var scorer = T5StepScorer(weights: T5InferenceWeights(model),
                                      encoded: T5InferenceWeights(model).encode(inputIDs: io.batch.inputIDs,
                                                                                 attentionMask: io.batch.attentionMask),
                                      initialCapacity: 2) // forces cache growth
            // Expand to 3 rows per input in reversed order, as a beam search might.
            let expansion = (0 ..< b).reversed().flatMap { [$0, $0, $0] }
            var rowsInput = Array(0 ..< b)
            for step in 0 ..< t {
                let last = rowsInput.map { io.batch.decoderInputIDs.values[$0 * t + step] }
                let lp = try scorer.logProbabilities(lastTokens: last, step: step)
                var worst: Float = 0
                for (row, input) in rowsInput.enumerated() {
                    for j in 0 ..< v { worst = max(worst, abs(lp[row * v + j] - full.pointer[(input * t + step) * v + j])) }
                }
                XCTAssertLessThanOrEqual(worst, 1e-4, "\(name) step \(step): largest difference \(worst)")
                if step == 0 {
                    try scorer.reorder(sourceRows: expansion)
                    rowsInput = expansion
                } else if step == 2 {
                    let keep = [0, 4, 5]
                    try scorer.reorder(sourceRows: keep)
                    rowsInput = keep.map { rowsInput[$0] }
                }
            }
        }
    }

    /// A saved folder is a complete Hugging Face folder (config, weights, tokenizer files) and
    /// loads back to the same parameters.
    func testSaveLoadRoundTrip() throws {
        var g = SeededGenerator(seed: 7)
        let tokenizer = try Tokenizer(contentsOf: Fixtures.folder("tiny-v1_0").appendingPathComponent("spiece.model"))
        for tied in [true, false] {
            let config = T5Config(vocabSize: tokenizer.vocabularySize, dModel: 16, dKV: 4, dFF: 32, layers: 2, decoderLayers: 1, heads: 4,
                                  feedForward: tied ? "relu" : "gated-gelu", tied: tied)
            let model = try T5Model(config: config, generator: &g)
            let folder = temporaryFolder()
            try model.save(folder: folder, tokenizer: tokenizer)
            let file = try SafeTensorsFile(url: folder.appendingPathComponent("model.safetensors"))
            XCTAssertEqual(file.keys.contains("lm_head.weight"), !tied)
            XCTAssertEqual(file.metadata["format"], "pt")
            XCTAssertEqual(try Data(contentsOf: folder.appendingPathComponent("spiece.model")), tokenizer.modelData)
            let tokenizerConfig = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("tokenizer_config.json"))) as! [String: Any]
            XCTAssertEqual(tokenizerConfig["tokenizer_class"] as? String, "T5Tokenizer")
            XCTAssertEqual(tokenizerConfig["extra_ids"] as? Int, 0, "our sentinels live inside spiece.model")
            XCTAssertEqual(tokenizerConfig["eos_token"] as? String, tokenizer.piece(forID: tokenizer.eosID!))
            let special = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("special_tokens_map.json"))) as! [String: Any]
            XCTAssertEqual(special["pad_token"] as? String, tokenizer.piece(forID: tokenizer.padID!))
            let back = try T5Model.load(folder: folder)
            XCTAssertEqual(back.config, model.config)
            for ((n1, p1), (n2, p2)) in zip(model.namedParameters(), back.namedParameters()) {
                XCTAssertEqual(n1, n2)
                XCTAssertEqual(p1.value.scalars, p2.value.scalars, n1)
            }
            let batch = Seq2SeqBatch(sources: [[5, 6, 7, 1], [8, 1]], targets: [[9, 1], [10, 11, 1]])
            XCTAssertEqual(model.loss(batch).value.item, back.loss(batch).value.item)
        }
        // A tokenizer of another size cannot describe this model.
        let other = try T5Model(config: T5Config(vocabSize: 50, dModel: 16, dKV: 4, dFF: 32, layers: 1, heads: 4), generator: &g)
        XCTAssertThrowsError(try other.save(folder: temporaryFolder(), tokenizer: tokenizer)) { error in
            XCTAssertTrue("\(error)".contains("vocab_size is 50"), "\(error)")
        }
    }

    func testStrictLoadErrorsNameKeyFileAndShapes() throws {
        let source = Fixtures.folder("tiny-v1_0")
        let tensors = try SafeTensors.load(source.appendingPathComponent("model.safetensors"))
        let config = try Data(contentsOf: source.appendingPathComponent("config.json"))
        func folder(with t: [String: Tensor]) throws -> URL {
            let f = temporaryFolder()
            try config.write(to: f.appendingPathComponent("config.json"))
            try SafeTensors.save(t, to: f.appendingPathComponent("model.safetensors"))
            return f
        }
        let key = "decoder.block.1.layer.2.DenseReluDense.wo.weight"
        var missing = tensors; missing[key] = nil
        var wrong = tensors; wrong[key] = Tensor(zeros: [3, 3])
        var extra = tensors; extra["encoder.block.9.extra"] = Tensor(zeros: [2])
        for (variant, expectedParts) in [(missing, [key, "[32, 64]"]), (wrong, [key, "[32, 64]", "[3, 3]"]),
                                         (extra, ["encoder.block.9.extra"])] {
            let f = try folder(with: variant)
            XCTAssertThrowsError(try T5Model.load(folder: f)) { error in
                let text = "\(error)"
                for part in expectedParts + ["model.safetensors"] {
                    XCTAssertTrue(text.contains(part), "'\(text)' should mention \(part)")
                }
            }
        }
    }

    func testConfigErrorsNameTheKey() throws {
        let f = temporaryFolder()
        var json = try Fixtures.json("tiny-v1_0", "config.json")
        json["num_heads"] = 0
        try JSONSerialization.data(withJSONObject: json).write(to: f.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try T5Config.load(f.appendingPathComponent("config.json"))) { error in
            XCTAssertTrue("\(error)".contains("num_heads"), "\(error)")
            XCTAssertTrue("\(error)".contains("config.json"), "\(error)")
        }
        json["num_heads"] = 4
        json["feed_forward_proj"] = "gated-swish"
        try JSONSerialization.data(withJSONObject: json).write(to: f.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try T5Config.load(f.appendingPathComponent("config.json"))) { error in
            XCTAssertTrue("\(error)".contains("feed_forward_proj"), "\(error)")
        }
        json["feed_forward_proj"] = "relu"
        json["d_model"] = "wide"
        try JSONSerialization.data(withJSONObject: json).write(to: f.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try T5Config.load(f.appendingPathComponent("config.json"))) { error in
            XCTAssertTrue("\(error)".contains("d_model"), "\(error)")
        }
        json["d_model"] = 32
        json["layer_norm_epsilon"] = [1e-6]
        try JSONSerialization.data(withJSONObject: json).write(to: f.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try T5Config.load(f.appendingPathComponent("config.json"))) { error in
            XCTAssertTrue("\(error)".contains("layer_norm_epsilon"), "\(error)")
        }
    }

    /// A config.json that omits optional keys loads as `transformers.T5Config(**json)` does:
    /// each omitted key takes HF's default (configuration_t5.py), the rest are kept.
    func testOmittedConfigKeysTakeHuggingFaceDefaults() throws {
        let f = temporaryFolder().appendingPathComponent("config.json")
        try Data(#"{"d_model": 32, "vocab_size": 100, "num_heads": 2, "d_kv": 16, "use_cache": true}"#.utf8).write(to: f)
        let c = try T5Config.load(f)
        XCTAssertEqual(c.d_model, 32)
        XCTAssertEqual(c.vocab_size, 100)
        XCTAssertEqual(c.num_heads, 2)
        XCTAssertEqual(c.d_ff, 2048)
        XCTAssertEqual(c.num_layers, 6)
        XCTAssertEqual(c.decoderLayers, 6)
        XCTAssertEqual(c.relative_attention_num_buckets, 32)
        XCTAssertEqual(c.relative_attention_max_distance, 128)
        XCTAssertEqual(c.dropout_rate, 0.1)
        XCTAssertEqual(c.layer_norm_epsilon, 1e-6)
        XCTAssertEqual(c.feed_forward_proj, "relu")
        XCTAssertTrue(c.tied)
        XCTAssertEqual(c.pad_token_id, 0)
        XCTAssertEqual(c.eos_token_id, 1)
        XCTAssertEqual(c.decoder_start_token_id, 0)
        // An empty object is t5-small's shape, as in HF.
        try Data("{}".utf8).write(to: f)
        var small = T5Config.preset(.t5Small, vocabularySize: 32128)
        small.num_decoder_layers = nil
        small.tie_word_embeddings = nil
        small.initializer_factor = nil
        small.model_type = nil
        small.architectures = nil
        XCTAssertEqual(try T5Config.load(f), small)
    }

    /// Float fields are written as floats (transformers 5 refuses `"initializer_factor": 1`),
    /// integers as integers, and the file reads back to the same config.
    func testConfigJSONWritesFloatsWithADecimalPoint() throws {
        let f = temporaryFolder().appendingPathComponent("config.json")
        var config = T5Config.preset(.tiny, vocabularySize: 300)
        config.dropout_rate = 0
        try config.save(f)
        let text = try String(contentsOf: f, encoding: .utf8)
        for key in ["initializer_factor", "dropout_rate"] {
            XCTAssertTrue(text.contains("\"\(key)\" : 1.0") || text.contains("\"\(key)\" : 0.0"), "\(key) in \(text)")
        }
        XCTAssertTrue(text.contains("\"layer_norm_epsilon\" : 1e-06") || text.contains("\"layer_norm_epsilon\" : 9.99"), text)
        XCTAssertTrue(text.contains("\"d_model\" : 64,"), text)
        let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        XCTAssertEqual(parsed.count, Set(parsed.keys).count)
        XCTAssertEqual(try T5Config.load(f), config)
    }

    /// Dropout (hidden states and attention probabilities) in the fused attention: the
    /// analytic gradient of a dropped-out loss matches finite differences with the same mask.
    func testTrainingWithDropoutIsDeterministicAndDifferentiable() throws {
        var g = SeededGenerator(seed: 3)
        var config = T5Config(vocabSize: 40, dModel: 16, dKV: 4, dFF: 32, layers: 1, heads: 4, dropout: 0.2)
        config.initializer_factor = 1
        let model = try T5Model(config: config, generator: &g)
        let batch = Seq2SeqBatch(sources: [[5, 6, 7, 1], [8, 1]], targets: [[9, 1], [10, 11, 1]])
        var d1 = SeededGenerator(seed: 11), d2 = SeededGenerator(seed: 11)
        let a = model.loss(batch, dropout: &d1).value.item
        let b = model.loss(batch, dropout: &d2).value.item
        XCTAssertEqual(a, b, "same dropout seed, same loss")
        XCTAssertNotEqual(a, model.loss(batch).value.item, "dropout changes the loss")
        // Finite differences on a few entries of one attention weight, same dropout stream.
        let p = model.encoder.blocks[0].selfAttention.q
        var gen = SeededGenerator(seed: 5)
        model.loss(batch, dropout: &gen).backward()
        let grad = p.grad!.copy()
        for i in [0, 7, 30] {
            let old = p.value.pointer[i], h: Float = 1e-2
            p.value.pointer[i] = old + h
            var g1 = SeededGenerator(seed: 5)
            let up = GradMode.withoutGradients { model.loss(batch, dropout: &g1).value.item }
            p.value.pointer[i] = old - h
            var g2 = SeededGenerator(seed: 5)
            let down = GradMode.withoutGradients { model.loss(batch, dropout: &g2).value.item }
            p.value.pointer[i] = old
            let numeric = (up - down) / (2 * h)
            XCTAssertEqual(grad.pointer[i], numeric, accuracy: 3e-3 + 2e-2 * abs(numeric), "entry \(i)")
        }
    }

    /// Co-training entry: the gradient reaches caller-built input embeddings, and equals the
    /// gradient the shared table receives through the token path.
    func testInputEmbeddingsPathMatchesTokenPath() throws {
        let model = try T5Model.load(folder: Fixtures.folder("tiny-v1_1"))
        let io = try Fixtures.io("tiny-v1_1")
        let embeds = Variable(Ops.embedding(model.shared.value, indices: io.batch.inputIDs), requiresGrad: true)
        var none: SeededGenerator? = nil
        let loss = model.loss(inputEmbeddings: embeds, attentionMask: io.batch.attentionMask,
                              decoderInputs: io.batch.decoderInputIDs, labels: io.batch.labels, dropout: &none)
        XCTAssertEqual(loss.value.item, io.loss, accuracy: 1e-5)
        loss.backward()
        let g = try XCTUnwrap(embeds.grad)
        XCTAssertEqual(g.shape, [2, 7, 32])
        XCTAssertGreaterThan(Kernels.sumSquares(g.pointer, g.count), 0)
    }

    func testGenerateRejectsBadInput() throws {
        let model = try T5Model.load(folder: Fixtures.folder("tiny-v1_0"))
        XCTAssertThrowsError(try generate(model, inputs: [[5, 1], []], config: GenerationConfig(maxNewTokens: 3))) {
            XCTAssertTrue("\($0)".contains("input 1"), "\($0)")
        }
        XCTAssertThrowsError(try generate(model, inputs: [[5, 999]], config: GenerationConfig(maxNewTokens: 3))) {
            XCTAssertTrue("\($0)".contains("999"), "\($0)")
        }
    }
}
