import ArgumentParser
import Corpora
import Foundation
import Support

/// `idgenrec compare RUN_A RUN_B`: paired bootstrap intervals and significance per metric.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two evaluation runs user by user (paired bootstrap CI and randomization test).")

    @Argument(help: "Run A: a run folder (metrics.json + ranks.tsv) or a report JSON file.") var runA: String
    @Argument(help: "Run B, evaluated on the same users and targets.") var runB: String
    @Option(name: .long, help: "Bootstrap and permutation resamples.") var resamples = 2000
    @Option(name: .long, help: "Random seed.") var seed: UInt64 = 0
    @Option(name: .long, help: "Also write the comparison as JSON to this file.") var json: String?

    func run() throws {
        try runReportingErrors {
            guard resamples >= 100 else { throw CorporaError.invalidArgument("--resamples must be at least 100, got \(resamples)") }
            let a = try EvaluationRun.load(URL(fileURLWithPath: runA))
            let b = try EvaluationRun.load(URL(fileURLWithPath: runB))
            if a.report.split.filterSeen != b.report.split.filterSeen {
                Log.info("WARNING: the runs use different seen-item conventions (filter_seen \(a.report.split.filterSeen) vs \(b.report.split.filterSeen))")
            }
            let comparison = try RunComparison.compare(a.ranks, b.ranks, nameA: runA, nameB: runB, resamples: resamples, seed: seed)
            if let json { try AtomicFile.writeJSON(comparison, to: URL(fileURLWithPath: json)) }
            print(comparison.markdown, terminator: "")
        }
    }
}
