import Foundation
import TensorCore
import XCTest
@testable import T5

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let models = ["tiny-v1_0", "tiny-v1_1"]
    static func folder(_ name: String) -> URL { root.appendingPathComponent(name) }

    struct IO {
        let batch: Seq2SeqBatch
        let decoderInputIDs: IntTensor
        let encoderHidden: Tensor
        let logits: Tensor
        let loss: Float
    }

    static func io(_ name: String) throws -> IO {
        let f = try SafeTensorsFile(url: folder(name).appendingPathComponent("io.safetensors"))
        let ids = try f.intTensor("input_ids"), maskInt = try f.intTensor("attention_mask")
        let mask = Tensor(shape: maskInt.shape, values: maskInt.values.map(Float.init))
        let batch = Seq2SeqBatch(inputIDs: ids, attentionMask: mask, labels: try f.intTensor("labels"))
        return IO(batch: batch, decoderInputIDs: try f.intTensor("decoder_input_ids"),
                  encoderHidden: try f.tensor("encoder_last_hidden_state"), logits: try f.tensor("logits"),
                  loss: try f.tensor("loss").item)
    }

    static func json(_ name: String, _ file: String) throws -> [String: Any] {
        let data = try Data(contentsOf: folder(name).appendingPathComponent(file))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

/// Largest absolute difference and the largest reference magnitude.
func maxDifference(_ a: [Float], _ b: [Float]) -> (diff: Float, scale: Float) {
    precondition(a.count == b.count, "sizes \(a.count) vs \(b.count)")
    var d: Float = 0, s: Float = 0
    for i in a.indices {
        d = max(d, abs(a[i] - b[i]))
        s = max(s, abs(b[i]))
    }
    return (d, s)
}

/// Asserts |actual − expected| ≤ tolerance everywhere, reporting the largest difference.
func assertClose(_ actual: Tensor, _ expected: Tensor, absolute: Float, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): \(actual.shape) vs \(expected.shape)", file: file, line: line)
    guard actual.count == expected.count else { return }
    let (d, _) = maxDifference(actual.scalars, expected.scalars)
    XCTAssertLessThanOrEqual(d, absolute, "\(what): largest abs difference \(d)", file: file, line: line)
}
