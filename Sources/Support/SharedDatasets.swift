import Foundation

/// Where the real datasets beside the project live: `$IDGENREC_DATASETS`, else
/// `../shared/datasets` relative to the package root. Tests that need them skip when absent.
public enum SharedDatasets {
    public static func root(packageRoot: URL) -> URL? {
        let candidates: [URL]
        if let env = ProcessInfo.processInfo.environment["IDGENREC_DATASETS"], !env.isEmpty {
            candidates = [URL(fileURLWithPath: env)]
        } else {
            candidates = [packageRoot.deletingLastPathComponent().appendingPathComponent("shared/datasets")]
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("README.md").path) }
    }

    /// The package root of a source file given by `#filePath` (walks up to Package.swift).
    public static func packageRoot(from filePath: String) -> URL {
        var url = URL(fileURLWithPath: filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }
}
