import Corpora
import Foundation
import Support

public enum IDGenError: Error, CustomStringConvertible {
    case badTable(file: String, line: Int, reason: String)
    case invalid(String)

    public var description: String {
        switch self {
        case let .badTable(file, line, reason): return "\(file):\(line): \(reason)"
        case let .invalid(message): return message
        }
    }
}

/// Textual IDs of a catalog: one unique, non-empty ID per item, in catalog order.
/// Stored as TSV `item_id<TAB>textual id` (plus a JSON file of metadata beside it).
public struct IDTable: Equatable, Sendable {
    public private(set) var itemIDs: [String]
    public private(set) var textualIDs: [String]
    private var byItem: [String: Int]

    public init(itemIDs: [String], textualIDs: [String]) throws {
        guard itemIDs.count == textualIDs.count else {
            throw IDGenError.invalid("ID table: \(itemIDs.count) items but \(textualIDs.count) textual IDs")
        }
        self.itemIDs = itemIDs
        self.textualIDs = textualIDs
        byItem = [:]
        var seen: [String: String] = [:]
        for (item, id) in zip(itemIDs, textualIDs) {
            guard byItem[item] == nil else { throw IDGenError.invalid("ID table: item \(item) appears twice") }
            guard !id.trimmingCharacters(in: .whitespaces).isEmpty else { throw IDGenError.invalid("ID table: item \(item) has an empty textual ID") }
            if let other = seen[id] { throw IDGenError.invalid("ID table: items \(other) and \(item) share the textual ID '\(id)'") }
            seen[id] = item
            byItem[item] = byItem.count
        }
    }

    /// The table for `catalog` from an assignment result (every catalog item must have an ID).
    public init(catalog: Catalog, ids: [String: String]) throws {
        try self.init(itemIDs: catalog.ids, textualIDs: try catalog.ids.map { item in
            guard let id = ids[item] else { throw IDGenError.invalid("no textual ID for item \(item)") }
            return id
        })
    }

    public var count: Int { itemIDs.count }
    public func textualID(of item: String) -> String? { byItem[item].map { textualIDs[$0] } }
    public var asDictionary: [String: String] { Dictionary(uniqueKeysWithValues: zip(itemIDs, textualIDs)) }

    /// Share of items whose ID differs from `other`'s (ID churn between rounds).
    public func churn(from other: IDTable) -> Double {
        guard count > 0 else { return 0 }
        var changed = 0
        for (item, id) in zip(itemIDs, textualIDs) where other.textualID(of: item) != id { changed += 1 }
        return Double(changed) / Double(count)
    }

    public var tsv: String { zip(itemIDs, textualIDs).map { "\($0)\t\($1)\n" }.joined() }

    public func write(to url: URL) throws { try AtomicFile.write(tsv, to: url) }

    public static func read(_ url: URL) throws -> IDTable {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw IDGenError.badTable(file: url.path, line: 0, reason: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw IDGenError.badTable(file: url.path, line: 0, reason: "not UTF-8 text")
        }
        var items: [String] = [], ids: [String] = []
        var lineByItem: [String: Int] = [:], lineByID: [String: Int] = [:]
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = n + 1
            if line.isEmpty { continue }
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw IDGenError.badTable(file: url.path, line: lineNumber, reason: "expected 'item_id<TAB>textual id', found \(parts.count) tab-separated fields")
            }
            let item = String(parts[0]), id = String(parts[1])
            guard !item.isEmpty, !id.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw IDGenError.badTable(file: url.path, line: lineNumber, reason: "empty item id or textual ID")
            }
            if let first = lineByItem[item] {
                throw IDGenError.badTable(file: url.path, line: lineNumber, reason: "item \(item) already listed at line \(first)")
            }
            if let first = lineByID[id] {
                throw IDGenError.badTable(file: url.path, line: lineNumber, reason: "textual ID '\(id)' already used at line \(first)")
            }
            lineByItem[item] = lineNumber
            lineByID[id] = lineNumber
            items.append(item)
            ids.append(id)
        }
        return try IDTable(itemIDs: items, textualIDs: ids)
    }
}

