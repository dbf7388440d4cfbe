import Foundation

/// How to import a dataset folder.
public struct ImportOptions: Codable, Equatable, Sendable {
    /// nil: detect from the files present.
    public var format: DatasetFormat?
    /// Lenient mode: bad lines, unknown items, items without text and duplicate users are
    /// skipped and counted in `ImportReport.skipped` instead of failing the import.
    public var lenient: Bool
    /// k-core filtering (users and items with fewer than k interactions removed repeatedly).
    /// nil: the format's default (5 for Amazon review dumps, off otherwise); 0 or 1: off.
    public var kCore: Int?
    /// Domain name; nil: the folder name.
    public var name: String?

    public init(format: DatasetFormat? = nil, lenient: Bool = false, kCore: Int? = nil, name: String? = nil) {
        self.format = format
        self.lenient = lenient
        self.kCore = kCore
        self.name = name
    }
}

/// Reads a dataset folder in any supported format into a `Domain`, running the import leak
/// checks (chronological order, sorted-by-id and sequential-id warnings).
public enum DatasetImporter {
    /// The files of each format found in `folder` (first match in this order: IDGenRec, LC-Rec,
    /// RecBole, Amazon).
    public static func detect(_ folder: URL, format requested: DatasetFormat? = nil) throws -> (format: DatasetFormat, files: [URL]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) else {
            throw CorporaError.badFile(file: folder.path, reason: "no such file or folder")
        }
        guard isDirectory.boolValue else {
            throw CorporaError.unknownFormat(path: folder.path, reason: "expected a folder holding the dataset files")
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        func url(_ n: String) -> URL { folder.appendingPathComponent(n) }
        var found: [(DatasetFormat, [URL])] = []
        if names.contains("user_sequence.txt"), names.contains("item_plain_text.txt") {
            found.append((.idgenrec, [url("user_sequence.txt"), url("item_plain_text.txt")]))
        }
        if let inter = names.first(where: { $0.hasSuffix(".inter.json") }) {
            let stem = String(inter.dropLast(".inter.json".count))
            if names.contains(stem + ".item.json") { found.append((.lcrec, [url(inter), url(stem + ".item.json")])) }
        }
        if let inter = names.first(where: { $0.hasSuffix(".inter") }) {
            let stem = String(inter.dropLast(".inter".count))
            if names.contains(stem + ".item") { found.append((.recbole, [url(inter), url(stem + ".item")])) }
        }
        let isJSONDump = { (n: String) in n.hasSuffix(".json") || n.hasSuffix(".json.gz") }
        if let meta = names.first(where: { $0.hasPrefix("meta_") && isJSONDump($0) }),
           let reviews = names.first(where: { !$0.hasPrefix("meta_") && isJSONDump($0) && ($0.hasPrefix("reviews_") || $0.contains("_5.json")) }) {
            found.append((.amazon, [url(reviews), url(meta)]))
        }
        if let requested {
            guard let match = found.first(where: { $0.0 == requested }) else {
                throw CorporaError.unknownFormat(path: folder.path, reason: "--format \(requested.rawValue) given but its files are missing (\(expectedFiles(requested)))")
            }
            return match
        }
        guard let first = found.first else {
            throw CorporaError.unknownFormat(path: folder.path, reason: "found \(names.isEmpty ? "no files" : names.joined(separator: ", ")); expected one of: " + DatasetFormat.allCases.map(expectedFiles).joined(separator: "; "))
        }
        return first
    }

    static func expectedFiles(_ format: DatasetFormat) -> String {
        switch format {
        case .idgenrec: return "user_sequence.txt + item_plain_text.txt"
        case .recbole: return "X.inter + X.item"
        case .lcrec: return "X.inter.json + X.item.json"
        case .amazon: return "reviews_X_5.json(.gz) + meta_X.json(.gz)"
        }
    }

    public static func load(_ folder: URL, options: ImportOptions = ImportOptions()) throws -> Domain {
        let (format, files) = try detect(folder, format: options.format)
        let name = options.name ?? folder.standardizedFileURL.lastPathComponent
        var builder = DomainBuilder(format: format, files: files, lenient: options.lenient)
        switch format {
        case .idgenrec: try readIDGenRec(sequences: files[0], items: files[1], into: &builder)
        case .recbole: try readRecBole(inter: files[0], item: files[1], into: &builder)
        case .lcrec: try readLCRec(inter: files[0], item: files[1], into: &builder)
        case .amazon: try readAmazon(reviews: files[0], meta: files[1], into: &builder)
        }
        let k = options.kCore ?? (format == .amazon ? 5 : 0)
        return try builder.finish(name: name, kCore: k, catalogOnlyInteracted: format == .amazon)
    }

