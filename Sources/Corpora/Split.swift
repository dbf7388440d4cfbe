import Foundation
import Support

/// Which held-out item an evaluation uses.
public enum EvaluationPart: String, Codable, CaseIterable, Sendable {
    case validation
    case test
}

/// One user's evaluation case: rank the catalog given `history`, the truth is `target`.
/// Indices are catalog indices; `userID` keeps the string id for reports.
public struct EvaluationTarget: Codable, Equatable, Sendable {
    /// Index into `Split.users`.
    public var user: Int
    public var userID: String
    /// Chronological history, full length (models cap it themselves; `Split.historyCap` is the
    /// training default). For test it ends with the validation item.
    public var history: [Int]
    public var target: Int

    public init(user: Int, userID: String, history: [Int], target: Int) {
        self.user = user
        self.userID = userID
        self.history = history
        self.target = target
    }
}

/// A training sample: predict `target` from the (capped) `history` before it.
public struct TrainingSample: Equatable, Sendable {
    public var user: Int
    public var history: [Int]
    public var target: Int
}

/// Chronological leave-one-out: per user, the last item is the test target, the one before it
/// the validation target, the rest the training part. Users with fewer than 3 items cannot be
/// split and are listed in `excludedUsers` (never silently dropped).
public struct Split: Sendable {
    public var domainName: String
    public var itemCount: Int
    /// User ids of the split, in the domain's order.
    public var users: [String]
    /// `train[u]`: user `u`'s training part (all but the last two items), oldest first.
    public var train: [[Int]]
    public var validation: [EvaluationTarget]
    public var test: [EvaluationTarget]
    public var excludedUsers: [String]
    /// Training history cap (most recent items kept), default 20 (IDGenRec).
    public var historyCap: Int

    public static let defaultHistoryCap = 20

    public init(domainName: String, itemCount: Int, users: [String], train: [[Int]], validation: [EvaluationTarget],
                test: [EvaluationTarget], excludedUsers: [String] = [], historyCap: Int = Split.defaultHistoryCap) {
        self.domainName = domainName
        self.itemCount = itemCount
        self.users = users
        self.train = train
        self.validation = validation
        self.test = test
        self.excludedUsers = excludedUsers
        self.historyCap = historyCap
    }

    /// Splits `domain` and runs the split leak checks (throws if one fails).
    public static func leaveOneOut(_ domain: Domain, historyCap: Int = defaultHistoryCap) throws -> Split {
        guard historyCap >= 1 else { throw CorporaError.invalidArgument("history cap must be at least 1, got \(historyCap)") }
        var split = Split(domainName: domain.name, itemCount: domain.catalog.count, users: [], train: [], validation: [], test: [],
                          historyCap: historyCap)
        for (u, sequence) in domain.interactions.sequences.enumerated() {
            let id = domain.interactions.users[u]
            guard sequence.count >= 3 else {
                split.excludedUsers.append(id)
                continue
            }
            let n = sequence.count
            let index = split.users.count
            split.users.append(id)
            let train = Array(sequence[..<(n - 2)])
            split.train.append(train)
            split.validation.append(EvaluationTarget(user: index, userID: id, history: train, target: sequence[n - 2]))
            split.test.append(EvaluationTarget(user: index, userID: id, history: train + [sequence[n - 2]], target: sequence[n - 1]))
        }
        try LeakChecks.checkSplit(split, against: domain)
        return split
    }

    public func targets(_ part: EvaluationPart) -> [EvaluationTarget] {
        part == .validation ? validation : test
    }

    /// Every prefix of every training part: target `train[u][i]`, history `train[u][..<i]`
    /// capped to the last `historyCap` items, for i ≥ 1 (IDGenRec: a sample needs a history).
    public func trainingSamples(historyCap cap: Int? = nil) -> [TrainingSample] {
        let cap = cap ?? historyCap
        var out: [TrainingSample] = []
        out.reserveCapacity(train.reduce(0) { $0 + max(0, $1.count - 1) })
        for (u, items) in train.enumerated() where items.count >= 2 {
            for i in 1 ..< items.count {
                out.append(TrainingSample(user: u, history: Array(items[max(0, i - cap) ..< i]), target: items[i]))
            }
        }
        return out
    }

    /// How often each item occurs in the training parts (validation and test items of every
    /// user excluded). The only interaction counts a popularity or vocabulary decision may use.
    public var trainingItemCounts: [Int] {
        var counts = [Int](repeating: 0, count: itemCount)
        for items in train { for i in items { counts[i] += 1 } }
        return counts
    }

    public var trainingInteractionCount: Int { train.reduce(0) { $0 + $1.count } }
}

