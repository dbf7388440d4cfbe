import Autograd
import Decoding
import Foundation
import Optim
import Support
import TensorCore
import XCTest
@testable import T5

/// Parity with Hugging Face `T5ForConditionalGeneration` (transformers 4.46.3) on the stored
/// tiny v1.0 (ReLU, tied) and v1.1 (gated GELU, untied) models.
final class ParityTests: XCTestCase {
    func testForwardMatchesHuggingFace() throws {
        for name in Fixtures.models {
            let model = try T5Model.load(folder: Fixtures.folder(name))
            let io = try Fixtures.io(name)
            XCTAssertEqual(io.batch.decoderInputIDs, io.decoderInputIDs, "\(name): shift right")
            // Autograd path (eval mode) and graph-free path.
            let enc = GradMode.withoutGradients { model.encode(io.batch.inputIDs, attentionMask: io.batch.attentionMask) }
            assertClose(enc.value, io.encoderHidden, absolute: 1e-4, "\(name) encoder (autograd)")
            let fast = T5InferenceWeights(model).encode(inputIDs: io.batch.inputIDs, attentionMask: io.batch.attentionMask)
            assertClose(fast.hidden, io.encoderHidden, absolute: 1e-4, "\(name) encoder (graph-free)")
            let logits = model.logits(io.batch)
            XCTAssertEqual(logits.shape, io.logits.shape)
            assertClose(logits.value, io.logits, absolute: 1e-4, "\(name) logits")
            let loss = model.loss(io.batch).value.item
            XCTAssertEqual(loss, io.loss, accuracy: 1e-5, "\(name) loss")
        }
    }

    func testGradientsMatchHuggingFace() throws {
        for name in Fixtures.models {
            let model = try T5Model.load(folder: Fixtures.folder(name))
            let io = try Fixtures.io(name)
            let expected = try SafeTensorsFile(url: Fixtures.folder(name).appendingPathComponent("grads.safetensors"))
            model.loss(io.batch).backward()
            let named = model.namedParameters()
            XCTAssertEqual(Set(named.map(\.name)), Set(expected.keys), "\(name): gradient keys")
            var worst: (String, Float) = ("", 0)
            for (key, p) in named {
                guard let g = p.grad else { XCTFail("\(name): no gradient for \(key)"); continue }
                let ref = try expected.tensor(key)
                let (d, scale) = maxDifference(g.scalars, ref.scalars)
                let rel = d / max(scale, 1e-6)
                if rel > worst.1 { worst = (key, rel) }
                XCTAssertLessThanOrEqual(rel, 1e-3, "\(name) \(key): largest difference \(d) (scale \(scale))")
            }
            print("\(name): worst relative gradient difference \(worst.1) at \(worst.0)")
        }
    }

    func testAdamWTrajectoryMatchesPyTorch() throws {
        for name in Fixtures.models {
            let model = try T5Model.load(folder: Fixtures.folder(name))
            let io = try Fixtures.io(name)
            let ref = try Fixtures.json(name, "adamw.json")
            let losses = (ref["losses"] as! [Double]).map(Float.init)
            // One group holding every parameter, weight decay 0.01 (adamw.json).
            let opt = AdamW(groups: [ParameterGroup(parameters: model.namedParameters(), weightDecay: Float(ref["weight_decay"] as! Double))],
                            learningRate: Float(ref["lr"] as! Double), beta1: 0.9, beta2: 0.999, eps: Float(ref["eps"] as! Double))
            var got: [Float] = []
            for _ in 0 ..< 5 {
                opt.zeroGrad()
                let loss = model.loss(io.batch)
                got.append(loss.value.item)
                loss.backward()
                opt.step()
            }
            let final = model.loss(io.batch).value.item
            for (k, (a, b)) in zip(got, losses).enumerated() {
                XCTAssertEqual(a, b, accuracy: 1e-4, "\(name): loss before step \(k + 1)")
            }
            XCTAssertEqual(final, Float(ref["final_loss"] as! Double), accuracy: 1e-4, "\(name): final loss")
            let norms = ref["param_l2_norms"] as! [String: Double]
            for (key, p) in model.namedParameters() {
                let n = Kernels.sumSquares(p.value.pointer, p.value.count).squareRoot()
                XCTAssertEqual(n, Float(norms[key]!), accuracy: 1e-4 * max(1, Float(norms[key]!)), "\(name): norm of \(key)")
            }
        }
    }

    /// HF rows: start token, tokens, eos, pad… → the generated tokens up to eos inclusive.
    private func strip(_ row: [Int32], eos: Int32) -> [Int32] {
        var out: [Int32] = []
        for t in row.dropFirst() {
            out.append(t)
            if t == eos { break }
        }
        return out
    }

    func testGenerationMatchesHuggingFace() throws {
        for name in Fixtures.models {
            let model = try T5Model.load(folder: Fixtures.folder(name))
            let g = try Fixtures.json(name, "generate.json")
            let ids = (g["input_ids"] as! [[Int]]), mask = g["attention_mask"] as! [[Int]]
            let inputs: [[Int32]] = zip(ids, mask).map { row, m in zip(row, m).filter { $0.1 == 1 }.map { Int32($0.0) } }
            let trieInfo = g["trie"] as! [String: Any]
            let trie = try PrefixTrie(sequences: (trieInfo["sequences"] as! [[Int]]).map { $0.map(Int32.init) }, eosTokenId: 1)
            for mode in ["greedy", "beam", "beam_lp05", "diverse_beam", "constrained_beam", "constrained_beam3"] {
                let entry = g[mode] as! [String: Any]
                let params = entry["params"] as! [String: Any]
                var config = GenerationConfig(maxNewTokens: params["max_new_tokens"] as! Int)
                config.numBeams = params["num_beams"] as? Int ?? 1
                config.numBeamGroups = params["num_beam_groups"] as? Int ?? 1
                config.diversityPenalty = params["diversity_penalty"] as? Double ?? 0
                config.lengthPenalty = params["length_penalty"] as? Double ?? 1
                config.numReturnSequences = params["num_return_sequences"] as? Int ?? 1
                let constraint: (any TokenConstraint)? = mode.hasPrefix("constrained") ? trie : nil
                let results = try generate(model, inputs: inputs, config: config, constraint: constraint)
                let expected = (entry["sequences"] as! [[Int]]).map { strip($0.map(Int32.init), eos: 1) }
                let scores = entry["sequences_scores"] as? [Double]
                let perInput = config.numReturnSequences
                XCTAssertEqual(results.count, inputs.count, "\(name) \(mode)")
                XCTAssertEqual(expected.count, inputs.count * perInput, "\(name) \(mode)")
                for (b, result) in results.enumerated() {
                    XCTAssertEqual(result.sequences.count, perInput, "\(name) \(mode) input \(b)")
                    for (k, seq) in result.sequences.enumerated() where k < perInput {
                        XCTAssertEqual(seq.tokens, expected[b * perInput + k], "\(name) \(mode) input \(b) rank \(k)")
                        if let scores {
                            XCTAssertEqual(Double(seq.score), scores[b * perInput + k], accuracy: 1e-4,
                                           "\(name) \(mode) input \(b) rank \(k) score")
                        }
                    }
                }
            }
        }
    }
}
