import Foundation
import Support
import TensorCore

/// k-means with k-means++ seeding and an optional capacity per cluster (balanced assignment).
///
/// Distances come from one BLAS product per iteration (‖x‖² + ‖c‖² − 2·x·cᵀ), never from scalar
/// loops over n × K × d. The balanced assignment is greedy: items in order of their distance to
/// their nearest centroid (closest first, ties by index) take the nearest centroid that still has
/// room. It is deterministic for a seed on a given BLAS kernel.
enum KMeans {
    struct Result {
        var centroids: Tensor // [K, d]
        var assignment: [Int] // [n]
    }

    static func rowNorms(_ x: Tensor) -> [Float] {
        let n = x.shape[0], d = x.shape[1]
        return (0 ..< n).map { i in
            var s: Float = 0
            let row = x.pointer + i * d
            for j in 0 ..< d { s += row[j] * row[j] }
            return s
        }
    }

    /// k-means++ (Arthur & Vassilvitskii 2007): the first centre uniformly, each next one with
    /// probability proportional to the squared distance to the nearest centre so far.
    static func plusPlus(_ x: Tensor, k: Int, generator: inout SeededGenerator) -> Tensor {
        let n = x.shape[0], d = x.shape[1]
        let centroids = Tensor(zeros: [k, d])
        let norms = rowNorms(x)
        var nearest = [Double](repeating: .infinity, count: n)
        var chosen = Int(generator.next() % UInt64(n))
        for c in 0 ..< k {
            (centroids.pointer + c * d).update(from: x.pointer + chosen * d, count: d)
            let centre = Tensor(shape: [1, d], values: Array(UnsafeBufferPointer(start: x.pointer + chosen * d, count: d)))
            let dots = Ops.matmul(x, centre, transposeB: true) // [n, 1]
            let cn = norms[chosen]
            var total = 0.0
            for i in 0 ..< n {
                let dist = Double(max(0, norms[i] + cn - 2 * dots.pointer[i]))
                if dist < nearest[i] { nearest[i] = dist }
                total += nearest[i]
            }
            guard c + 1 < k else { break }
            if total <= 0 {
                chosen = Int(generator.next() % UInt64(n))
                continue
            }
            var target = Double(generator.nextFloat()) * total
            chosen = n - 1
            for i in 0 ..< n {
                target -= nearest[i]
                if target < 0 { chosen = i; break }
            }
        }
        return centroids
    }

    /// Squared distances [n, K] (clamped at 0).
    static func distances(_ x: Tensor, norms: [Float], centroids: Tensor) -> Tensor {
        let n = x.shape[0], k = centroids.shape[0]
        let dots = Ops.matmul(x, centroids, transposeB: true)
        let cn = rowNorms(centroids)
        for i in 0 ..< n {
            let row = dots.pointer + i * k
            for c in 0 ..< k { row[c] = max(0, norms[i] + cn[c] - 2 * row[c]) }
        }
        return dots
    }

    /// Nearest centroid of every row; with `capacity`, the greedy balanced assignment.
    static func assign(_ dist: Tensor, capacity: Int?) -> [Int] {
        let n = dist.shape[0], k = dist.shape[1]
        var best = [Int](repeating: 0, count: n), bestValue = [Float](repeating: 0, count: n)
        for i in 0 ..< n {
            let row = dist.pointer + i * k
            var b = 0
            for c in 1 ..< k where row[c] < row[b] { b = c }
            best[i] = b
            bestValue[i] = row[b]
        }
        guard let capacity else { return best }
        precondition(capacity * k >= n, "capacity \(capacity) × \(k) codes < \(n) items")
        let order = (0 ..< n).sorted { bestValue[$0] != bestValue[$1] ? bestValue[$0] < bestValue[$1] : $0 < $1 }
        var counts = [Int](repeating: 0, count: k)
        var out = [Int](repeating: 0, count: n)
        for i in order {
            var c = best[i]
            if counts[c] >= capacity {
                let row = dist.pointer + i * k
                var value = Float.infinity
                for j in 0 ..< k where counts[j] < capacity && row[j] < value { value = row[j]; c = j }
            }
            counts[c] += 1
            out[i] = c
        }
        return out
    }