    // MARK: IDGenRec / P5

    static func readIDGenRec(sequences: URL, items: URL, into b: inout DomainBuilder) throws {
        let itemFile = items.path
        for line in try TextFile.lines(try TextFile.bytes(items), file: itemFile) {
            guard let text = line.text else { try b.problem(itemFile, line.number, "invalid UTF-8", "invalid UTF-8 bytes"); continue }
            if line.isBlank { continue }
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            let id: String, rest: String
            if let space = trimmed.firstIndex(of: " ") {
                id = String(trimmed[..<space])
                rest = String(trimmed[trimmed.index(after: space)...])
            } else {
                id = trimmed
                rest = ""
            }
            guard let fields = parseFieldText(rest) else {
                try b.problem(itemFile, line.number, "malformed line", "expected `item_id key: value; key: value`, got \"\(String(trimmed.prefix(60)))\"")
                continue
            }
            try b.addItem(id: id, fields: fields, file: itemFile, line: line.number)
        }
        let seqFile = sequences.path
        for line in try TextFile.lines(try TextFile.bytes(sequences), file: seqFile) {
            guard let text = line.text else { try b.problem(seqFile, line.number, "invalid UTF-8", "invalid UTF-8 bytes"); continue }
            if line.isBlank { continue }
            let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard parts.count >= 2 else {
                try b.problem(seqFile, line.number, "malformed line", "expected `user_id item_id item_id ...`, got \"\(String(text.prefix(60)))\"")
                continue
            }
            try b.addSequence(user: parts[0], items: parts.dropFirst().map { ($0, nil) }, file: seqFile, line: line.number)
        }
    }

