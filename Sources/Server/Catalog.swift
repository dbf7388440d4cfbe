import Corpora
import Decoding
import Foundation
import IDGen
import Recommender
import Support
import Tokenizer

/// What a request did wrong: HTTP status, message and the request field it names.
public struct ServeError: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var message: String
    public var field: String
    public init(_ status: Int, _ message: String, field: String) {
        self.status = status
        self.message = message
        self.field = field
    }
    public var description: String { "\(status) \(field): \(message)" }
}

/// The items the server can recommend: the run's catalog, then the items added through
/// `POST /items` (in order of addition). Immutable: an addition builds a new one, so a request
/// reads one consistent version without a lock held during ranking.
public final class ServedCatalog: Sendable {
    public let catalog: Catalog
    /// Items of the run's dataset; indices at or past it were added while serving.
    public let baseCount: Int
    public let textualIDs: [String]
    public let titles: [String]
    /// Each item's ID tokens, without eos (`RecommenderData.itemTokens` plus the added items).
    public let itemTokens: [[Int32]]
    /// Over `itemTokens[i] + [eos]`, as the run's own trie.
    public let trie: PrefixTrie
    public let longestID: Int

    init(catalog: Catalog, baseCount: Int, textualIDs: [String], itemTokens: [[Int32]], trie: PrefixTrie) {
        self.catalog = catalog
        self.baseCount = baseCount
        self.textualIDs = textualIDs
        self.itemTokens = itemTokens
        self.trie = trie
        titles = (0 ..< catalog.count).map { catalog.value("title", at: $0) ?? catalog.text(at: $0) }
        longestID = itemTokens.map(\.count).max() ?? 1
    }

    /// The run's own catalog, IDs and trie.
    convenience init(data: RecommenderData) {
        self.init(catalog: data.domain.catalog, baseCount: data.domain.catalog.count, textualIDs: data.ids.textualIDs,
                  itemTokens: data.itemTokens, trie: data.trie)
    }

    public var count: Int { catalog.count }

    /// A new version with `items` appended (their IDs already unique and tokenised).
    func adding(_ items: [(id: String, fields: [TextField], textualID: String, tokens: [Int32])], eos: Int32) throws -> ServedCatalog {
        var next = catalog
        for item in items {
            guard next.append(id: item.id, fields: item.fields) else {
                throw ServeError(409, "item '\(item.id)' exists already", field: "id")
            }
        }
        let tokens = itemTokens + items.map(\.tokens)
        let trie = try PrefixTrie(sequences: tokens.map { $0 + [eos] }, eosTokenId: eos)
        return ServedCatalog(catalog: next, baseCount: baseCount, textualIDs: textualIDs + items.map(\.textualID), itemTokens: tokens, trie: trie)
    }

    /// The whole ID table (catalog items, then added items), as the run's `ids.tsv` holds it.
    func table() throws -> IDTable { try IDTable(itemIDs: catalog.ids, textualIDs: textualIDs) }
}

/// An item added through `POST /items`, as kept in the run's `served-items.json` (the texts that
/// `ids.tsv` rows past the dataset's catalog belong to).
public struct AddedItem: Codable, Equatable, Sendable {
    public var id: String
    public var fields: [TextField]
    public init(id: String, fields: [TextField]) {
        self.id = id
        self.fields = fields
    }
}

public enum AddedItemsFile {
    public static func url(_ run: URL) -> URL { run.appendingPathComponent("served-items.json") }

    public static func read(_ run: URL) throws -> [AddedItem] {
        let url = url(run)
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        return try JSONOutput.decode([AddedItem].self, from: url)
    }

    public static func write(_ items: [AddedItem], run: URL) throws {
        try AtomicFile.writeJSON(items, to: url(run))
    }
}
