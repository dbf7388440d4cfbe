import ArgumentParser
import Corpora
import Foundation
import Support

/// Options shared by every command that imports a dataset folder.
struct DatasetOptions: ParsableArguments {
    @Option(name: .long, help: "Dataset format (default: detected from the files): \(DatasetFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: DatasetFormat?

    @Flag(name: .long, help: "Skip bad lines, unknown items, items without text and duplicate users, counting each skip, instead of failing.")
    var lenient = false

    @Option(name: .long, help: "k-core filter (0 = off; default: 5 for Amazon review dumps, off otherwise).")
    var kCore: Int?

    @Option(name: .long, help: "Keep a seeded random sample of this many users per domain (the catalog stays whole).") var sampleUsers: Int?
    @Option(name: .long, help: "Seed of --sample-users.") var sampleSeed: UInt64 = 0

    var importOptions: ImportOptions { ImportOptions(format: format, lenient: lenient, kCore: kCore) }

    /// Loads `path`: one dataset folder (as is), a comma list `DIR1,DIR2,…`, or a folder whose
    /// subfolders are dataset folders (e.g. `corpora/synthetic`). Several domains come back
    /// merged (`Domain.merged`: name `a+b+…`, ids prefixed `<domain>/`).
    func load(_ path: String) throws -> (domain: Domain, seconds: Double) {
        let start = Date()
        let folders = try Self.domainFolders(path, format: format)
        if let sampleUsers, sampleUsers < 1 { throw ValidationErrorMessage(message: "--sample-users must be at least 1, got \(sampleUsers)") }
        func read(_ folder: URL) throws -> Domain {
            let d = try DatasetImporter.load(folder, options: importOptions)
            return sampleUsers.map { d.sampledUsers($0, seed: sampleSeed) } ?? d
        }
        let domain: Domain
        if folders.count == 1 {
            domain = try read(folders[0])
        } else {
            var parts: [Domain] = []
            for folder in folders {
                let part = try read(folder)
                Log.info("\(part.name): \(part.interactions.userCount) users, \(part.catalog.count) items, \(part.interactions.interactionCount) interactions")
                parts.append(part)
            }
            domain = try Domain.merged(parts)
        }
        let seconds = Date().timeIntervalSince(start)
        for w in domain.report.warnings { Log.info("WARNING: \(path): \(w)") }
        if domain.report.totalSkipped > 0 {
            Log.info("lenient: skipped " + domain.report.skipped.keys.sorted().map { "\($0) \(domain.report.skipped[$0]!)" }.joined(separator: ", "))
        }
        return (domain, seconds)
    }
}

extension DatasetOptions {
    /// The dataset folders `path` names: a comma list of folders, one dataset folder, or a folder
    /// of dataset folders (its subfolders that hold a dataset, sorted by name; other entries are
    /// listed on stderr so nothing is skipped unnoticed).
    static func domainFolders(_ path: String, format: DatasetFormat?) throws -> [URL] {
        if path.contains(",") {
            let parts = path.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !parts.isEmpty else { throw ValidationErrorMessage(message: "--data: expected DIR or DIR1,DIR2,…, found '\(path)'") }
            return parts.map { URL(fileURLWithPath: $0) }
        }
        let url = URL(fileURLWithPath: path)
        do {
            _ = try DatasetImporter.detect(url, format: format)
            return [url]
        } catch let error as CorporaError {
            guard case .unknownFormat = error else { throw error }
            // Not a dataset itself: maybe a folder of domains.
            let fm = FileManager.default
            let names = ((try? fm.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
            var found: [URL] = [], ignored: [String] = []
            for name in names where !name.hasPrefix(".") {
                let sub = url.appendingPathComponent(name)
                var isDirectory: ObjCBool = false
                guard fm.fileExists(atPath: sub.path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
                if (try? DatasetImporter.detect(sub, format: format)) != nil { found.append(sub) } else { ignored.append(name) }
            }
            guard !found.isEmpty else { throw error }
            if !ignored.isEmpty { Log.info("\(path): subfolders without a dataset, not used: \(ignored.joined(separator: ", "))") }
            Log.info("\(path): a folder of \(found.count) domains (\(found.map(\.lastPathComponent).joined(separator: ", "))), merged")
            return found
        }
    }
}

extension DatasetFormat: ExpressibleByArgument {}

/// Turns library errors into a clean message and a non-zero exit (no stack trace).
func runReportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let error as CorporaError {
        throw ValidationErrorMessage(message: error.description)
    } catch let error as FileError {
        throw ValidationErrorMessage(message: error.description)
    } catch let error as ValidationErrorMessage {
        throw error
    } catch let error as CustomStringConvertible {
        // Every module's error enum describes itself (file, line or key, and what was expected).
        throw ValidationErrorMessage(message: error.description)
    }
}

struct ValidationErrorMessage: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// `idgenrec data inspect|split|synth`.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Import, check, split and generate recommendation datasets.",
        subcommands: [Inspect.self, SplitData.self, Synth.self]
    )

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Counts, sequence and text statistics, and leak-check results of a dataset folder.")

        @Argument(help: "Dataset folder.") var path: String
        @OptionGroup var dataset: DatasetOptions
        @Flag(name: .long, help: "Print JSON (keys include format, users, items, interactions, warnings).") var json = false

        func run() throws {
            try runReportingErrors {
                let (domain, seconds) = try dataset.load(path)
                let summary = DatasetSummary(domain, importSeconds: seconds)
                print(json ? try JSONOutput.string(summary) : summary.text, terminator: json ? "" : "")
            }
        }
    }

    struct SplitData: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "split",
            abstract: "Chronological leave-one-out split, written as train/valid/test files.")

        @Argument(help: "Dataset folder.") var path: String
        @OptionGroup var dataset: DatasetOptions
        @Option(name: .long, help: "Output folder.") var out: String
        @Option(name: .long, help: "Training history cap (most recent items kept).") var historyCap = Split.defaultHistoryCap

        func run() throws {
            try runReportingErrors {
                let (domain, _) = try dataset.load(path)
                let split = try Split.leaveOneOut(domain, historyCap: historyCap)
                let files = try SplitWriter.write(split, catalog: domain.catalog, to: URL(fileURLWithPath: out))
                print("split \(domain.name): \(split.users.count) users (\(split.excludedUsers.count) with < 3 items excluded), \(split.trainingSamples().count) training samples (history cap \(historyCap)); leak checks passed")
                for f in files { print("  wrote \(f)") }
            }
        }
    }

    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate the bundled synthetic multi-domain corpus (IDGenRec layout, one folder per domain).")

        @Option(name: .long, help: "Output folder.") var out = "corpora/synthetic"
        @Option(name: .long, help: "Random seed.") var seed: UInt64 = 7
        @Option(name: .long, help: "Users per domain.") var users = SyntheticCorpus.Config().usersPerDomain
        @Option(name: .long, help: "Items per domain.") var items = SyntheticCorpus.Config().itemsPerDomain

        func run() throws {
            try runReportingErrors {
                var config = SyntheticCorpus.Config()
                config.seed = seed
                config.usersPerDomain = users
                config.itemsPerDomain = items
                let domains = try SyntheticCorpus.generate(config)
                try SyntheticCorpus.write(domains, config: config, to: URL(fileURLWithPath: out))
                for d in domains {
                    print("\(out)/\(d.name): \(d.interactions.userCount) users, \(d.catalog.count) items, \(d.interactions.interactionCount) interactions")
                }
            }
        }
    }
}
