import Foundation
import TensorCore
@testable import TextEncoder
import XCTest

/// Folder loading reads the pooling and Normalize modules from the files (not hard-coded), and
/// errors name the file, the field and what was expected.
final class FolderTests: XCTestCase {
    func testMissingFolderNamesMakeSetup() {
        XCTAssertThrowsError(try SentenceEncoder(folder: URL(fileURLWithPath: "/nonexistent/encoder"))) { error in
            XCTAssert("\(error)".contains("make setup") && "\(error)".contains("/nonexistent/encoder"), "\(error)")
        }
    }

    func testResolveOrder() {
        XCTAssertEqual(EncoderFolder.resolve(explicit: "/a", environment: ["IDGENREC_ENCODER": "/b"]).path, "/a")
        XCTAssertEqual(EncoderFolder.resolve(explicit: nil, environment: ["IDGENREC_ENCODER": "/b"]).path, "/b")
        XCTAssert(EncoderFolder.resolve(explicit: nil, environment: [:]).path.hasSuffix(EncoderFolder.defaultRelativePath))
    }

    /// CLS pooling without Normalize (bge-style folder): the vector is the [CLS] token state.
    func testCLSPoolingWithoutNormalizeFollowsTheConfigs() throws {
        let source = try EncoderFixtures.encoderFolder()
        let copy = try EncoderFixtures.editableCopy(of: source)
        try EncoderFixtures.writeJSON(["word_embedding_dimension": 384, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false,
                                       "pooling_mode_max_tokens": false, "pooling_mode_mean_sqrt_len_tokens": false],
                                      to: copy.appendingPathComponent("1_Pooling/config.json"))
        try EncoderFixtures.writeJSON([["idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"],
                                       ["idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"]],
                                      to: copy.appendingPathComponent("modules.json"))
        let encoder = try SentenceEncoder(folder: copy)
        XCTAssertFalse(encoder.folder.normalize)
        XCTAssertEqual(encoder.folder.pooling.modes, [.cls])
        let texts = ["Moisturising face cream", "A4 printer paper"]
        let vectors = encoder.encode(texts)
        let states = encoder.tokenStates(texts)
        for i in 0 ..< 2 {
            for j in 0 ..< 384 { XCTAssertEqual(vectors.pointer[i * 384 + j], states[i].states.pointer[j]) }
        }
        XCTAssertNotEqual(Kernels.dot(vectors.pointer, vectors.pointer, 384), 1, accuracy: 1e-3)
    }

    func testConfigErrorsNameFileAndField() throws {
        let source = try EncoderFixtures.encoderFolder()
        let copy = try EncoderFixtures.editableCopy(of: source)
        try EncoderFixtures.writeJSON([["idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"],
                                       ["idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"],
                                       ["idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"]],
                                      to: copy.appendingPathComponent("modules.json"))
        XCTAssertThrowsError(try EncoderFolder(url: copy)) { error in
            XCTAssert("\(error)".contains("modules.json") && "\(error)".contains("sentence_transformers.models.Dense"), "\(error)")
        }
        try FileManager.default.removeItem(at: copy.appendingPathComponent("modules.json"))
        XCTAssertThrowsError(try EncoderFolder(url: copy)) { error in
            XCTAssert("\(error)".contains("modules.json: missing"), "\(error)")
        }
        let copy2 = try EncoderFixtures.editableCopy(of: source)
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: copy2.appendingPathComponent("config.json"))) as! [String: Any]
        config["hidden_act"] = "relu"
        try EncoderFixtures.writeJSON(config, to: copy2.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try EncoderFolder(url: copy2)) { error in
            XCTAssert("\(error)".contains("config.json") && "\(error)".contains("hidden_act 'relu'"), "\(error)")
        }
        config["hidden_act"] = "gelu"
        config.removeValue(forKey: "hidden_size")
        try EncoderFixtures.writeJSON(config, to: copy2.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try EncoderFolder(url: copy2)) { error in
            XCTAssert("\(error)".contains("config.json: field 'hidden_size'"), "\(error)")
        }
    }
}

final class EncoderKernelTests: XCTestCase {
    func testGeluErfAgainstDouble() {
        let n = 1000
        let x = (0 ..< n).map { Float($0 - 500) / 50 } // -10 ... 10
        var y = [Float](repeating: 0, count: n)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { EncoderKernels.geluErf(xp.baseAddress!, $0.baseAddress!, n) } }
        for i in 0 ..< n {
            let v = Double(x[i])
            let exact = 0.5 * v * (1 + erf(v / 2.0.squareRoot()))
            XCTAssertEqual(Double(y[i]), exact, accuracy: 2e-6 * max(1, abs(v)), "x = \(v)")
        }
    }
}