/// Leak checks. Failures that make an evaluation invalid throw `CorporaError.leak`; heuristics
/// that flag a suspicious source (sorted-by-id sequences, sequential ids) return warnings.
public enum LeakChecks {
    /// Sequences with timestamps must be non-decreasing in time.
    public static func checkChronological(_ interactions: Interactions, source: String) throws {
        guard let timestamps = interactions.timestamps else { return }
        for (u, times) in timestamps.enumerated() {
            for j in times.indices.dropFirst() where times[j] < times[j - 1] {
                throw CorporaError.leak("\(source): user \"\(interactions.users[u])\" is not chronological: item \(j + 1) has time \(times[j]) before item \(j) at \(times[j - 1]); sort each sequence by timestamp")
            }
        }
    }

    /// The split must be the chronological leave-one-out of `domain`: no validation or test
    /// item may appear in a user's training part, and histories must end where they should.
    public static func checkSplit(_ split: Split, against domain: Domain) throws {
        let byID = Dictionary(uniqueKeysWithValues: domain.interactions.users.enumerated().map { ($1, $0) })
        guard split.train.count == split.users.count, split.validation.count == split.users.count, split.test.count == split.users.count else {
            throw CorporaError.leak("split of \(split.domainName): \(split.users.count) users but \(split.train.count) training parts, \(split.validation.count) validation and \(split.test.count) test targets")
        }
        for (u, id) in split.users.enumerated() {
            guard let d = byID[id] else { throw CorporaError.leak("split user \"\(id)\" is not in domain \(domain.name)") }
            let sequence = domain.interactions.sequences[d]
            let n = sequence.count
            let val = split.validation[u], test = split.test[u]
            guard val.user == u, test.user == u, val.target == sequence[n - 2], test.target == sequence[n - 1] else {
                throw CorporaError.leak("user \"\(id)\": validation/test targets are not the last two items of the sequence")
            }
            guard split.train[u] == Array(sequence[..<(n - 2)]) else {
                throw CorporaError.leak("user \"\(id)\": the training part is not the sequence without its last two items (held-out items \(domain.catalog.ids[val.target]), \(domain.catalog.ids[test.target]) may reach training)")
            }
            guard val.history == split.train[u], test.history == split.train[u] + [val.target] else {
                throw CorporaError.leak("user \"\(id)\": an evaluation history does not end right before its target")
            }
        }
    }

    /// Per-user inputs built from interactions (user-level text such as user IDs, history
    /// features): each user's used items must be drawn from that user's training part (as a
    /// multiset, so a repeat purchase seen in training is allowed once per occurrence).
    /// `used[u]` are catalog indices for `split.users[u]`.
    public static func checkTrainingInputs(_ used: [[Int]], split: Split, what: String) throws {
        guard used.count == split.users.count else {
            throw CorporaError.leak("\(what): \(used.count) users given, split has \(split.users.count)")
        }
        for (u, items) in used.enumerated() {
            var available: [Int: Int] = [:]
            for i in split.train[u] { available[i, default: 0] += 1 }
            for i in items {
                guard let n = available[i], n > 0 else {
                    let held = i == split.test[u].target ? "test" : i == split.validation[u].target ? "validation" : "non-training"
                    throw CorporaError.leak("\(what) of user \"\(split.users[u])\" uses \(held) item index \(i)")
                }
                available[i] = n - 1
            }
        }
    }

    /// Counts used for a popularity or vocabulary decision must be the training-part counts.
    public static func checkCounts(_ counts: [Int], split: Split, what: String) throws {
        let truth = split.trainingItemCounts
        guard counts.count == truth.count else { throw CorporaError.leak("\(what): \(counts.count) counts for \(truth.count) items") }
        if let i = counts.indices.first(where: { counts[$0] != truth[$0] }) {
            throw CorporaError.leak("\(what): item index \(i) counted \(counts[i]) times, the training parts hold it \(truth[i]) times (validation/test interactions counted?)")
        }
    }