    /// `key: value; key: value` → fields. A new field starts only at `; ` followed by a lowercase
    /// identifier and `: `, so titles containing `;` or `Dimensions: ...` stay whole (Beauty has
    /// both). Returns nil when the text does not start with `key: `. Empty text → no fields.
    static func parseFieldText(_ text: String) -> [TextField]? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.isEmpty { return [] }
        let segments = t.components(separatedBy: "; ")
        var fields: [TextField] = []
        for segment in segments {
            if let (key, value) = splitKey(segment) {
                fields.append(TextField(key, value))
            } else if !fields.isEmpty {
                fields[fields.count - 1].value += "; " + segment
            } else {
                return nil
            }
        }
        return fields.compactMap { f in
            let v = f.value.trimmingCharacters(in: .whitespaces)
            return v.isEmpty ? nil : TextField(f.key, v)
        }
    }

    private static func splitKey(_ segment: String) -> (String, String)? {
        guard let colon = segment.range(of: ": ") ?? (segment.hasSuffix(":") ? segment.range(of: ":", options: .backwards) : nil) else { return nil }
        let key = segment[..<colon.lowerBound]
        guard let first = key.unicodeScalars.first, ("a" ... "z").contains(first),
              key.unicodeScalars.allSatisfy({ ("a" ... "z").contains($0) || ("0" ... "9").contains($0) || $0 == "_" }) else { return nil }
        return (String(key), String(segment[colon.upperBound...]))
    }

    // MARK: RecBole atomic files

    static func readRecBole(inter: URL, item: URL, into b: inout DomainBuilder) throws {
        func header(_ lines: [TextFile.Line], _ file: String) throws -> [(name: String, type: String)] {
            guard let first = lines.first(where: { !$0.isBlank }), let text = first.text else {
                throw CorporaError.badLine(file: file, line: 1, reason: "expected a header `field:type\\tfield:type ...`")
            }
            return try text.split(separator: "\t", omittingEmptySubsequences: false).map { column in
                let parts = column.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw CorporaError.badLine(file: file, line: first.number, reason: "header column \"\(column)\" is not `name:type` (e.g. `item_id:token`)")
                }
                return (parts[0], parts[1])
            }
        }
        let itemFile = item.path
        let itemLines = try TextFile.lines(try TextFile.bytes(item), file: itemFile)
        let itemHeader = try header(itemLines, itemFile)
        guard let idColumn = itemHeader.firstIndex(where: { $0.name == "item_id" }) else {
            throw CorporaError.badLine(file: itemFile, line: 1, reason: "header has no `item_id:token` column")
        }
        let headerLine = itemLines.first { !$0.isBlank }!.number
        for line in itemLines where line.number > headerLine {
            guard let text = line.text else { try b.problem(itemFile, line.number, "invalid UTF-8", "invalid UTF-8 bytes"); continue }
            if line.isBlank { continue }
            let cells = text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard cells.count == itemHeader.count else {
                try b.problem(itemFile, line.number, "malformed line", "expected \(itemHeader.count) tab-separated columns, found \(cells.count)")
                continue
            }
            var fields: [TextField] = []
            for (c, column) in itemHeader.enumerated() where c != idColumn {
                let v = cells[c].trimmingCharacters(in: .whitespaces)
                if !v.isEmpty { fields.append(TextField(column.name, v)) }
            }
            try b.addItem(id: cells[idColumn], fields: fields, file: itemFile, line: line.number)
        }

        let interFile = inter.path
        let interLines = try TextFile.lines(try TextFile.bytes(inter), file: interFile)
        let interHeader = try header(interLines, interFile)
        guard let userColumn = interHeader.firstIndex(where: { $0.name == "user_id" }),
              let itemColumn = interHeader.firstIndex(where: { $0.name == "item_id" }) else {
            throw CorporaError.badLine(file: interFile, line: 1, reason: "header needs `user_id:token` and `item_id:token` columns")
        }
        let timeColumn = interHeader.firstIndex { $0.name == "timestamp" }
        let interHeaderLine = interLines.first { !$0.isBlank }!.number
        for line in interLines where line.number > interHeaderLine {
            guard let text = line.text else { try b.problem(interFile, line.number, "invalid UTF-8", "invalid UTF-8 bytes"); continue }
            if line.isBlank { continue }
            let cells = text.split(separator: "\t", omittingEmptySubsequences: false)
            guard cells.count == interHeader.count else {
                try b.problem(interFile, line.number, "malformed line", "expected \(interHeader.count) tab-separated columns, found \(cells.count)")
                continue
            }
            var time: Double?
            if let timeColumn {
                guard let t = Double(cells[timeColumn].trimmingCharacters(in: .whitespaces)) else {
                    try b.problem(interFile, line.number, "malformed line", "timestamp \"\(cells[timeColumn])\" is not a number")
                    continue
                }
                time = t
            }
            b.addInteraction(user: String(cells[userColumn]), item: String(cells[itemColumn]), time: time, file: interFile, line: line.number)
        }
    }

    // MARK: LC-Rec JSON

    static func readLCRec(inter: URL, item: URL, into b: inout DomainBuilder) throws {
        func parse(_ url: URL) throws -> [(key: String, line: Int, value: Literal)] {
            let bytes = try TextFile.bytes(url)
            _ = try TextFile.string(bytes, file: url.path) // empty file / UTF-8 errors with a line
            do { return try LiteralParser.parseTopObject(bytes) } catch let f as LiteralParser.Failure {
                throw CorporaError.badLine(file: url.path, line: f.line, reason: f.reason)
            }
        }
        for entry in try parse(item) {
            guard case let .object(pairs) = entry.value else {
                try b.problem(item.path, entry.line, "malformed line", "item \"\(entry.key)\": expected an object of text fields")
                continue
            }
            let fields = pairs.compactMap { p -> TextField? in
                let v = p.value.text.trimmingCharacters(in: .whitespacesAndNewlines)
                return v.isEmpty ? nil : TextField(p.key, v)
            }
            try b.addItem(id: entry.key, fields: fields, file: item.path, line: entry.line)
        }
        for entry in try parse(inter) {
            guard case let .array(values) = entry.value, !values.isEmpty else {
                try b.problem(inter.path, entry.line, "malformed line", "user \"\(entry.key)\": expected a non-empty list of item ids")
                continue
            }
            var items: [(String, Double?)] = []
            for v in values {
                guard let id = v.idString else {
                    try b.problem(inter.path, entry.line, "malformed line", "user \"\(entry.key)\": item \(v.text) is not a string or number")
                    items = []
                    break
                }
                items.append((id, nil))
            }
            if items.isEmpty { continue }
            try b.addSequence(user: entry.key, items: items, file: inter.path, line: entry.line)
        }
    }

    // MARK: Amazon review dumps (2014 Python literals, 2018 JSON lines)

    static func readAmazon(reviews: URL, meta: URL, into b: inout DomainBuilder) throws {
        func objects(_ url: URL, _ body: (Int, Literal) throws -> Void) throws {
            for line in try TextFile.lines(try TextFile.bytes(url), file: url.path) {
                guard let text = line.text else { try b.problem(url.path, line.number, "invalid UTF-8", "invalid UTF-8 bytes"); continue }
                if line.isBlank { continue }
                let value: Literal
                do { value = try LiteralParser.parse(Array(text.utf8), firstLine: line.number) } catch let f as LiteralParser.Failure {
                    try b.problem(url.path, line.number, "malformed line", "expected one JSON or Python dict per line: \(f.reason)")
                    continue
                }
                try body(line.number, value)
            }
        }
        try objects(reviews) { number, r in
            guard let user = r["reviewerID"]?.idString, let asin = r["asin"]?.idString,
                  let timeText = r["unixReviewTime"]?.idString, let time = Double(timeText) else {
                try b.problem(reviews.path, number, "malformed line", "a review needs reviewerID, asin and unixReviewTime")
                return
            }
            b.addInteraction(user: user, item: asin, time: time, file: reviews.path, line: number)
        }
        try objects(meta) { number, m in
            guard let asin = m["asin"]?.idString else {
                try b.problem(meta.path, number, "malformed line", "a metadata record needs asin")
                return
            }
            var fields: [TextField] = []
            // Stable field order; 2014 uses `categories` (list of paths), 2018 `category` (one path).
            for (key, sources) in [("title", ["title"]), ("brand", ["brand"]), ("categories", ["categories", "category"]),
                                   ("price", ["price"]), ("description", ["description"])] {
                for s in sources {
                    if let v = m[s]?.text.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty {
                        fields.append(TextField(key, v))
                        break
                    }
                }
            }
            try b.addItem(id: asin, fields: fields, file: meta.path, line: number)
        }
    }
}

