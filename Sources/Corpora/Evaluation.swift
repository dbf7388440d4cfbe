import Foundation
import Support

/// How a model answers an evaluation case. Every model (MostPop, SASRec, the T5 recommender,
/// zero-shot) is evaluated through this one harness.
public enum Ranking {
    /// Scores over the full catalog (`[itemCount]`, higher is better). The target's rank is
    /// exact: 1 + items scoring higher + items scoring equal whose id sorts before the target's
    /// id (byte order, = Python string order).
    case scores((EvaluationTarget) throws -> [Float])
    /// Ranked catalog indices, best first (e.g. beam search output). A target missing from the
    /// list is a miss at every cutoff and gets reciprocal rank 0 (MRR truncated at the list).
    case list((EvaluationTarget) throws -> [Int])
    /// Like `list`, in batches (for models that decode many users at once).
    case batchedList(batchSize: Int, ([EvaluationTarget]) throws -> [[Int]])
}

/// One user's outcome. `rank` is 1-based; nil when the target was not in a returned list.
public struct UserRank: Codable, Equatable, Sendable {
    public var user: String
    public var target: String
    public var rank: Int?

    public init(user: String, target: String, rank: Int?) {
        self.user = user
        self.target = target
        self.rank = rank
    }
}

/// Recall@K (= Hit@K with one target), NDCG@K = 1/log2(rank+1) within K, and MRR.
public enum Metrics {
    public static let cutoffs = [1, 5, 10, 20]
    /// Metric names in report order: recall@1, recall@5, ..., ndcg@1, ..., mrr.
    public static let names: [String] = cutoffs.map { "recall@\($0)" } + cutoffs.map { "ndcg@\($0)" } + ["mrr"]

    /// One user's value of metric `name` for a target at `rank`.
    public static func value(_ name: String, rank: Int?) -> Double {
        guard let rank else { return 0 }
        if name == "mrr" { return 1 / Double(rank) }
        let parts = name.split(separator: "@")
        precondition(parts.count == 2, "unknown metric \(name)")
        let k = Int(parts[1])!
        guard rank <= k else { return 0 }
        return parts[0] == "recall" ? 1 : 1 / log2(Double(rank) + 1)
    }

    /// Per-user values of `name`, in the order of `ranks`.
    public static func perUser(_ name: String, _ ranks: [Int?]) -> [Double] {
        ranks.map { value(name, rank: $0) }
    }

    public static func means(_ ranks: [Int?]) -> [String: Double] {
        var out: [String: Double] = [:]
        for name in names {
            out[name] = ranks.isEmpty ? 0 : perUser(name, ranks).reduce(0, +) / Double(ranks.count)
        }
        return out
    }
}

/// What was evaluated, for the report.
public struct SplitDescription: Codable, Equatable, Sendable {
    /// "chronological leave-one-out"
    public var method: String
    public var part: EvaluationPart
    public var domain: String
    public var catalogItems: Int
    public var splitUsers: Int
    public var excludedUsers: Int
    public var historyCap: Int
    /// History items removed from the ranking (RecBole convention) or not (IDGenRec protocol).
    public var filterSeen: Bool
    /// nil: all users; else the seeded random sample size and seed.
    public var userSample: Int?
    public var sampleSeed: UInt64?
}

/// The result of one evaluation: metrics, confidence intervals and where the per-user ranks
/// are. Encoded flat: `recall@5`, `ndcg@10`, `mrr`, ... next to `users`, `split`, `data`,
/// `config`.
public struct MetricsReport: Codable, Equatable, Sendable {
    public var model: String
    public var metrics: [String: Double]
    /// 95% bootstrap intervals per metric, `[low, high]`.
    public var confidence: [String: [Double]]
    public var users: Int
    public var split: SplitDescription
    public var data: String
    public var config: [String: String]
    /// Per-user ranks file (TSV `user target rank`, 0 = not ranked), relative to the report.
    public var ranksFile: String?
    /// nil: exact full-catalog ranks; else the returned list length (longer ranks unknown).
    public var rankedListLength: Int?
    public var seconds: Double

