import ArgumentParser
import Corpora
import Foundation
import Recommender
import Support

/// `idgenrec compare RUN_A RUN_B`: paired bootstrap intervals and significance per metric.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two evaluation runs user by user (paired bootstrap CI and randomization test).")

    @Argument(help: "Run A: a run folder (metrics.json + ranks.tsv), a report JSON file, or a zero-shot JSON and target as FILE.json#TARGET.") var runA: String
    @Argument(help: "Run B, evaluated on the same users and targets.") var runB: String
    @Option(name: .long, help: "Bootstrap and permutation resamples.") var resamples = 2000
    @Option(name: .long, help: "Random seed.") var seed: UInt64 = 0
    @Option(name: .long, help: "Also write the comparison as JSON to this file.") var json: String?

    func run() throws {
        try runReportingErrors {
            guard resamples >= 100 else { throw CorporaError.invalidArgument("--resamples must be at least 100, got \(resamples)") }
            let a = try Self.load(runA)
            let b = try Self.load(runB)
            if a.report.split.filterSeen != b.report.split.filterSeen {
                Log.info("WARNING: the runs use different seen-item conventions (filter_seen \(a.report.split.filterSeen) vs \(b.report.split.filterSeen))")
            }
            let comparison = try RunComparison.compare(a.ranks, b.ranks, nameA: runA, nameB: runB, resamples: resamples, seed: seed)
            if let json { try AtomicFile.writeJSON(comparison, to: URL(fileURLWithPath: json)) }
            print(comparison.markdown, terminator: "")
        }
    }

    /// A run folder or report JSON, or `FILE.json#TARGET`: one target of an `idgenrec zeroshot`
    /// JSON report (its ranks file lies beside the JSON).
    static func load(_ spec: String) throws -> (report: MetricsReport, ranks: [UserRank]) {
        guard let hash = spec.lastIndex(of: "#") else { return try EvaluationRun.load(URL(fileURLWithPath: spec)) }
        let url = URL(fileURLWithPath: String(spec[..<hash]))
        let target = String(spec[spec.index(after: hash)...])
        let results = try JSONOutput.decode([ZeroShotResult].self, from: url)
        guard let result = results.first(where: { $0.target == target }) else {
            throw CorporaError.badFile(file: url.path, reason: "no zero-shot target '\(target)' (it has: \(results.map(\.target).joined(separator: ", ")))")
        }
        guard let ranksName = result.zeroShot.ranksFile else {
            throw CorporaError.badFile(file: url.path, reason: "target '\(target)' has no ranks file; rerun zeroshot with --json")
        }
        let ranksURL = ranksName.hasPrefix("/") ? URL(fileURLWithPath: ranksName) : url.deletingLastPathComponent().appendingPathComponent(ranksName)
        return (result.zeroShot, try RanksFile.read(ranksURL))
    }
}
