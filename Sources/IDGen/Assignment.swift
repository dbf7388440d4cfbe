import Foundation
import Support

/// One decoded candidate ID, before normalisation, with its beam score (higher is better).
public struct Candidate: Sendable, Equatable {
    public var text: String
    public var score: Float
    public init(text: String, score: Float) {
        self.text = text
        self.score = score
    }
}

/// The decoding settings of one retry level (METHOD.md §2): Hamming diversity penalty and the
/// window of new tokens.
public struct RetryLevel: Codable, Sendable, Hashable, CustomStringConvertible {
    public var diversityPenalty: Float
    public var minNewTokens: Int
    public var maxNewTokens: Int
    public var description: String { "dp=\(diversityPenalty) len=\(minNewTokens)-\(maxNewTokens)" }
}

/// Whatever proposes candidate IDs: the T5 generator (diverse beam search), or a test double.
/// `entries` are indices into the assigner's entry list; the result holds one list per entry,
/// best first.
public protocol CandidateGenerator {
    mutating func candidates(for entries: [Int], level: RetryLevel) throws -> [[Candidate]]
}

public struct AssignmentOptions: Codable, Sendable, Equatable {
    public var normalizer = IDNormalizer()
    /// Diversity penalty runs 1, 2, … up to this value before the length window widens.
    public var maximumDiversityPenalty = 9
    /// Length windows tried: the first is [minNewTokens, maxNewTokens]; each widening adds
    /// `lengthStep` to both ends (the original added 10 and never stopped; we stop and fall back
    /// to the last resort, which always terminates).
    public var minNewTokens = 0
    public var maxNewTokens = 9
    public var lengthStep = 10
    public var lengthWidenings = 1
    /// Keep only words that occur in the entry's own text (its ranked words).
    public var onlyWordsFromText = false
    /// Entries sent to the generator at once.
    public var batchSize = 64

    public init() {}

    public var levels: [RetryLevel] {
        var out: [RetryLevel] = []
        for widening in 0 ... max(0, lengthWidenings) {
            for dp in 1 ... max(1, maximumDiversityPenalty) {
                out.append(RetryLevel(diversityPenalty: Float(dp), minNewTokens: minNewTokens + widening * lengthStep, maxNewTokens: maxNewTokens + widening * lengthStep))
            }
        }
        return out
    }
}

/// Something to name: an item (or a user), with its words ranked by distinctiveness for the
/// last-resort disambiguation.
public struct IDEntry: Sendable, Equatable {
    public var key: String
    public var rankedWords: [String]
    public init(key: String, rankedWords: [String]) {
        self.key = key
        self.rankedWords = rankedWords
    }
}

public struct AssignmentReport: Codable, Sendable, Equatable {
    public var entries = 0
    public var kept = 0
    public var assigned = 0
    /// How many entries were settled at each retry level (key: level index, "0" = first try).
    public var settledAtLevel: [String: Int] = [:]
    /// Last resort: entries disambiguated by appending a word of their own text.
    public var lastResortWord = 0
    /// Last resort: entries that also needed a number.
    public var lastResortNumber = 0
    /// Entries whose own text gave no word at all (named from their key).
    public var namedFromKey = 0
    /// Candidates rejected because they normalised to the empty string.
    public var emptyCandidatesRejected = 0
    public var meanWords = 0.0
    public var maximumWords = 0
    public var seconds = 0.0
    public var entriesPerSecond = 0.0

    public init() {}
}

/// First-come, first-served unique ID assignment with collision resolution (METHOD.md §2).
///
/// Order: entries are settled in the order given (callers pass the catalog's stable order).
/// Batching is level-synchronous: all pending entries are decoded at a retry level in batches,
/// then, in entry order, each takes its highest-scoring normalised candidate that is non-empty
/// and unused; entries left over go to the next level. The original settled one item fully
/// (all its retries) before the next; ours is equally deterministic and lets the generator run
/// batched. After the last level, a last resort appends the entry's next distinctive word not
/// yet in its ID, then a number, so assignment always terminates.
public struct IDAssigner {
    public var options: AssignmentOptions

    public init(options: AssignmentOptions = AssignmentOptions()) {
        self.options = options
    }