    public init(model: String, metrics: [String: Double], confidence: [String: [Double]], users: Int, split: SplitDescription,
                data: String, config: [String: String], ranksFile: String?, rankedListLength: Int?, seconds: Double) {
        self.model = model
        self.metrics = metrics
        self.confidence = confidence
        self.users = users
        self.split = split
        self.data = data
        self.config = config
        self.ranksFile = ranksFile
        self.rankedListLength = rankedListLength
        self.seconds = seconds
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private static let fixedKeys = ["model", "confidence", "users", "split", "data", "config", "ranks_file", "ranked_list_length", "seconds"]

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for (name, value) in metrics { try c.encode(value, forKey: Key(name)) }
        try c.encode(model, forKey: Key("model"))
        try c.encode(confidence, forKey: Key("confidence"))
        try c.encode(users, forKey: Key("users"))
        try c.encode(split, forKey: Key("split"))
        try c.encode(data, forKey: Key("data"))
        try c.encode(config, forKey: Key("config"))
        try c.encodeIfPresent(ranksFile, forKey: Key("ranks_file"))
        try c.encodeIfPresent(rankedListLength, forKey: Key("ranked_list_length"))
        try c.encode(seconds, forKey: Key("seconds"))
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        model = try c.decode(String.self, forKey: Key("model"))
        confidence = try c.decode([String: [Double]].self, forKey: Key("confidence"))
        users = try c.decode(Int.self, forKey: Key("users"))
        split = try c.decode(SplitDescription.self, forKey: Key("split"))
        data = try c.decode(String.self, forKey: Key("data"))
        config = try c.decode([String: String].self, forKey: Key("config"))
        ranksFile = try c.decodeIfPresent(String.self, forKey: Key("ranks_file"))
        rankedListLength = try c.decodeIfPresent(Int.self, forKey: Key("ranked_list_length"))
        seconds = try c.decode(Double.self, forKey: Key("seconds"))
        metrics = [:]
        for key in c.allKeys where !Self.fixedKeys.contains(key.stringValue) {
            metrics[key.stringValue] = try c.decode(Double.self, forKey: key)
        }
    }

    /// A Markdown table: metric, value, 95% CI.
    public var markdown: String {
        var out = "## \(model) on \(split.domain) (\(split.part.rawValue), \(users) users)\n\n"
        out += "Data: `\(data)`; \(split.method), full catalog of \(split.catalogItems) items; history items "
        out += split.filterSeen ? "filtered out of the ranking.\n\n" : "not filtered (IDGenRec protocol).\n\n"
        out += "| metric | value | 95% CI |\n|---|---|---|\n"
        for name in Metrics.names {
            guard let v = metrics[name] else { continue }
            let ci = confidence[name].map { String(format: "%.4f – %.4f", $0[0], $0[1]) } ?? ""
            out += String(format: "| %@ | %.4f | %@ |\n", name, v, ci)
        }
        if let n = rankedListLength { out += "\nRanks beyond the returned top \(n) are unknown: MRR is truncated there.\n" }
        if !config.isEmpty {
            out += "\nConfig: " + config.keys.sorted().map { "\($0)=\(config[$0]!)" }.joined(separator: ", ") + "\n"
        }
        return out
    }
}

/// Per-user ranks as a TSV file: `user<TAB>target<TAB>rank`, rank 0 = not in the returned list.
public enum RanksFile {
    public static func write(_ ranks: [UserRank], to url: URL) throws {
        var text = "user\ttarget\trank\n"
        for r in ranks { text += "\(r.user)\t\(r.target)\t\(r.rank ?? 0)\n" }
        try AtomicFile.write(text, to: url)
    }

    public static func read(_ url: URL) throws -> [UserRank] {
        let bytes = try TextFile.bytes(url)
        var out: [UserRank] = []
        for line in try TextFile.lines(bytes, file: url.path) where !line.isBlank {
            guard let text = line.text else { throw CorporaError.badLine(file: url.path, line: line.number, reason: "invalid UTF-8 bytes") }
            if line.number == 1, text.hasPrefix("user\t") { continue }
            let cells = text.split(separator: "\t", omittingEmptySubsequences: false)
            guard cells.count == 3, let rank = Int(cells[2]), rank >= 0 else {
                throw CorporaError.badLine(file: url.path, line: line.number, reason: "expected `user<TAB>target<TAB>rank` with rank ≥ 0")
            }
            out.append(UserRank(user: String(cells[0]), target: String(cells[1]), rank: rank == 0 ? nil : rank))
        }
        return out
    }
}

/// The full-ranking evaluator.
public struct Evaluator {
    public var split: Split
    public var catalog: Catalog
    /// `idOrder[i]`: position of item i when ids are sorted in byte order (tie-breaking).
    public let idOrder: [Int]

