import Foundation
import Support
import TensorCore
import XCTest

/// `idgenrec embed` end to end on the bundled corpus (800 items) with the encoder `make setup`
/// installs; skipped, naming `make setup`, when it is absent.
final class EmbedCLITests: XCTestCase {
    let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
    let pets = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path

    func encoder() throws -> String {
        let url = CLI.packageRoot.appendingPathComponent("checkpoints/encoders/all-MiniLM-L6-v2")
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("model.safetensors").path) else {
            throw XCTSkip("sentence encoder not installed at \(url.path): run `make setup`")
        }
        return url.path
    }

    func testEmbedWritesCatalogOrderReusesAndRefusesStale() throws {
        let encoder = try encoder()
        let out = ScratchSpace.path("embed", suffix: ".safetensors").path
        let first = try CLI.run(["embed", "--data", kitchen, "--encoder", encoder, "--out", out])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssert(first.stderr.contains("tokens/s"), first.stderr)
        let file = try SafeTensorsFile(url: URL(fileURLWithPath: out))
        XCTAssertEqual(file.entries["embeddings"]?.shape, [800, 384])
        XCTAssertEqual(file.entries["embeddings"]?.dtype, "F32")
        let ids = try JSONDecoder().decode([String].self, from: Data(file.metadata["item_ids"]!.utf8))
        let itemFile = try String(contentsOfFile: kitchen + "/item_plain_text.txt", encoding: .utf8)
        XCTAssertEqual(ids, itemFile.split(separator: "\n").map { String($0.split(separator: " ")[0]) }) // item file order
        XCTAssertEqual(file.metadata["encoder_sha256"]?.count, 64)
        XCTAssertEqual(file.metadata["texts_sha256"]?.count, 64)

        let again = try CLI.run(["embed", "--data", kitchen, "--encoder", encoder, "--out", out])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssert(again.stderr.contains("up to date"), again.stderr)

        let stale = try CLI.run(["embed", "--data", pets, "--encoder", encoder, "--out", out])
        XCTAssertNotEqual(stale.status, 0)
        XCTAssert(stale.stderr.contains("stale") && stale.stderr.contains("--rebuild"), stale.stderr)
        let rebuilt = try CLI.run(["embed", "--data", pets, "--encoder", encoder, "--out", out, "--rebuild", "--quiet"])
        XCTAssertEqual(rebuilt.status, 0, rebuilt.stderr)
    }

    func testNeighboursPrintsTenItemsWithTitles() throws {
        let encoder = try encoder()
        let first = String(try String(contentsOfFile: kitchen + "/item_plain_text.txt", encoding: .utf8).split(separator: " ")[0])
        let r = try CLI.run(["embed", "--data", kitchen, "--encoder", encoder, "--neighbours", first, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 11, r.stdout) // the item, then ten neighbours
        XCTAssert(lines[0].hasPrefix(first))
        let cosines = lines.dropFirst().map { Double($0.split(separator: " ", omittingEmptySubsequences: true)[1])! }
        XCTAssertEqual(cosines, cosines.sorted(by: >))
        XCTAssertFalse(lines.dropFirst().contains { $0.contains(first) })
        let unknown = try CLI.run(["embed", "--data", kitchen, "--encoder", encoder, "--neighbours", "NO-SUCH-ITEM"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssert(unknown.stderr.contains("NO-SUCH-ITEM"), unknown.stderr)
    }

    func testMissingEncoderNamesMakeSetup() throws {
        let r = try CLI.run(["embed", "--data", kitchen, "--encoder", "/nonexistent/encoder", "--out", ScratchSpace.path("x").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("make setup") && r.stderr.contains("/nonexistent/encoder"), r.stderr)
    }
}
