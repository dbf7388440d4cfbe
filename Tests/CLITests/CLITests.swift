import Foundation
import XCTest
import Support

/// Runs the built `idgenrec` binary end to end.
enum CLI {
    static let packageRoot = SharedDatasets.packageRoot(from: #filePath)

    static var binary: URL {
        for config in ["release", "debug"] {
            let url = packageRoot.appendingPathComponent(".build/\(config)/idgenrec")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return packageRoot.appendingPathComponent(".build/release/idgenrec")
    }

    typealias Result = Subprocess.Output

    static func run(_ arguments: [String]) throws -> Result {
        try Subprocess.run(binary, arguments)
    }
}

final class CLITests: XCTestCase {
    func testHelpListsTheTool() throws {
        let r = try CLI.run(["--help"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stdout.contains("idgenrec"), r.stdout)
    }

    func testEverySubcommandHasHelpAndFlagsAreSpelledAsDocumented() throws {
        for command in ["data", "ids", "train", "evaluate", "recommend", "cotrain", "zeroshot", "baseline", "generate", "bench", "compare", "evaluate-baseline", "embed", "serve"] {
            let r = try CLI.run([command, "--help"])
            XCTAssertEqual(r.status, 0, "\(command): \(r.stderr)")
        }
        let cotrain = try CLI.run(["cotrain", "--help"]).stdout
        XCTAssert(cotrain.contains("--fixed-ids"), cotrain)
        let ids = try CLI.run(["ids", "generate", "--help"]).stdout
        XCTAssert(ids.contains("--user-ids") && ids.contains("--allow-new-words"), ids)
    }
}
