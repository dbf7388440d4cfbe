import Foundation
import Support

/// Several domains as one (cross-domain "foundation" training, METHOD.md §5): item and user ids
/// are prefixed with `<domain>/`, so two domains that happen to use the same raw id (ml-100k's
/// item "1" and steam's "1") never become one item or one user. Catalogs and interactions are
/// concatenated in the order given; the import reports are combined.
public enum MultiDomain {
    /// Separates the domain name from the raw id in a merged id: `beauty/B0001`.
    public static let separator: Character = "/"

    /// `<domain>/<id>`.
    public static func prefixed(_ id: String, domain: String) -> String { domain + String(separator) + id }

    /// The domain part of a merged id (`beauty` for `beauty/B0001`), nil when there is none.
    public static func domain(ofPrefixed id: String) -> String? {
        id.firstIndex(of: separator).map { String(id[..<$0]) }
    }

    /// The raw id of a merged id (`B0001` for `beauty/B0001`); the id itself when unprefixed.
    public static func rawID(_ id: String) -> String {
        id.firstIndex(of: separator).map { String(id[id.index(after: $0)...]) } ?? id
    }

    /// The name of a merged domain: the parts joined by `+`.
    public static func mergedName(_ names: [String]) -> String { names.joined(separator: "+") }

    /// The parts of a merged domain name (`["kitchen", "pets"]` for `kitchen+pets`).
    public static func parts(ofName name: String) -> [String] { name.split(separator: "+").map(String.init) }

    /// Raw ids that occur in more than one domain (each listed once, sorted), for items and
    /// users: the collisions the prefixes avoid.
    public static func collisions(_ domains: [Domain]) -> (items: [String], users: [String]) {
        func shared(_ lists: [[String]]) -> [String] {
            var count: [String: Int] = [:]
            for list in lists { for id in Set(list) { count[id, default: 0] += 1 } }
            return count.filter { $0.value > 1 }.map(\.key).sorted()
        }
        return (shared(domains.map(\.catalog.ids)), shared(domains.map(\.interactions.users)))
    }
}

extension Domain {
    /// The domains as one domain named `a+b+…` with `<domain>/`-prefixed item and user ids.
    /// Raw ids shared between domains (harmless after prefixing, but worth knowing: the same
    /// id in two sources may or may not be the same product) are reported as a warning.
    /// Throws for an empty list, duplicate domain names, or a name containing `/` or `+`.
    public static func merged(_ domains: [Domain]) throws -> Domain {
        guard !domains.isEmpty else { throw CorporaError.invalidArgument("no domains to merge") }
        var names = Set<String>()
        for d in domains {
            guard !d.name.isEmpty, !d.name.contains(MultiDomain.separator), !d.name.contains("+") else {
                throw CorporaError.invalidArgument("domain name \"\(d.name)\" cannot be merged: names must be non-empty and contain neither '/' nor '+' (they prefix ids and join into the merged name)")
            }
            guard names.insert(d.name).inserted else {
                throw CorporaError.invalidArgument("two domains are named \"\(d.name)\"; merged ids are prefixed by the domain name, so names must differ (rename one folder)")
            }
        }
        var catalog = Catalog()
        var users: [String] = []
        var sequences: [[Int]] = []
        let allTimed = domains.allSatisfy { $0.interactions.timestamps != nil }
        var timestamps: [[Double]] = []
        var report = ImportReport(format: domains[0].report.format, files: [])
        for d in domains {
            let offset = catalog.count
            for i in 0 ..< d.catalog.count {
                // Prefixed ids are unique across domains because names are, and within a domain
                // because the domain's own ids are.
                let added = catalog.append(id: MultiDomain.prefixed(d.catalog.ids[i], domain: d.name), fields: d.catalog.fields[i])
                precondition(added, "prefixed item ids collide")
            }
            for u in 0 ..< d.interactions.userCount {
                users.append(MultiDomain.prefixed(d.interactions.users[u], domain: d.name))
                sequences.append(d.interactions.sequences[u].map { $0 + offset })
                if allTimed { timestamps.append(d.interactions.timestamps![u]) }
            }
            report.files += d.report.files
            for (reason, n) in d.report.skipped { report.skipped[reason, default: 0] += n }
            report.skipExamples += d.report.skipExamples.prefix(max(0, 20 - report.skipExamples.count)).map { "\(d.name): \($0)" }
            report.warnings += d.report.warnings.map { "\(d.name): \($0)" }
            report.kCoreRemovedInteractions += d.report.kCoreRemovedInteractions
            report.kCoreRemovedUsers += d.report.kCoreRemovedUsers
            report.kCoreRemovedItems += d.report.kCoreRemovedItems
        }
        let formats = domains.map(\.report.format.rawValue)
        if Set(formats).count > 1 {
            report.warnings.append("merged domains come in different formats (\(zip(domains.map(\.name), formats).map { "\($0) \($1)" }.joined(separator: ", "))); `format` names the first")
        }
        if !allTimed, domains.contains(where: { $0.interactions.timestamps != nil }) {
            report.warnings.append("only some merged domains have timestamps; the merged domain keeps none (order within each sequence is unchanged)")
        }
        let (sharedItems, sharedUsers) = MultiDomain.collisions(domains)
        if !sharedItems.isEmpty {
            report.warnings.append("\(sharedItems.count) raw item ids occur in more than one domain (e.g. \(sharedItems.prefix(5).joined(separator: ", "))); kept apart by the `<domain>/` prefix")
        }
        if !sharedUsers.isEmpty {
            report.warnings.append("\(sharedUsers.count) raw user ids occur in more than one domain (e.g. \(sharedUsers.prefix(5).joined(separator: ", "))); kept apart by the `<domain>/` prefix")
        }
        return Domain(name: MultiDomain.mergedName(domains.map(\.name)), catalog: catalog,
                      interactions: Interactions(users: users, sequences: sequences, timestamps: allTimed ? timestamps : nil),
                      report: report)
    }
}

