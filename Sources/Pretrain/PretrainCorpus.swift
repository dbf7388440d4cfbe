import Corpora
import Foundation
import Support

public enum PretrainError: Error, CustomStringConvertible {
    /// Bad configuration or data (the message names the file, key or option).
    case invalid(String)
    /// A checkpoint or output folder that cannot be used (path and reason).
    case checkpoint(path: String, message: String)

    public var description: String {
        switch self {
        case let .invalid(message): return "pretrain: \(message)"
        case let .checkpoint(path, message): return "pretrain: \(path): \(message)"
        }
    }
}

/// Which behaviour text joins the item text.
public enum BehaviourText: String, Codable, Sendable, CaseIterable {
    /// Each user's training part (`Split.leaveOneOut`, never the validation or test item) written
    /// as item titles joined by " ; ".
    case titles
    case none
}

/// One domain the corpus is built from, with where it came from.
public struct PretrainSource: Sendable {
    public var path: String
    public var domain: Domain
    public init(path: String, domain: Domain) {
        self.path = path
        self.domain = domain
    }
}

/// What `pretrain.json` records about a source.
public struct PretrainSourceSummary: Codable, Sendable, Equatable {
    public var path: String
    public var domain: String
    public var files: [String]
    public var items: Int
    /// Users whose training part went into the behaviour text (0 with `--behaviour none`).
    public var users: Int
    public var itemDocuments: Int
    public var behaviourDocuments: Int
    /// SHA-256 of the documents built from this source (item text, then behaviour text, one per
    /// line): the same data and options give the same hash.
    public var sha256: String
}

/// The pre-training documents: plain text, one per item and (optionally) one per user.
public struct PretrainCorpus: Sendable {
    public var documents: [String]
    public var sources: [PretrainSourceSummary]
    /// The catalogs the vocabulary is trained on (item text only, as `SharedVocabulary` wants).
    public var catalogs: [Catalog]

    /// Builds the documents of every source. Item documents are the item's `key: value; …` text
    /// (the same form the ID generator reads); behaviour documents are the titles of a user's
    /// training items (falling back to the item text when an item has no title).
    public static func build(_ sources: [PretrainSource], behaviour: BehaviourText) throws -> PretrainCorpus {
        guard !sources.isEmpty else { throw PretrainError.invalid("--data: no dataset given") }
        var documents: [String] = []
        var summaries: [PretrainSourceSummary] = []
        for source in sources {
            let catalog = source.domain.catalog
            var docs: [String] = []
            for i in 0 ..< catalog.count {
                let fields = catalog.fields[i].compactMap { f -> String? in
                    let v = f.value.trimmingCharacters(in: .whitespacesAndNewlines)
                    return v.isEmpty ? nil : "\(f.key): \(v)"
                }
                if !fields.isEmpty { docs.append(fields.joined(separator: "; ")) }
            }
            let itemDocuments = docs.count
            var users = 0
            if behaviour == .titles {
                let split = try Split.leaveOneOut(source.domain)
                let used = behaviourItems(split)
                try LeakChecks.checkTrainingInputs(used, split: split, what: "\(source.path): behaviour text")
                for items in used where !items.isEmpty {
                    docs.append(items.map { title(catalog, $0) }.joined(separator: " ; "))
                    users += 1
                }
            }
            guard !docs.isEmpty else {
                throw PretrainError.invalid("\(source.path): no text to pre-train on (\(catalog.count) items, none with a non-empty text field)")
            }
            let hash = SHA256.hexDigest(Data(docs.joined(separator: "\n").utf8))
            summaries.append(PretrainSourceSummary(path: source.path, domain: source.domain.name, files: source.domain.report.files,
                                                   items: catalog.count, users: users, itemDocuments: itemDocuments,
                                                   behaviourDocuments: docs.count - itemDocuments, sha256: hash))
            documents += docs
        }
        return PretrainCorpus(documents: documents, sources: summaries, catalogs: sources.map(\.domain.catalog))
    }

    /// The items each user's behaviour document holds: the training part of the split only
    /// (checked by `LeakChecks.checkTrainingInputs` before use).
    static func behaviourItems(_ split: Split) -> [[Int]] {
        split.train
    }

    static func title(_ catalog: Catalog, _ i: Int) -> String {
        if let t = catalog.value("title", at: i)?.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty { return t }
        return catalog.text(at: i)
    }
}