/// Accumulates items and interactions while reading, then resolves ids, sorts by time, applies
/// k-core filtering and runs the import leak checks.
struct DomainBuilder {
    var report: ImportReport
    let lenient: Bool
    var catalog = Catalog()
    var itemLine: [String: (file: String, line: Int)] = [:]
    var users: [String] = []
    var userIndex: [String: Int] = [:]
    var userLine: [(file: String, line: Int)] = []
    var records: [[(item: String, time: Double?, file: String, line: Int)]] = []
    var sawTime = false
    var sawNoTime = false

    init(format: DatasetFormat, files: [URL], lenient: Bool) {
        report = ImportReport(format: format, files: files.map(\.path))
        self.lenient = lenient
    }

    /// A bad line: an error, or in lenient mode a counted skip.
    mutating func problem(_ file: String, _ line: Int, _ reason: String, _ detail: String) throws {
        if !lenient { throw CorporaError.badLine(file: file, line: line, reason: detail) }
        report.skip(reason, "\(file):\(line): \(detail)")
    }

    mutating func addItem(id: String, fields: [TextField], file: String, line: Int) throws {
        if id.isEmpty { try problem(file, line, "malformed line", "empty item id"); return }
        if fields.isEmpty {
            try problem(file, line, "item without text", "item \"\(id)\" has no text (every field empty)")
            return
        }
        if let first = itemLine[id] {
            try problem(file, line, "duplicate item", "item \"\(id)\" listed again (first at line \(first.line))")
            return
        }
        itemLine[id] = (file, line)
        catalog.append(id: id, fields: fields)
    }

    private mutating func user(_ id: String, file: String, line: Int) -> Int {
        if let u = userIndex[id] { return u }
        userIndex[id] = users.count
        users.append(id)
        userLine.append((file, line))
        records.append([])
        return users.count - 1
    }

    /// A whole user line (IDGenRec, LC-Rec): a second line for the same user is an error.
    mutating func addSequence(user id: String, items: [(String, Double?)], file: String, line: Int) throws {
        if let u = userIndex[id] {
            try problem(file, line, "duplicate user", "user \"\(id)\" appears again (first at line \(userLine[u].line))")
            return
        }
        let u = user(id, file: file, line: line)
        for (item, time) in items { records[u].append((item, time, file, line)) }
        noteTimes(items.map(\.1))
    }

