import Foundation
import Support
import XCTest
@testable import Corpora

enum Fixture {
    static let packageRoot = SharedDatasets.packageRoot(from: #filePath)
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// A fresh temporary folder holding `files` (name → bytes).
    static func folder(_ files: [String: [UInt8]]) throws -> URL {
        let url = ScratchSpace.root.appendingPathComponent("corpora-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, bytes) in files { try Data(bytes).write(to: url.appendingPathComponent(name)) }
        return url
    }

    static func folder(text files: [String: String]) throws -> URL {
        try folder(files.mapValues { Array($0.utf8) })
    }

    static func datasets() throws -> URL {
        guard let root = SharedDatasets.root(packageRoot: packageRoot) else {
            throw XCTSkip("real datasets not found at ../shared/datasets (or $IDGENREC_DATASETS); skipping")
        }
        return root
    }

    /// A domain built in memory: items "i0".."i(n-1)" with a title each.
    static func domain(_ sequences: [[Int]], items: Int, ids: [String]? = nil, timestamps: [[Double]]? = nil, name: String = "toy") -> Domain {
        let itemIDs = ids ?? (0 ..< items).map { "i\($0)" }
        let catalog = Catalog(items: itemIDs.map { ($0, [TextField("title", "Item \($0)")]) })
        let users = sequences.indices.map { "u\($0)" }
        return Domain(name: name, catalog: catalog, interactions: Interactions(users: users, sequences: sequences, timestamps: timestamps),
                      report: ImportReport(format: .idgenrec, files: []))
    }
}

/// Asserts that `body` throws a `CorporaError` whose text contains every fragment.
func assertCorporaError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected an error containing \(fragments)", file: file, line: line)
    } catch let error as CorporaError {
        for f in fragments { XCTAssert(error.description.contains(f), "\(error.description) should contain \(f)", file: file, line: line) }
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}