extension Domain {
    /// A seeded random sample of `count` users (all of them when the domain has fewer), kept in
    /// the domain's order; the catalog stays whole. For fitting cross-domain training into a
    /// CPU budget without favouring the users early in a file.
    public func sampledUsers(_ count: Int, seed: UInt64) -> Domain {
        guard count < interactions.userCount else { return self }
        var rng = SeededGenerator(seed: seed)
        var indices = Array(0 ..< interactions.userCount)
        for i in 0 ..< count { indices.swapAt(i, Int.random(in: i ..< indices.count, using: &rng)) }
        let kept = indices[..<count].sorted()
        var out = self
        out.interactions = Interactions(users: kept.map { interactions.users[$0] }, sequences: kept.map { interactions.sequences[$0] },
                                        timestamps: interactions.timestamps.map { t in kept.map { t[$0] } })
        out.report.warnings.append("a seeded sample of \(count) of \(interactions.userCount) users (seed \(seed)); the catalog is whole")
        return out
    }
}

/// Metrics of one domain inside a merged evaluation.
public struct DomainMetrics: Codable, Equatable, Sendable {
    public var domain: String
    public var users: Int
    /// Every metric of `Metrics.names` (recall@10, ndcg@10, …) over this domain's users.
    public var metrics: [String: Double]
}

extension Metrics {
    /// Splits per-user ranks by the `<domain>/` prefix of the user ids (in order of first
    /// appearance) and averages each part. Users without a prefix are grouped under "".
    public static func perDomain(_ ranks: [UserRank]) -> [DomainMetrics] {
        var order: [String] = []
        var groups: [String: [Int?]] = [:]
        for r in ranks {
            let d = MultiDomain.domain(ofPrefixed: r.user) ?? ""
            if groups[d] == nil { order.append(d) }
            groups[d, default: []].append(r.rank)
        }
        return order.map { DomainMetrics(domain: $0, users: groups[$0]!.count, metrics: means(groups[$0]!)) }
    }

    /// A Markdown table of a per-domain breakdown: domain, users, R@10, N@10 (+ R@5, N@5).
    public static func perDomainMarkdown(_ parts: [DomainMetrics]) -> String {
        var out = "| domain | users | R@5 | N@5 | R@10 | N@10 |\n|---|---|---|---|---|---|\n"
        for p in parts {
            out += String(format: "| %@ | %d | %.4f | %.4f | %.4f | %.4f |\n", p.domain.isEmpty ? "(no prefix)" : p.domain, p.users,
                          p.metrics["recall@5"] ?? 0, p.metrics["ndcg@5"] ?? 0, p.metrics["recall@10"] ?? 0, p.metrics["ndcg@10"] ?? 0)
        }
        return out
    }
}
