import Foundation

/// Every error of the Corpora module. Messages name the file and line (or key) and say what was
/// expected, so a user can fix the input.
public enum CorporaError: Error, CustomStringConvertible, Equatable {
    /// A problem at one line of one input file.
    case badLine(file: String, line: Int, reason: String)
    /// A problem with a whole file (missing, empty, unreadable, not gzip).
    case badFile(file: String, reason: String)
    /// The folder does not look like any supported format.
    case unknownFormat(path: String, reason: String)
    /// A leak check failed: evaluation data reached a training input.
    case leak(String)
    /// Two runs (or a run and a split) do not describe the same evaluation.
    case mismatch(String)
    /// An argument outside its valid range.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .badLine(file, line, reason): return "\(file):\(line): \(reason)"
        case let .badFile(file, reason): return "\(file): \(reason)"
        case let .unknownFormat(path, reason): return "\(path): unknown dataset format: \(reason)"
        case let .leak(message): return "leak check failed: \(message)"
        case let .mismatch(message): return "runs do not match: \(message)"
        case let .invalidArgument(message): return "invalid argument: \(message)"
        }
    }
}

/// One named text field of an item (`title`, `brand`, `categories`, ...).
public struct TextField: Codable, Equatable, Sendable {
    public var key: String
    public var value: String
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// The items of a domain in a stable order (the order of the item file), each with its ordered
/// text fields. Item ids are strings at the edges; models may use the dense `index` (0..<count).
public struct Catalog: Sendable, Equatable {
    public private(set) var ids: [String]
    public private(set) var fields: [[TextField]]
    private var indexByID: [String: Int]

    public init() {
        ids = []
        fields = []
        indexByID = [:]
    }

    /// Builds a catalog; duplicate ids are a programmer error here (importers report them first).
    public init(items: [(id: String, fields: [TextField])]) {
        self.init()
        for item in items {
            let added = append(id: item.id, fields: item.fields)
            precondition(added, "duplicate item id \(item.id)")
        }
    }

    public var count: Int { ids.count }

    /// Appends an item; returns false (and changes nothing) when the id is already present.
    @discardableResult
    public mutating func append(id: String, fields itemFields: [TextField]) -> Bool {
        guard indexByID[id] == nil else { return false }
        indexByID[id] = ids.count
        ids.append(id)
        fields.append(itemFields)
        return true
    }

    public func index(of id: String) -> Int? { indexByID[id] }
    public func contains(_ id: String) -> Bool { indexByID[id] != nil }

    /// The item's text as `key: value; key: value` (the IDGenRec `item_plain_text.txt` form).
    public func text(of id: String) -> String? {
        index(of: id).map { text(at: $0) }
    }

    public func text(at index: Int) -> String {
        fields[index].map { "\($0.key): \($0.value)" }.joined(separator: "; ")
    }

    /// The value of one field, e.g. `value("title", at: i)`.
    public func value(_ key: String, at index: Int) -> String? {
        fields[index].first { $0.key == key }?.value
    }

    /// A catalog holding only the items at `indices` (in that order) and the map old → new.
    public func subset(_ indices: [Int]) -> (catalog: Catalog, newIndex: [Int: Int]) {
        var out = Catalog()
        var map: [Int: Int] = [:]
        for old in indices {
            map[old] = out.count
            out.append(id: ids[old], fields: fields[old])
        }
        return (out, map)
    }
}

/// User sequences: user id → chronological item indices (into the domain's catalog), with
/// timestamps when the source has them. Users keep the order of the source file.
public struct Interactions: Sendable, Equatable {
    public var users: [String]
    /// `sequences[u]`: catalog indices of user `u`'s items, oldest first.
    public var sequences: [[Int]]
    /// `timestamps[u][j]`: time of `sequences[u][j]` (seconds), or nil when the source has none.
    public var timestamps: [[Double]]?

    public init(users: [String], sequences: [[Int]], timestamps: [[Double]]? = nil) {
        precondition(users.count == sequences.count, "one sequence per user")
        if let timestamps {
            precondition(timestamps.count == sequences.count && zip(timestamps, sequences).allSatisfy { $0.count == $1.count },
                         "one timestamp per interaction")
        }
        self.users = users
        self.sequences = sequences
        self.timestamps = timestamps
    }

    public var userCount: Int { users.count }
    public var interactionCount: Int { sequences.reduce(0) { $0 + $1.count } }
}

/// The formats the importers read.
public enum DatasetFormat: String, Codable, CaseIterable, Sendable {
    /// `user_sequence.txt` + `item_plain_text.txt` (IDGenRec / P5).
    case idgenrec
    /// RecBole atomic files `X.inter` + `X.item`.
    case recbole
    /// LC-Rec JSON `X.inter.json` + `X.item.json`.
    case lcrec
    /// Amazon review dumps `reviews_X_5.json(.gz)` + `meta_X.json(.gz)` (2014 or 2018).
    case amazon
}

/// What an import skipped (lenient mode only) and warned about. Nothing is dropped silently:
/// every skip is counted by reason and the first few are kept verbatim.
public struct ImportReport: Codable, Equatable, Sendable {
    public var format: DatasetFormat
    public var files: [String]
    /// Skip counts by reason (e.g. "malformed line", "unknown item").
    public var skipped: [String: Int] = [:]
    /// The first skipped lines, `file:line: reason`.
    public var skipExamples: [String] = []
    public var warnings: [String] = []
    /// Interactions and users removed by k-core filtering (not errors).
    public var kCoreRemovedInteractions = 0
    public var kCoreRemovedUsers = 0
    public var kCoreRemovedItems = 0

    public init(format: DatasetFormat, files: [String]) {
        self.format = format
        self.files = files
    }

    public var totalSkipped: Int { skipped.values.reduce(0, +) }

    mutating func skip(_ reason: String, _ detail: String) {
        skipped[reason, default: 0] += 1
        if skipExamples.count < 20 { skipExamples.append(detail) }
    }
}

/// One domain: a catalog and its interaction sequences.
public struct Domain: Sendable {
    public var name: String
    public var catalog: Catalog
    public var interactions: Interactions
    /// Where it came from and what the import skipped or warned about.
    public var report: ImportReport

    public init(name: String, catalog: Catalog, interactions: Interactions, report: ImportReport) {
        self.name = name
        self.catalog = catalog
        self.interactions = interactions
        self.report = report
    }

    /// A user's items as ids.
    public func itemIDs(ofUser u: Int) -> [String] {
        interactions.sequences[u].map { catalog.ids[$0] }
    }
}
