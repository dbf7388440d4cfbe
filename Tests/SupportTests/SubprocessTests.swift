import Foundation
import Support
import XCTest

final class SubprocessTests: XCTestCase {
    /// A child that writes far more than a pipe buffer (64 KB) to stderr before its stdout
    /// closes: reading stdout to its end first would hang forever.
    func testLargeStderrDoesNotDeadlock() throws {
        let sh = URL(fileURLWithPath: "/bin/sh")
        let r = try Subprocess.run(sh, ["-c", "head -c 300000 /dev/zero | tr '\\000' x >&2; echo done; exit 3"])
        XCTAssertEqual(r.status, 3)
        XCTAssertEqual(r.stdout, "done\n")
        XCTAssertEqual(r.stderr.count, 300_000)
        XCTAssert(r.stderr.allSatisfy { $0 == "x" })
    }

    func testMissingExecutableThrows() {
        XCTAssertThrowsError(try Subprocess.run(URL(fileURLWithPath: "/nonexistent/program"), []))
    }
}

final class ScratchSpaceTests: XCTestCase {
    func testPathsAreFreshAndInsideThePerProcessRoot() throws {
        let a = ScratchSpace.path("x"), b = ScratchSpace.path("x", suffix: ".tsv")
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(a.deletingLastPathComponent().standardizedFileURL, ScratchSpace.root.standardizedFileURL)
        XCTAssert(b.lastPathComponent.hasSuffix(".tsv"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: a.path))
        var isDirectory: ObjCBool = false
        XCTAssert(FileManager.default.fileExists(atPath: ScratchSpace.root.path, isDirectory: &isDirectory) && isDirectory.boolValue)
        XCTAssert(ScratchSpace.root.lastPathComponent.hasPrefix("idgenrec-scratch-\(getpid())-"))
    }

}
