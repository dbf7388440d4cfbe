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