extension ItemText {
    /// The catalog's items as generator inputs, in catalog order.
    public static func all(_ catalog: Catalog) -> [ItemText] {
        (0 ..< catalog.count).map { i in ItemText(id: catalog.ids[i], fields: catalog.fields[i].map { ($0.key, $0.value) }) }
    }
}

/// Optional user IDs, made like item IDs from the user's item IDs joined by spaces — built from
/// the *training* part of each sequence only. The original used the whole sequence, test item
/// included (METHOD.md §2): a leak. `entries(split:items:)` takes a `Split` so nothing else can
/// reach it by default; sequences passed explicitly are checked against the split by the
/// corpora leak check, so passing whole sequences (the original's bug) is an error.
public enum UserIDs {
    public static func entries(split: Split, items: IDTable, sequences: [[Int]]? = nil) throws -> (entries: [IDEntry], texts: [String]) {
        let used = sequences ?? split.train
        try LeakChecks.checkTrainingInputs(used, split: split, what: "user IDs")
        var entries: [IDEntry] = [], texts: [String] = []
        for (u, train) in used.enumerated() {
            let words = train.reversed().flatMap { items.textualIDs[$0].split(separator: " ").map(String.init) }
            var seen = Set<String>()
            entries.append(IDEntry(key: split.users[u], rankedWords: words.filter { seen.insert($0).inserted }))
            texts.append(train.map { items.textualIDs[$0] }.joined(separator: " "))
        }
        return (entries, texts)
    }
}

extension UserIDs {
    /// Words a user ID may start from (its candidates take 4, 5 and 6 words of the ranked list,
    /// more at later retry levels).
    public static let defaultWords = 4

    /// Leak-free user IDs, one per user of `split` in `split.users` order: each user's words are
    /// the words of its training items' IDs, most recent item first, and IDs are made unique by
    /// the same assignment as item IDs (its own used-set).
    public static func assign(split: Split, items: IDTable, words: Int = defaultWords,
                              options: AssignmentOptions = AssignmentOptions()) throws -> (ids: [String], report: AssignmentReport) {
        let (entries, _) = try entries(split: split, items: items)
        var generator = FixedWordsGenerator(entries: entries, words: words)
        let (byUser, report) = try IDAssigner(options: options).assign(entries, generator: &generator)
        return (split.users.map { byUser[$0]! }, report)
    }

    /// Writes `user<TAB>ID` lines (the item ID table's format).
    public static func write(users: [String], ids: [String], to url: URL) throws {
        try IDTable(itemIDs: users, textualIDs: ids).write(to: url)
    }

    /// Reads a table written by `write` (or `ids generate --user-ids`) and returns the IDs of
    /// `users` in that order; a malformed line, or a user without an ID, is an error naming the
    /// file.
    public static func read(_ url: URL, users: [String]) throws -> [String] {
        let table = try IDTable.read(url)
        let byUser = Dictionary(uniqueKeysWithValues: zip(table.itemIDs, table.textualIDs))
        return try users.map { user in
            guard let id = byUser[user] else {
                throw IDGenError.badTable(file: url.path, line: 0, reason: "user \(user) has no ID (\(table.count) users listed)")
            }
            return id
        }
    }
}

/// Candidates for entries whose ranked words are given (user IDs): the first `words`,
/// `words + 1` and `words + 2` words, one more per retry level's diversity step.
public struct FixedWordsGenerator: CandidateGenerator {
    public var entries: [IDEntry]
    public var words: Int
    public init(entries: [IDEntry], words: Int) {
        self.entries = entries
        self.words = words
    }
    public mutating func candidates(for indices: [Int], level: RetryLevel) throws -> [[Candidate]] {
        indices.map { i in
            (0 ..< 3).map { k in Candidate(text: entries[i].rankedWords.prefix(words + k + Int(level.diversityPenalty) - 1).joined(separator: " "), score: -Float(k)) }
        }
    }
}