    /// Lloyd iterations from k-means++ seeds. Empty clusters are re-seeded with the rows farthest
    /// from their centroid (deterministic).
    static func fit(_ x: Tensor, k: Int, iterations: Int, capacity: Int?, generator: inout SeededGenerator) -> Result {
        let n = x.shape[0], d = x.shape[1]
        precondition(n >= k, "k-means: \(n) rows < \(k) clusters")
        let norms = rowNorms(x)
        let centroids = plusPlus(x, k: k, generator: &generator)
        var assignment = assign(distances(x, norms: norms, centroids: centroids), capacity: capacity)
        for _ in 0 ..< max(iterations, 1) {
            var counts = [Int](repeating: 0, count: k)
            var sums = [Double](repeating: 0, count: k * d)
            for i in 0 ..< n {
                let c = assignment[i]
                counts[c] += 1
                let row = x.pointer + i * d
                for j in 0 ..< d { sums[c * d + j] += Double(row[j]) }
            }
            let empty = (0 ..< k).filter { counts[$0] == 0 }
            for c in 0 ..< k where counts[c] > 0 {
                for j in 0 ..< d { centroids.pointer[c * d + j] = Float(sums[c * d + j] / Double(counts[c])) }
            }
            if !empty.isEmpty {
                let dist = distances(x, norms: norms, centroids: centroids)
                let far = (0 ..< n).sorted {
                    let a = dist.pointer[$0 * k + assignment[$0]], b = dist.pointer[$1 * k + assignment[$1]]
                    return a != b ? a > b : $0 < $1
                }
                for (c, i) in zip(empty, far) { (centroids.pointer + c * d).update(from: x.pointer + i * d, count: d) }
            }
            assignment = assign(distances(x, norms: norms, centroids: centroids), capacity: capacity)
        }
        return Result(centroids: centroids, assignment: assignment)
    }
}

/// Balanced residual k-means: level l clusters what levels 0..<l left of each embedding.
enum ResidualKMeans {
    static func train(_ x: Tensor, settings: SemanticQuantiserSettings, generator: inout SeededGenerator,
                      progress: Bool) -> (codebooks: [[Float]], codes: [[Int]]) {
        let n = x.shape[0], d = x.shape[1], k = settings.codebookSize
        let capacity = max((n + k - 1) / k, Int((Double(n) / Double(k) * (1 + settings.balanceSlack)).rounded(.up)))
        let residual = x.copy()
        var codes = [[Int]](repeating: [], count: n)
        var codebooks: [[Float]] = []
        for level in 0 ..< settings.levels {
            let started = Date()
            let result = KMeans.fit(residual, k: k, iterations: settings.kmeansIterations, capacity: capacity, generator: &generator)
            for i in 0 ..< n {
                let c = result.assignment[i]
                codes[i].append(c)
                let r = residual.pointer + i * d, centre = result.centroids.pointer + c * d
                for j in 0 ..< d { r[j] -= centre[j] }
            }
            codebooks.append(withExtendedLifetime(result) { result.centroids.scalars })
            if progress {
                Log.info(String(format: "residual k-means level %@: %d codes, at most %d items each, %.1f s",
                                SemanticCodeLayout.letter(level), k, capacity, Date().timeIntervalSince(started)))
            }
        }
        withExtendedLifetime(residual) {}
        return (codebooks, codes)
    }
}

/// Training a semantic quantiser on a catalog's embeddings.
public enum SemanticQuantiserTraining {
    public struct Result: Sendable {
        public var quantiser: SemanticQuantiser
        /// Quantised codes of the training rows (balanced ones for residual k-means).
        public var codes: [[Int]]
        public var seconds: Double
        /// RQ-VAE: the last epoch's mean losses (reconstruction, codebook + commitment).
        public var reconstructionLoss: Double?
        public var quantisationLoss: Double?
    }

    /// `embeddings` [n, dim] (L2-normalised rows, catalog order). `fusion`: PLUM co-occurrence
    /// fusion on training pairs (`CooccurrenceFusion.pairs(split:)`), or nil for content only.
    public static func train(embeddings: Tensor, settings: SemanticQuantiserSettings,
                             fusion: (options: CooccurrenceFusionOptions, pairs: [(Int, Int)])? = nil,
                             progress: Bool = false) throws -> Result {
        try settings.layout.validate()
        guard embeddings.rank == 2, embeddings.shape[0] > 0, embeddings.shape[1] > 0 else {
            throw IDGenError.invalid("semantic quantiser: embeddings must be a non-empty matrix [items, dim], found shape \(embeddings.shape)")
        }
        let n = embeddings.shape[0], dim = embeddings.shape[1]
        guard n >= settings.codebookSize else {
            throw IDGenError.invalid("semantic quantiser: \(n) items but \(settings.codebookSize) codes per level; use a codebook size of at most \(n)")
        }
        for i in 0 ..< embeddings.count where !embeddings.pointer[i].isFinite {
            throw IDGenError.invalid("semantic quantiser: embedding row \(i / dim) has a non-finite value")
        }
        let started = Date()
        var generator = SeededGenerator(seed: settings.seed)
        var projection: [Float]?
        var x = embeddings
        if let fusion {
            let p = try CooccurrenceFusion.train(embeddings: embeddings, pairs: fusion.pairs, options: fusion.options, progress: progress)
            projection = p.scalars
            x = SemanticQuantiser.project(embeddings, projection: p)
        }
        switch settings.kind {
        case .rkmeans:
            let (codebooks, codes) = ResidualKMeans.train(x, settings: settings, generator: &generator, progress: progress)
            let quantiser = SemanticQuantiser(settings: settings, inputDimension: dim, fusion: fusion?.options, projection: projection,
                                              encoder: [], codebooks: codebooks)
            return Result(quantiser: quantiser, codes: codes, seconds: Date().timeIntervalSince(started))
        case .rqvae:
            let trained = try RQVAE.train(x, settings: settings, generator: &generator, progress: progress)
            let quantiser = SemanticQuantiser(settings: settings, inputDimension: dim, fusion: fusion?.options, projection: projection,
                                              encoder: trained.encoder, codebooks: trained.codebooks)
            let codes = try quantiser.quantise(embeddings)
            return Result(quantiser: quantiser, codes: codes, seconds: Date().timeIntervalSince(started),
                          reconstructionLoss: trained.reconstruction, quantisationLoss: trained.quantisation)
        }
    }
}

