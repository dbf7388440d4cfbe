import Foundation
import Support

/// MostPop: items ranked by how often they occur in the training parts (validation and test
/// items of every user excluded), ties by item id in string order (the evaluator's tie-break).
/// The same list for every user; history items are not filtered unless the evaluation asks.
public struct MostPop {
    /// `counts[i]`: training-part occurrences of catalog item i.
    public let counts: [Int]

    public init(split: Split) throws {
        counts = split.trainingItemCounts
        try LeakChecks.checkCounts(counts, split: split, what: "MostPop counts")
    }

    /// Scores for the evaluator: the count as a Float (exact below 2^24 interactions per item).
    public var ranking: Ranking {
        let scores = counts.map(Float.init)
        return .scores { _ in scores }
    }

    /// The top `k` item indices (for display).
    public func top(_ k: Int, catalog: Catalog) -> [Int] {
        Array(catalog.ids.indices.sorted {
            counts[$0] != counts[$1] ? counts[$0] > counts[$1] : catalog.ids[$0].utf8.lexicographicallyPrecedes(catalog.ids[$1].utf8)
        }.prefix(k))
    }
}

/// Writes a domain in the IDGenRec / P5 layout (`user_sequence.txt`, `item_plain_text.txt`),
/// the format of the bundled corpus and of `data split --out`.
public enum IDGenRecWriter {
    public static func write(_ domain: Domain, to folder: URL) throws {
        for id in domain.catalog.ids + domain.interactions.users where id.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" }) {
            throw CorporaError.invalidArgument("id \"\(id)\" contains whitespace; the IDGenRec layout separates ids by spaces")
        }
        var items = ""
        for (i, id) in domain.catalog.ids.enumerated() {
            // Line breaks inside a value would split the line: written as spaces.
            items += id + " " + domain.catalog.text(at: i).replacingOccurrences(of: "\n", with: " ") + "\n"
        }
        var sequences = ""
        for (u, user) in domain.interactions.users.enumerated() {
            sequences += user + " " + domain.itemIDs(ofUser: u).joined(separator: " ") + "\n"
        }
        try AtomicFile.write(items, to: folder.appendingPathComponent("item_plain_text.txt"))
        try AtomicFile.write(sequences, to: folder.appendingPathComponent("user_sequence.txt"))
    }
}

/// Statistics for `data inspect`.
public struct DatasetSummary: Codable, Sendable {
    public struct Distribution: Codable, Sendable {
        public var min: Int
        public var median: Int
        public var mean: Double
        public var p90: Int
        public var max: Int

        init(_ values: [Int]) {
            let s = values.sorted()
            min = s.first ?? 0
            max = s.last ?? 0
            median = s.isEmpty ? 0 : s[s.count / 2]
            p90 = s.isEmpty ? 0 : s[Swift.min(s.count - 1, Int(Double(s.count) * 0.9))]
            mean = s.isEmpty ? 0 : Double(s.reduce(0, +)) / Double(s.count)
        }
    }

    public var name: String
    public var format: DatasetFormat
    public var files: [String]
    public var users: Int
    public var items: Int
    public var interactions: Int
    public var hasTimestamps: Bool
    public var itemsWithoutInteractions: Int
    public var sequenceLength: Distribution
    /// Characters of `Catalog.text(at:)` per item.
    public var textLength: Distribution
    public var fieldKeys: [String]
    public var sortedByIDFraction: Double
    /// The fraction expected if orders were random (mean of 1/n!).
    public var sortedByIDChance: Double
    public var sequentialIDFraction: Double?
    public var skipped: [String: Int]
    public var skipExamples: [String]
    public var warnings: [String]
    public var kCoreRemovedInteractions: Int
    public var importSeconds: Double

    public init(_ domain: Domain, importSeconds: Double) {
        name = domain.name
        format = domain.report.format
        files = domain.report.files
        users = domain.interactions.userCount
        items = domain.catalog.count
        interactions = domain.interactions.interactionCount
        hasTimestamps = domain.interactions.timestamps != nil
        var used = [Bool](repeating: false, count: domain.catalog.count)
        for s in domain.interactions.sequences { for i in s { used[i] = true } }
        itemsWithoutInteractions = used.filter { !$0 }.count
        sequenceLength = Distribution(domain.interactions.sequences.map(\.count))
        textLength = Distribution(domain.catalog.ids.indices.map { domain.catalog.text(at: $0).count })
        var keys: [String] = []
        for f in domain.catalog.fields { for field in f where !keys.contains(field.key) { keys.append(field.key) } }
        fieldKeys = keys
        let sorted = LeakChecks.sortedByIDFraction(domain)
        sortedByIDFraction = sorted.fraction
        sortedByIDChance = sorted.chance
        sequentialIDFraction = LeakChecks.sequentialIDFraction(domain)
        skipped = domain.report.skipped
        skipExamples = domain.report.skipExamples
        warnings = domain.report.warnings
        kCoreRemovedInteractions = domain.report.kCoreRemovedInteractions
        self.importSeconds = importSeconds
    }

    public var text: String {
        func d(_ x: Distribution) -> String { String(format: "min %d, median %d, mean %.1f, p90 %d, max %d", x.min, x.median, x.mean, x.p90, x.max) }
        var out = """
        \(name) (\(format.rawValue)): \(users) users, \(items) items, \(interactions) interactions
          files: \(files.joined(separator: ", "))
          timestamps: \(hasTimestamps ? "yes" : "no"); items nobody has: \(itemsWithoutInteractions)
          sequence length: \(d(sequenceLength))
          item text length (chars): \(d(textLength)); fields: \(fieldKeys.joined(separator: ", "))
          leak checks: chronological order \(hasTimestamps ? "verified" : "not checkable (no timestamps)"); sorted-by-id sequences \(String(format: "%.1f%% (%.1f%% by chance)", sortedByIDFraction * 100, sortedByIDChance * 100)); sequential-id score \(sequentialIDFraction.map { String(format: "%.2f", $0) } ?? "n/a (ids not integers)")

        """
        if kCoreRemovedInteractions > 0 { out += "  k-core removed \(kCoreRemovedInteractions) interactions\n" }
        if !skipped.isEmpty {
            out += "  skipped (lenient): " + skipped.keys.sorted().map { "\($0) \(skipped[$0]!)" }.joined(separator: ", ") + "\n"
            for e in skipExamples { out += "    \(e)\n" }
        }
        for w in warnings { out += "  WARNING: \(w)\n" }
        out += String(format: "  import time: %.2f s\n", importSeconds)
        return out
    }
}
