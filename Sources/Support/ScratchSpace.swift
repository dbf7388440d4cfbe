import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A scratch folder private to this process, under the system temporary directory, removed
/// with everything in it when the process exits normally (XCTest exits through `exit`). Tests
/// put their run folders here, so `make test` leaves nothing behind in /tmp. Set
/// `IDGENREC_KEEP_SCRATCH=1` to keep it for inspection (its path is printed then).
public enum ScratchSpace {
    public static let root: URL = {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("idgenrec-scratch-\(getpid())-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        if ProcessInfo.processInfo.environment["IDGENREC_KEEP_SCRATCH"] == "1" {
            FileHandle.standardError.write(Data("scratch space kept: \(url.path)\n".utf8))
        } else {
            atexit { ScratchSpace.remove() }
        }
        return url
    }()

    /// A fresh, not yet existing path in the scratch folder: `<name>-<uuid><suffix>`.
    public static func path(_ name: String, suffix: String = "") -> URL {
        root.appendingPathComponent("\(name)-\(UUID().uuidString)\(suffix)")
    }

    static func remove() {
        try? FileManager.default.removeItem(at: root)
    }
}