    public init(split: Split, catalog: Catalog) {
        precondition(split.itemCount == catalog.count, "split and catalog differ in size")
        self.split = split
        self.catalog = catalog
        let order = catalog.ids.indices.sorted { catalog.ids[$0].utf8.lexicographicallyPrecedes(catalog.ids[$1].utf8) }
        var position = [Int](repeating: 0, count: catalog.count)
        for (p, i) in order.enumerated() { position[i] = p }
        idOrder = position
    }

    /// A seeded random sample of `count` evaluation targets (never "the first N": users late in
    /// a file can be much easier). Returned in split order.
    public static func sample(_ targets: [EvaluationTarget], count: Int, seed: UInt64) -> [EvaluationTarget] {
        guard count < targets.count else { return targets }
        var rng = SeededGenerator(seed: seed)
        var indices = Array(targets.indices)
        for i in 0 ..< count { indices.swapAt(i, Int.random(in: i ..< indices.count, using: &rng)) }
        return indices[..<count].sorted().map { targets[$0] }
    }

    /// Exact 1-based rank of `target` under `scores` with the id tie-break; items in `excluded`
    /// (other than the target) are left out of the ranking.
    public func rank(of target: Int, scores: [Float], excluded: Set<Int> = []) throws -> Int {
        guard scores.count == catalog.count else {
            throw CorporaError.invalidArgument("a ranking returned \(scores.count) scores for \(catalog.count) items")
        }
        let s = scores[target]
        guard !s.isNaN else { throw CorporaError.invalidArgument("the target item's score is NaN") }
        let t = idOrder[target]
        var better = 0
        scores.withUnsafeBufferPointer { p in
            for i in 0 ..< p.count where p[i] >= s {
                if p[i] > s || idOrder[i] < t { better += 1 }
            }
        }
        for i in excluded where i != target && (scores[i] > s || (scores[i] == s && idOrder[i] < t)) { better -= 1 }
        return better + 1
    }

    /// Ranks every target. `filterSeen`: history items (except the target) are removed from
    /// the ranking. Progress goes to stderr when `progress` is set.
    public func ranks(_ targets: [EvaluationTarget], ranking: Ranking, filterSeen: Bool = false, progress: Bool = false) throws -> [UserRank] {
        let line = ProgressLine("evaluate", total: targets.count, unit: "users", enabled: progress)
        var out: [UserRank] = []
        out.reserveCapacity(targets.count)
        func listRank(_ list: [Int], _ t: EvaluationTarget) -> Int? {
            let excluded = filterSeen ? Set(t.history) : []
            var r = 0
            for i in list where i == t.target || !excluded.contains(i) {
                r += 1
                if i == t.target { return r }
            }
            return nil
        }
        switch ranking {
        case let .scores(score):
            for t in targets {
                let r = try rank(of: t.target, scores: try score(t), excluded: filterSeen ? Set(t.history) : [])
                out.append(UserRank(user: t.userID, target: catalog.ids[t.target], rank: r))
                line.advance()
            }
        case let .list(rankList):
            for t in targets {
                out.append(UserRank(user: t.userID, target: catalog.ids[t.target], rank: listRank(try rankList(t), t)))
                line.advance()
            }
        case let .batchedList(batchSize, rankBatch):
            precondition(batchSize > 0, "batch size must be positive")
            var start = 0
            while start < targets.count {
                let batch = Array(targets[start ..< min(targets.count, start + batchSize)])
                let lists = try rankBatch(batch)
                guard lists.count == batch.count else {
                    throw CorporaError.invalidArgument("a batched ranking returned \(lists.count) lists for \(batch.count) users")
                }
                for (t, list) in zip(batch, lists) {
                    out.append(UserRank(user: t.userID, target: catalog.ids[t.target], rank: listRank(list, t)))
                }
                line.advance(by: batch.count)
                start += batchSize
            }
        }
        line.finish()
        return out
    }