/// What a semantic-ID table's codes look like (written to the table's metadata).
public struct SemanticCodeReport: Codable, Sendable, Equatable {
    public struct Level: Codable, Sendable, Equatable {
        public var codesUsed: Int
        public var codebookSize: Int
        /// Largest share of items holding one code.
        public var largestShare: Double
        /// exp(entropy) of the code distribution (= codebookSize when perfectly uniform).
        public var perplexity: Double
    }

    public var items: Int
    public var levels: [Level]
    /// Share of items whose collision code is > 0 (their quantised codes collide with an earlier item's).
    public var collisionShare: Double
    /// Most items sharing all quantised codes.
    public var largestCollisionGroup: Int
    /// Co-occurring training pairs (adjacent items of a training sequence, distinct items) that
    /// share the first code / the first two codes; nil without pairs.
    public var trainingPairs: Int?
    public var pairsSharingFirstCode: Double?
    public var pairsSharingTwoCodes: Double?
    public var trainingSeconds: Double?
    public var reconstructionLoss: Double?
    public var quantisationLoss: Double?

    /// `table` rows in layout; `index` maps item ids to rows of `pairs` indices (catalog order).
    public static func measure(_ table: IDTable, layout: SemanticCodeLayout, pairs: [(Int, Int)]? = nil,
                               catalogIDs: [String]? = nil) throws -> SemanticCodeReport {
        let codes: [[Int]] = try zip(table.itemIDs, table.textualIDs).map { item, id in
            guard let c = layout.codes(of: id) else { throw IDGenError.invalid("semantic ID table: item \(item) has ID '\(id)', not of the layout") }
            return c
        }
        let n = codes.count
        var levels: [Level] = []
        for l in 0 ..< layout.levels {
            var counts = [Int](repeating: 0, count: layout.codebookSize)
            for c in codes { counts[c[l]] += 1 }
            var entropy = 0.0
            for k in counts where k > 0 {
                let p = Double(k) / Double(n)
                entropy -= p * log(p)
            }
            levels.append(Level(codesUsed: counts.filter { $0 > 0 }.count, codebookSize: layout.codebookSize,
                                largestShare: Double(counts.max() ?? 0) / Double(max(n, 1)), perplexity: exp(entropy)))
        }
        var groups: [[Int]: Int] = [:]
        for c in codes { groups[Array(c.prefix(layout.levels)), default: 0] += 1 }
        let collided = layout.disambiguationSize > 0 ? codes.filter { $0[layout.levels] > 0 }.count : 0
        var report = SemanticCodeReport(items: n, levels: levels, collisionShare: Double(collided) / Double(max(n, 1)),
                                        largestCollisionGroup: groups.values.max() ?? 0)
        if let pairs {
            var rowOf: [Int] = Array(0 ..< n)
            if let catalogIDs {
                let index = Dictionary(uniqueKeysWithValues: table.itemIDs.enumerated().map { ($1, $0) })
                rowOf = catalogIDs.map { index[$0] ?? -1 }
            }
            var first = 0, two = 0, counted = 0
            for (a, b) in pairs {
                let ra = rowOf[a], rb = rowOf[b]
                guard ra >= 0, rb >= 0 else { continue }
                counted += 1
                if codes[ra][0] == codes[rb][0] {
                    first += 1
                    if layout.levels > 1, codes[ra][1] == codes[rb][1] { two += 1 }
                }
            }
            report.trainingPairs = counted
            report.pairsSharingFirstCode = Double(first) / Double(max(counted, 1))
            report.pairsSharingTwoCodes = Double(two) / Double(max(counted, 1))
        }
        return report
    }

    init(items: Int, levels: [Level], collisionShare: Double, largestCollisionGroup: Int) {
        self.items = items
        self.levels = levels
        self.collisionShare = collisionShare
        self.largestCollisionGroup = largestCollisionGroup
    }

    public var summary: String {
        var lines = levels.enumerated().map { l, level in
            String(format: "level %@: %d/%d codes used, largest share %.2f%%, perplexity %.1f", SemanticCodeLayout.letter(l),
                   level.codesUsed, level.codebookSize, 100 * level.largestShare, level.perplexity)
        }
        lines.append(String(format: "%d items; %.2f%% needed a collision code > 0; largest collision group %d", items, 100 * collisionShare, largestCollisionGroup))
        if let trainingPairs, let first = pairsSharingFirstCode, let two = pairsSharingTwoCodes {
            lines.append(String(format: "%d co-occurring training pairs: %.2f%% share the first code, %.2f%% the first two", trainingPairs, 100 * first, 100 * two))
        }
        return lines.joined(separator: "\n")
    }
}
