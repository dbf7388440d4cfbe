import ArgumentParser
import Corpora
import Foundation
import Support

/// `idgenrec evaluate-baseline mostpop --data PATH --json FILE`.
struct EvaluateBaselineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate-baseline",
        abstract: "Evaluate a non-learned baseline through the full-ranking harness.")

    enum Baseline: String, ExpressibleByArgument, CaseIterable { case mostpop }

    @Argument(help: "Baseline: mostpop.") var baseline: Baseline
    @Option(name: .long, help: "Dataset folder.") var data: String
    @OptionGroup var dataset: DatasetOptions
    @Option(name: .long, help: "Which held-out item: validation or test.") var part: EvaluationPart = .test
    @Flag(name: .long, help: "Remove history items from the ranking (RecBole convention; labelled in the report).") var filterSeen = false
    @Option(name: .long, help: "Evaluate a seeded random sample of this many users (default: all).") var users: Int?
    @Option(name: .long, help: "Seed for the user sample and the bootstrap.") var seed: UInt64 = 0
    @Option(name: .long, help: "Write the JSON report here (per-user ranks go next to it as NAME.ranks.tsv).") var json: String?
    @Option(name: .long, help: "Run folder: metrics.json, metrics.md and ranks.tsv.") var out: String?

    func run() throws {
        try runReportingErrors {
            let (domain, _) = try dataset.load(data)
            let split = try Split.leaveOneOut(domain)
            let evaluator = Evaluator(split: split, catalog: domain.catalog)
            let model = try MostPop(split: split)
            let (report, ranks) = try evaluator.evaluate(
                model: baseline.rawValue, part: part, ranking: model.ranking, data: data,
                config: ["baseline": baseline.rawValue, "counts": "training parts", "ties": "item id, string order", "filter_seen": "\(filterSeen)"],
                filterSeen: filterSeen, userSample: users, seed: seed)
            if let json { try EvaluationRun.save(report: report, ranks: ranks, json: URL(fileURLWithPath: json)) }
            if let out { try EvaluationRun.save(report: report, ranks: ranks, folder: URL(fileURLWithPath: out)) }
            print(report.markdown, terminator: "")
        }
    }
}

extension EvaluationPart: ExpressibleByArgument {}