    /// Evaluates and builds the report (metrics, 95% bootstrap intervals from 1,000 seeded
    /// resamples of users).
    public func evaluate(model: String, part: EvaluationPart, ranking: Ranking, data: String, config: [String: String] = [:],
                         filterSeen: Bool = false, userSample: Int? = nil, seed: UInt64 = 0, progress: Bool = false) throws -> (report: MetricsReport, ranks: [UserRank]) {
        let start = Date()
        var targets = split.targets(part)
        if let userSample { targets = Self.sample(targets, count: userSample, seed: seed) }
        // For list rankings, the report states the longest list actually returned (a beam of 10
        // returns 10, so recall@20 and MRR are truncated at 10, not at the largest cutoff).
        var longest = 0
        let observed: Ranking
        switch ranking {
        case .scores: observed = ranking
        case let .list(f): observed = .list { t in let l = try f(t); longest = max(longest, l.count); return l }
        case let .batchedList(n, f):
            observed = .batchedList(batchSize: n) { ts in let ls = try f(ts); longest = max(longest, ls.map(\.count).max() ?? 0); return ls }
        }
        let ranks = try self.ranks(targets, ranking: observed, filterSeen: filterSeen, progress: progress)
        let rankValues = ranks.map(\.rank)
        var rng = SeededGenerator(seed: seed &+ 0x5EED)
        var confidence: [String: [Double]] = [:]
        for name in Metrics.names {
            let ci = Bootstrap.interval(Metrics.perUser(name, rankValues), resamples: 1000, level: 0.95, using: &rng)
            confidence[name] = [ci.low, ci.high]
        }
        var listLength: Int?
        if case .scores = ranking {} else { listLength = longest }
        let description = SplitDescription(method: "chronological leave-one-out", part: part, domain: split.domainName,
                                           catalogItems: catalog.count, splitUsers: split.users.count,
                                           excludedUsers: split.excludedUsers.count, historyCap: split.historyCap,
                                           filterSeen: filterSeen, userSample: userSample, sampleSeed: userSample == nil ? nil : seed)
        let report = MetricsReport(model: model, metrics: Metrics.means(rankValues), confidence: confidence, users: ranks.count,
                                   split: description, data: data, config: config, ranksFile: nil, rankedListLength: listLength,
                                   seconds: Date().timeIntervalSince(start))
        return (report, ranks)
    }
}

/// Percentile bootstrap over users.
public enum Bootstrap {
    public static func interval(_ values: [Double], resamples: Int, level: Double, using rng: inout SeededGenerator) -> (low: Double, high: Double) {
        guard !values.isEmpty else { return (0, 0) }
        var means: [Double] = []
        means.reserveCapacity(resamples)
        let n = values.count
        values.withUnsafeBufferPointer { v in
            for _ in 0 ..< resamples {
                var sum = 0.0
                for _ in 0 ..< n { sum += v[Int(rng.next() % UInt64(n))] }
                means.append(sum / Double(n))
            }
        }
        means.sort()
        let alpha = (1 - level) / 2
        let lo = means[max(0, Int((alpha * Double(resamples)).rounded(.down)))]
        let hi = means[min(resamples - 1, Int(((1 - alpha) * Double(resamples)).rounded(.up)) - 1)]
        return (lo, hi)
    }
}

/// Paired comparison of two runs on the same users and targets.
public struct MetricComparison: Codable, Equatable, Sendable {
    public var metric: String
    public var a: Double
    public var b: Double
    /// b − a
    public var difference: Double
    /// 95% paired bootstrap interval of b − a.
    public var interval: [Double]
    /// Two-sided p-value of a paired sign-flip randomization test (H0: no difference).
    public var pValue: Double
}

public struct RunComparison: Codable, Equatable, Sendable {
    public var runA: String
    public var runB: String
    public var users: Int
    public var metrics: [MetricComparison]