    /// - Parameters:
    ///   - entries: what to name, in assignment order.
    ///   - existing: IDs already fixed (incremental mode): kept unchanged and reserved.
    ///   - reserved: further IDs that must not be reused (e.g. of another table).
    /// - Returns: one ID per entry key, and a report.
    public func assign<G: CandidateGenerator>(
        _ entries: [IDEntry], generator: inout G, existing: [String: String] = [:], reserved: Set<String> = [],
        progress: ProgressLine? = nil
    ) throws -> (ids: [String: String], report: AssignmentReport) {
        let start = Date()
        var report = AssignmentReport()
        report.entries = entries.count
        var used = reserved
        var ids: [String: String] = [:]
        for entry in entries {
            if let id = existing[entry.key] {
                ids[entry.key] = id
                used.insert(id)
                report.kept += 1
            }
        }
        var pending = entries.indices.filter { ids[entries[$0].key] == nil }
        var lastCandidates: [Int: [String]] = [:]
        let normalizer = options.normalizer

        let levels = options.levels
        for (levelIndex, level) in levels.enumerated() where !pending.isEmpty {
            var stillPending: [Int] = []
            var batchStart = 0
            // Retry levels can run for minutes while few entries settle: the line says where it is.
            var status: String { "level \(levelIndex + 1)/\(levels.count) (\(level)): \(batchStart)/\(pending.count) tried" }
            while batchStart < pending.count {
                let batch = Array(pending[batchStart ..< min(batchStart + options.batchSize, pending.count)])
                batchStart += batch.count
                defer { progress?.advance(by: 0, status) }
                let lists = try generator.candidates(for: batch, level: level)
                precondition(lists.count == batch.count, "CandidateGenerator returned \(lists.count) lists for \(batch.count) entries")
                for (entryIndex, list) in zip(batch, lists) {
                    let entry = entries[entryIndex]
                    let allowed = options.onlyWordsFromText ? Set(entry.rankedWords) : nil
                    var normalizedList: [String] = []
                    for candidate in list.sorted(by: { $0.score > $1.score }) {
                        var id = normalizer.normalize(candidate.text)
                        if let allowed {
                            id = id.split(separator: " ").filter { allowed.contains(String($0)) }.joined(separator: " ")
                        }
                        if id.isEmpty { report.emptyCandidatesRejected += 1; continue }
                        normalizedList.append(id)
                    }
                    lastCandidates[entryIndex] = normalizedList
                    if let id = normalizedList.first(where: { !used.contains($0) }) {
                        ids[entry.key] = id
                        used.insert(id)
                        report.settledAtLevel[String(levelIndex), default: 0] += 1
                        progress?.advance(by: 1, status)
                    } else {
                        stillPending.append(entryIndex)
                    }
                }
            }
            pending = stillPending
        }

        for entryIndex in pending {
            let entry = entries[entryIndex]
            let id = lastResort(entry, base: lastCandidates[entryIndex]?.first, used: used, report: &report)
            ids[entry.key] = id
            used.insert(id)
            progress?.advance()
        }

        var totalWords = 0
        for entry in entries {
            let n = ids[entry.key]!.split(separator: " ").count
            totalWords += n
            report.maximumWords = max(report.maximumWords, n)
        }
        report.assigned = entries.count - report.kept
        report.meanWords = entries.isEmpty ? 0 : Double(totalWords) / Double(entries.count)
        report.seconds = Date().timeIntervalSince(start)
        report.entriesPerSecond = report.seconds > 0 ? Double(report.assigned) / report.seconds : 0
        return (ids, report)
    }

    /// Appends the entry's next distinctive word not yet in the ID; only then a number.
    func lastResort(_ entry: IDEntry, base: String?, used: Set<String>, report: inout AssignmentReport) -> String {
        var words = (base ?? "").split(separator: " ").map(String.init)
        if words.isEmpty {
            words = Array(entry.rankedWords.prefix(1))
        }
        if words.isEmpty {
            // No text at all: name the entry from its key (e.g. "b00123"), counted.
            report.namedFromKey += 1
            words = normalizer.normalize(entry.key).split(separator: " ").map(String.init)
            if words.isEmpty { words = ["item"] }
        }
        let baseID = words.joined(separator: " ")
        if !used.contains(baseID) { return baseID }
        var id = baseID
        for word in entry.rankedWords where !words.contains(word) {
            words.append(word)
            id = words.joined(separator: " ")
            if !used.contains(id) {
                report.lastResortWord += 1
                return id
            }
        }
        report.lastResortNumber += 1
        var n = 2
        while used.contains("\(baseID) \(n)") { n += 1 }
        return "\(baseID) \(n)"
    }

    private var normalizer: IDNormalizer { options.normalizer }
}
