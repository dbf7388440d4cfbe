import Foundation
import Support
import TensorCore
@testable import TextEncoder
import XCTest

/// The fixtures of tools/make_encoder_fixtures.py and the encoder folder `make setup` installs.
enum EncoderFixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let packageRoot = SharedDatasets.packageRoot(from: #filePath)

    /// The installed all-MiniLM-L6-v2 folder (`$IDGENREC_ENCODER` is not read here: the fixtures
    /// belong to that model), or a skip naming `make setup`.
    static func encoderFolder() throws -> URL {
        let url = packageRoot.appendingPathComponent(EncoderFolder.defaultRelativePath)
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("model.safetensors").path) else {
            throw XCTSkip("sentence encoder not installed at \(url.path): run `make setup`")
        }
        return url
    }

    /// One encoder per test process (loading takes ~0.3 s).
    nonisolated(unsafe) private static var cached: SentenceEncoder?
    static func encoder() throws -> SentenceEncoder {
        if let cached { return cached }
        let e = try SentenceEncoder(folder: encoderFolder())
        cached = e
        return e
    }

    struct Texts: Decodable {
        let texts: [String]
        let tags: [String]
    }

    static func texts() throws -> Texts {
        try JSONDecoder().decode(Texts.self, from: Data(contentsOf: folder.appendingPathComponent("texts.json")))
    }

    /// Reference ids per text and embeddings [n, dim].
    static func reference() throws -> (ids: [[Int32]], embeddings: Tensor) {
        let file = try SafeTensorsFile(url: folder.appendingPathComponent("minilm.safetensors"))
        let flat = try file.intTensor("ids").values
        let lengths = try file.intTensor("lengths").values.map(Int.init)
        var ids: [[Int32]] = []
        var start = 0
        for l in lengths { ids.append(Array(flat[start ..< start + l])); start += l }
        return (ids, try file.tensor("embeddings"))
    }

    /// A copy of the encoder folder's small files (weights linked), for tests that edit configs.
    static func editableCopy(of url: URL) throws -> URL {
        let copy = ScratchSpace.path("encoder-copy")
        let fm = FileManager.default
        try fm.createDirectory(at: copy, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: url.path) {
            let src = url.appendingPathComponent(name), dst = copy.appendingPathComponent(name)
            if name == "model.safetensors" { try fm.createSymbolicLink(at: dst, withDestinationURL: src) } else { try fm.copyItem(at: src, to: dst) }
        }
        return copy
    }

    static func writeJSON(_ object: Any, to url: URL) throws {
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: url)
    }
}