    /// Fraction of users (with ≥ 3 items) whose sequence is in ascending id order. A random
    /// order of n distinct items is sorted with probability 1/n!, so a large fraction means the
    /// sequences were sorted by id, not by time (IDGenRec's Sports and Toys files).
    public static func sortedByIDFraction(_ domain: Domain) -> (fraction: Double, users: Int, chance: Double) {
        let ids = domain.catalog.ids
        let numeric = ids.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } && $0.count < 19 }
        func less(_ a: Int, _ b: Int) -> Bool {
            numeric ? Int(ids[a])! <= Int(ids[b])! : !ids[b].utf8.lexicographicallyPrecedes(ids[a].utf8)
        }
        var sorted = 0, total = 0
        var chance = 0.0
        for s in domain.interactions.sequences where s.count >= 3 {
            total += 1
            chance += 1 / (2 ... min(s.count, 20)).reduce(1.0) { $0 * Double($1) }
            if s.indices.dropFirst().allSatisfy({ less(s[$0 - 1], s[$0]) }) { sorted += 1 }
        }
        return total == 0 ? (0, 0, 0) : (Double(sorted) / Double(total), total, chance / Double(total))
    }

    /// Fraction of consecutive first appearances (users in file order, items in sequence order)
    /// whose integer ids differ by exactly 1: near 1 when ids were assigned in interaction order
    /// (P5's sequential-ID leak, where a model reading raw ids learns which items sit next to
    /// each other in some user's sequence). nil when ids are not all integers.
    public static func sequentialIDFraction(_ domain: Domain) -> Double? {
        let values = domain.catalog.ids.map { id -> Int? in id.count < 19 ? Int(id) : nil }
        guard values.allSatisfy({ $0 != nil }), domain.catalog.count > 1 else { return nil }
        var seen = [Bool](repeating: false, count: domain.catalog.count)
        var order: [Int] = []
        for s in domain.interactions.sequences { for i in s where !seen[i] { seen[i] = true; order.append(values[i]!) } }
        guard order.count > 1 else { return nil }
        let adjacent = order.indices.dropFirst().filter { order[$0] == order[$0 - 1] + 1 }.count
        return Double(adjacent) / Double(order.count - 1)
    }

    /// Import-time warnings (the hard checks throw instead).
    public static func importWarnings(_ domain: Domain) -> [String] {
        var warnings: [String] = []
        let sorted = sortedByIDFraction(domain)
        if sorted.users >= 10, sorted.fraction >= 0.5 {
            warnings.append(String(format: "%.0f%% of %d user sequences are in ascending item-id order: they look sorted by id, not by time (leave-one-out would then hold out the largest ids, not the latest items)", sorted.fraction * 100, sorted.users))
        } else if sorted.users >= 10, sorted.fraction >= 0.1, sorted.fraction >= 10 * sorted.chance {
            warnings.append(String(format: "%.1f%% of %d user sequences are in ascending item-id order (%.1f%% expected by chance): partly sorted by id, probably same-day timestamp ties ordered by id; for those users the held-out items are the largest ids of their last day", sorted.fraction * 100, sorted.users, sorted.chance * 100))
        }
        if let sequential = sequentialIDFraction(domain), sequential >= 0.5 {
            warnings.append(String(format: "item ids look assigned in interaction order (%.0f%% of first appearances follow the item with id - 1): P5's sequential-ID leak; never feed these raw ids to a model, use textual or random ids", sequential * 100))
        }
        return warnings
    }
}

/// Writes a split as plain files: `train.txt` (`user item item ...`, the training parts),
/// `valid.txt` and `test.txt` (`user target`; the history is the training part, plus the
/// validation item for test), `item_plain_text.txt` and `split.json` (counts and settings).
public enum SplitWriter {
    public struct Summary: Codable, Sendable {
        public var domain: String
        public var method: String
        public var users: Int
        public var excludedUsers: [String]
        public var items: Int
        public var trainingInteractions: Int
        public var trainingSamples: Int
        public var historyCap: Int
    }

    @discardableResult
    public static func write(_ split: Split, catalog: Catalog, to folder: URL) throws -> [String] {
        var train = "", valid = "", test = ""
        for (u, user) in split.users.enumerated() {
            train += user + " " + split.train[u].map { catalog.ids[$0] }.joined(separator: " ") + "\n"
            valid += user + " " + catalog.ids[split.validation[u].target] + "\n"
            test += user + " " + catalog.ids[split.test[u].target] + "\n"
        }
        var items = ""
        for (i, id) in catalog.ids.enumerated() { items += id + " " + catalog.text(at: i).replacingOccurrences(of: "\n", with: " ") + "\n" }
        let summary = Summary(domain: split.domainName, method: "chronological leave-one-out", users: split.users.count,
                              excludedUsers: split.excludedUsers, items: catalog.count,
                              trainingInteractions: split.trainingInteractionCount,
                              trainingSamples: split.trainingSamples().count, historyCap: split.historyCap)
        let files = ["train.txt": train, "valid.txt": valid, "test.txt": test, "item_plain_text.txt": items]
        var written: [String] = []
        for name in files.keys.sorted() {
            let url = folder.appendingPathComponent(name)
            try AtomicFile.write(files[name]!, to: url)
            written.append(url.path)
        }
        let json = folder.appendingPathComponent("split.json")
        try AtomicFile.writeJSON(summary, to: json)
        written.append(json.path)
        return written
    }
}