    /// Compares per-user ranks of two runs; they must cover the same users with the same targets.
    public static func compare(_ a: [UserRank], _ b: [UserRank], nameA: String, nameB: String,
                               resamples: Int = 2000, seed: UInt64 = 0) throws -> RunComparison {
        var bByUser: [String: UserRank] = [:]
        for r in b {
            if bByUser.updateValue(r, forKey: r.user) != nil { throw CorporaError.mismatch("\(nameB) lists user \"\(r.user)\" twice") }
        }
        guard a.count == b.count else {
            throw CorporaError.mismatch("\(nameA) has \(a.count) users, \(nameB) has \(b.count); compare runs on the same users")
        }
        var ra: [Int?] = [], rb: [Int?] = []
        for r in a {
            guard let other = bByUser[r.user] else { throw CorporaError.mismatch("user \"\(r.user)\" of \(nameA) is missing from \(nameB)") }
            guard other.target == r.target else {
                throw CorporaError.mismatch("user \"\(r.user)\": target \(r.target) in \(nameA) but \(other.target) in \(nameB) (different splits or parts)")
            }
            ra.append(r.rank)
            rb.append(other.rank)
        }
        var rng = SeededGenerator(seed: seed)
        var out: [MetricComparison] = []
        for name in Metrics.names {
            let va = Metrics.perUser(name, ra), vb = Metrics.perUser(name, rb)
            let d = zip(vb, va).map { $0 - $1 }
            let n = Double(d.count)
            let mean = d.reduce(0, +) / max(n, 1)
            let ci = Bootstrap.interval(d, resamples: resamples, level: 0.95, using: &rng)
            // Sign-flip test: under H0 each user's difference is symmetric around 0.
            let nonzero = d.filter { $0 != 0 }
            var extreme = 0
            let observed = abs(nonzero.reduce(0, +))
            if !nonzero.isEmpty {
                for _ in 0 ..< resamples {
                    var sum = 0.0
                    var bits: UInt64 = 0
                    for (j, x) in nonzero.enumerated() {
                        if j % 64 == 0 { bits = rng.next() }
                        sum += (bits & 1) == 0 ? x : -x
                        bits >>= 1
                    }
                    if abs(sum) >= observed - 1e-12 { extreme += 1 }
                }
            }
            let p = nonzero.isEmpty ? 1 : Double(extreme + 1) / Double(resamples + 1)
            out.append(MetricComparison(metric: name, a: va.reduce(0, +) / max(n, 1), b: vb.reduce(0, +) / max(n, 1),
                                        difference: mean, interval: [ci.low, ci.high], pValue: p))
        }
        return RunComparison(runA: nameA, runB: nameB, users: ra.count, metrics: out)
    }

    public var markdown: String {
        var out = "A = `\(runA)`, B = `\(runB)`, \(users) paired users; 95% paired bootstrap CI of B − A; p from a paired sign-flip randomization test.\n\n"
        out += "| metric | A | B | B − A | 95% CI | p |\n|---|---|---|---|---|---|\n"
        for m in metrics {
            out += String(format: "| %@ | %.4f | %.4f | %+.4f | %+.4f – %+.4f | %.4f |\n", m.metric, m.a, m.b, m.difference, m.interval[0], m.interval[1], m.pValue)
        }
        return out
    }
}

/// A saved evaluation run: `metrics.json` (+ `metrics.md`, `ranks.tsv`) in a folder, or a
/// report JSON file whose `ranks_file` names the ranks.
public enum EvaluationRun {
    public static func save(report: MetricsReport, ranks: [UserRank], folder: URL) throws {
        var r = report
        r.ranksFile = "ranks.tsv"
        try RanksFile.write(ranks, to: folder.appendingPathComponent("ranks.tsv"))
        try AtomicFile.writeJSON(r, to: folder.appendingPathComponent("metrics.json"))
        try AtomicFile.write(r.markdown, to: folder.appendingPathComponent("metrics.md"))
    }

    /// Writes the report to `json` and the ranks next to it (`NAME.ranks.tsv`).
    public static func save(report: MetricsReport, ranks: [UserRank], json: URL) throws {
        var r = report
        let ranksName = json.deletingPathExtension().lastPathComponent + ".ranks.tsv"
        r.ranksFile = ranksName
        try RanksFile.write(ranks, to: json.deletingLastPathComponent().appendingPathComponent(ranksName))
        try AtomicFile.writeJSON(r, to: json)
    }

    public static func load(_ url: URL) throws -> (report: MetricsReport, ranks: [UserRank]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CorporaError.badFile(file: url.path, reason: "no such run (expected a run folder with metrics.json or a report JSON file)")
        }
        let json = isDirectory.boolValue ? url.appendingPathComponent("metrics.json") : url
        let report = try JSONOutput.decode(MetricsReport.self, from: json)
        guard let ranksName = report.ranksFile else {
            throw CorporaError.badFile(file: json.path, reason: "the report has no `ranks_file`; rerun the evaluation to save per-user ranks")
        }
        let ranksURL = ranksName.hasPrefix("/") ? URL(fileURLWithPath: ranksName) : json.deletingLastPathComponent().appendingPathComponent(ranksName)
        return (report, try RanksFile.read(ranksURL))
    }
}