    /// One interaction row (RecBole, Amazon): rows of a user may be anywhere in the file.
    mutating func addInteraction(user id: String, item: String, time: Double?, file: String, line: Int) {
        let u = user(id, file: file, line: line)
        records[u].append((item, time, file, line))
        noteTimes([time])
    }

    private mutating func noteTimes(_ times: [Double?]) {
        for t in times { if t == nil { sawNoTime = true } else { sawTime = true } }
    }

    mutating func finish(name: String, kCore: Int, catalogOnlyInteracted: Bool) throws -> Domain {
        let hasTime = sawTime && !sawNoTime
        var keptUsers: [String] = []
        var sequences: [[Int]] = []
        var times: [[Double]] = []
        for (u, recs) in records.enumerated() {
            var seq: [(index: Int, time: Double)] = []
            for r in recs {
                guard let index = catalog.index(of: r.item) else {
                    try problem(r.file, r.line, "unknown item", "item \"\(r.item)\" of user \"\(users[u])\" is not in the catalog")
                    continue
                }
                seq.append((index, r.time ?? 0))
            }
            if seq.isEmpty {
                // Only reachable in lenient mode: every item of the user was skipped.
                report.skip("user without items", "\(userLine[u].file):\(userLine[u].line): user \"\(users[u])\" has no items left")
                continue
            }
            // Stable sort: ties keep file order (RecBole convention).
            if hasTime { seq = seq.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(\.element) }
            keptUsers.append(users[u])
            sequences.append(seq.map(\.index))
            times.append(seq.map(\.time))
        }
        var interactions = Interactions(users: keptUsers, sequences: sequences, timestamps: hasTime ? times : nil)
        var domainCatalog = catalog
        var usedBefore = Set<Int>()
        for s in interactions.sequences { usedBefore.formUnion(s) }
        if kCore > 1 {
            let before = (interactions.userCount, interactions.interactionCount)
            interactions = KCore.filter(interactions, k: kCore, itemCount: catalog.count)
            report.kCoreRemovedUsers = before.0 - interactions.userCount
            report.kCoreRemovedInteractions = before.1 - interactions.interactionCount
        }
        if catalogOnlyInteracted || kCore > 1 {
            // A k-core (or a review dump's huge metadata file) leaves items nobody has: drop them
            // from the catalog, keeping file order, and re-index the sequences.
            var used = [Bool](repeating: false, count: catalog.count)
            for s in interactions.sequences { for i in s { used[i] = true } }
            let keep = (0 ..< catalog.count).filter { used[$0] }
            if kCore > 1 { report.kCoreRemovedItems = usedBefore.count - keep.count }
            let (subset, map) = catalog.subset(keep)
            domainCatalog = subset
            interactions.sequences = interactions.sequences.map { $0.map { map[$0]! } }
        }
        guard interactions.userCount > 0 else {
            throw CorporaError.badFile(file: report.files.first ?? name, reason: "no users with items remain after import\(lenient ? " (lenient mode skipped \(report.totalSkipped) lines)" : "")")
        }
        var domain = Domain(name: name, catalog: domainCatalog, interactions: interactions, report: report)
        try LeakChecks.checkChronological(domain.interactions, source: name)
        domain.report.warnings += LeakChecks.importWarnings(domain)
        return domain
    }
}

/// Iterative k-core filtering: removes users and items with fewer than k interactions until
/// none remain.
public enum KCore {
    public static func filter(_ data: Interactions, k: Int, itemCount: Int) -> Interactions {
        guard k > 1 else { return data }
        var sequences = data.sequences
        var times = data.timestamps
        var alive = [Bool](repeating: true, count: sequences.count)
        while true {
            var itemCounts = [Int](repeating: 0, count: itemCount)
            for (u, s) in sequences.enumerated() where alive[u] { for i in s { itemCounts[i] += 1 } }
            var changed = false
            for u in sequences.indices where alive[u] {
                let keep = sequences[u].indices.filter { itemCounts[sequences[u][$0]] >= k }
                if keep.count != sequences[u].count {
                    changed = true
                    sequences[u] = keep.map { sequences[u][$0] }
                    if times != nil { times![u] = keep.map { times![u][$0] } }
                }
                if sequences[u].count < k {
                    alive[u] = false
                    changed = true
                }
            }
            if !changed { break }
        }
        let kept = sequences.indices.filter { alive[$0] }
        return Interactions(users: kept.map { data.users[$0] }, sequences: kept.map { sequences[$0] },
                            timestamps: times.map { t in kept.map { t[$0] } })
    }
}
