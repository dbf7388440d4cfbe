import Foundation
import Support
import TensorCore

/// How a semantic quantiser is trained (saved in the quantiser file and the table's metadata).
public struct SemanticQuantiserSettings: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Balanced residual k-means on the embeddings themselves.
        case rkmeans
        /// TIGER's RQ-VAE: an MLP encoder, residual codebooks in its latent space, a mirror decoder.
        case rqvae
    }

    public var kind: Kind = .rqvae
    public var levels = 3
    public var codebookSize = 256
    public var disambiguationSize = 256
    public var seed: UInt64 = 0

    // Residual k-means.
    /// Lloyd iterations per level (each with the balanced assignment).
    public var kmeansIterations = 10
    /// Balance: no code takes more than ceil(n / K · (1 + slack)) items.
    public var balanceSlack = 0.1

    // RQ-VAE (TIGER §3.1: 3 levels × 256 codes of dimension 32, β = 0.25).
    public var hidden: [Int] = [256, 128]
    public var latent = 32
    public var epochs = 40
    public var batchSize = 256
    public var learningRate: Float = 1e-3
    public var beta: Float = 0.25
    /// Rows of the first (shuffled) epoch whose latent residuals initialise the codebooks by k-means.
    public var initRows = 4096

    public init(kind: Kind = .rqvae) { self.kind = kind }

    public var layout: SemanticCodeLayout {
        SemanticCodeLayout(levels: levels, codebookSize: codebookSize, disambiguationSize: disambiguationSize)
    }
}

/// A trained quantiser: item embeddings in, `layout.levels` codes per item out.
///
/// Stored as plain arrays (so the value is `Sendable`); tensors are made per call.
/// - `projection` (PLUM co-occurrence fusion, nil when off): y = normalise(x + x·P), P [dim, dim].
/// - `encoder` (RQ-VAE only): dense layers, weight [out, in], ReLU between layers, none after the last.
/// - `codebooks[l]`: [codebookSize, codeDimension]; the codes of level l are the nearest rows to the
///   residual left by the levels before it.
public struct SemanticQuantiser: Sendable {
    public struct Dense: Sendable, Equatable {
        public var inFeatures: Int
        public var outFeatures: Int
        public var weight: [Float] // [out, in]
        public var bias: [Float] // [out]
    }

    public let settings: SemanticQuantiserSettings
    public let inputDimension: Int
    public let codeDimension: Int
    public let fusion: CooccurrenceFusionOptions?
    let projection: [Float]?
    let encoder: [Dense]
    let codebooks: [[Float]]

    public var layout: SemanticCodeLayout { settings.layout }
    public var kind: SemanticQuantiserSettings.Kind { settings.kind }

    init(settings: SemanticQuantiserSettings, inputDimension: Int, fusion: CooccurrenceFusionOptions?, projection: [Float]?,
         encoder: [Dense], codebooks: [[Float]]) {
        self.settings = settings
        self.inputDimension = inputDimension
        codeDimension = encoder.last?.outFeatures ?? inputDimension
        self.fusion = fusion
        self.projection = projection
        self.encoder = encoder
        self.codebooks = codebooks
        precondition(projection == nil || projection!.count == inputDimension * inputDimension)
        precondition(codebooks.count == settings.levels && codebooks.allSatisfy { $0.count == settings.codebookSize * codeDimension })
    }

    // MARK: Quantising

    /// Quantised codes (layout.levels of them per row) of embeddings [n, dim], L2-normalised rows.
    public func quantise(_ embeddings: Tensor) throws -> [[Int]] {
        let latent = try encode(embeddings)
        return Self.residualCodes(latent, codebooks: codebookTensors).codes
    }

    /// The rows the codebooks quantise: projected (fusion) and encoded (RQ-VAE).
    func encode(_ embeddings: Tensor) throws -> Tensor {
        try checkInput(embeddings)
        var x = embeddings
        if let projection { x = Self.project(x, projection: Tensor(shape: [inputDimension, inputDimension], values: projection)) }
        for (k, layer) in encoder.enumerated() {
            x = Ops.linear(x, weight: Tensor(shape: [layer.outFeatures, layer.inFeatures], values: layer.weight),
                           bias: Tensor(shape: [layer.outFeatures], values: layer.bias))
            if k < encoder.count - 1 { x = Ops.relu(x) }
        }
        return x
    }

    func checkInput(_ embeddings: Tensor) throws {
        guard embeddings.rank == 2 else {
            throw IDGenError.invalid("semantic quantiser: embeddings must be a matrix [items, \(inputDimension)], found shape \(embeddings.shape)")
        }
        guard embeddings.shape[1] == inputDimension else {
            throw IDGenError.invalid("semantic quantiser: embeddings have dimension \(embeddings.shape[1]), the quantiser was trained on \(inputDimension) (another sentence encoder?)")
        }
        for i in 0 ..< embeddings.count where !embeddings.pointer[i].isFinite {
            throw IDGenError.invalid("semantic quantiser: embedding row \(i / inputDimension) has a non-finite value")
        }
    }

    var codebookTensors: [Tensor] {
        codebooks.map { Tensor(shape: [settings.codebookSize, codeDimension], values: $0) }
    }

    /// y = normalise(x + x·P) row by row (PLUM fusion's projection, P [dim, dim]).
    static func project(_ x: Tensor, projection: Tensor) -> Tensor {
        let y = Ops.add(x, Ops.matmul(x, projection))
        normaliseRows(y)
        return y
    }

    static func normaliseRows(_ y: Tensor) {
        let d = y.shape[1]
        for i in 0 ..< y.shape[0] {
            let row = y.pointer + i * d
            var s: Float = 0
            for j in 0 ..< d { s += row[j] * row[j] }
            let inv = s > 0 ? 1 / s.squareRoot() : 0
            for j in 0 ..< d { row[j] *= inv }
        }
    }

    /// Nearest row of `codebook` [K, d] for every row of `x` [n, d] (squared Euclidean distance,
    /// ties to the lower code). One BLAS product x·Cᵀ; ‖x‖² is constant per row and dropped.
    static func nearest(_ x: Tensor, codebook: Tensor) -> [Int] {
        let n = x.shape[0], k = codebook.shape[0], d = codebook.shape[1]
        let scores = Ops.matmul(x, codebook, transposeB: true) // [n, K]
        var norms = [Float](repeating: 0, count: k)
        for c in 0 ..< k {
            var s: Float = 0
            for j in 0 ..< d { s += codebook.pointer[c * d + j] * codebook.pointer[c * d + j] }
            norms[c] = s
        }
        var out = [Int](repeating: 0, count: n)
        for i in 0 ..< n {
            let row = scores.pointer + i * k
            var best = 0, bestValue = Float.infinity
            for c in 0 ..< k {
                let v = norms[c] - 2 * row[c]
                if v < bestValue { bestValue = v; best = c }
            }
            out[i] = best
        }
        withExtendedLifetime(scores) {}
        return out
    }

    /// Codes level by level: each level's nearest codebook row to what the levels before left.
    static func residualCodes(_ x: Tensor, codebooks: [Tensor]) -> (codes: [[Int]], residual: Tensor) {
        let n = x.shape[0], d = x.shape[1]
        let residual = x.copy()
        var codes = [[Int]](repeating: [], count: n)
        for codebook in codebooks {
            let level = nearest(residual, codebook: codebook)
            for i in 0 ..< n {
                codes[i].append(level[i])
                let c = codebook.pointer + level[i] * d, r = residual.pointer + i * d
                for j in 0 ..< d { r[j] -= c[j] }
            }
        }
        return (codes, residual)
    }

    // MARK: File

    static let format = "idgenrec-semantic-quantiser-1"

    struct FileHeader: Codable {
        var format: String
        var settings: SemanticQuantiserSettings
        var inputDimension: Int
        var codeDimension: Int
        var fusion: CooccurrenceFusionOptions?
        var encoderShapes: [[Int]]
    }

    /// Writes the quantiser as safetensors (atomic); settings in the JSON metadata under "quantiser".
    public func save(to url: URL) throws {
        var tensors: [String: Tensor] = [:]
        if let projection { tensors["projection"] = Tensor(shape: [inputDimension, inputDimension], values: projection) }
        for (k, layer) in encoder.enumerated() {
            tensors["encoder.\(k).weight"] = Tensor(shape: [layer.outFeatures, layer.inFeatures], values: layer.weight)
            tensors["encoder.\(k).bias"] = Tensor(shape: [layer.outFeatures], values: layer.bias)
        }
        for (l, codebook) in codebooks.enumerated() {
            tensors["codebook.\(l)"] = Tensor(shape: [settings.codebookSize, codeDimension], values: codebook)
        }
        let header = FileHeader(format: Self.format, settings: settings, inputDimension: inputDimension, codeDimension: codeDimension,
                                fusion: fusion, encoderShapes: encoder.map { [$0.outFeatures, $0.inFeatures] })
        let json = String(decoding: try JSONOutput.encode(header), as: UTF8.self)
        try SafeTensors.save(tensors, metadata: ["quantiser": json], to: url)
    }

    public static func load(from url: URL) throws -> SemanticQuantiser {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(url: url) } catch {
            throw IDGenError.invalid("\(url.path): cannot read the semantic quantiser (\(error))")
        }
        guard let json = file.metadata["quantiser"], let header = try? JSONDecoder().decode(FileHeader.self, from: Data(json.utf8)) else {
            throw IDGenError.invalid("\(url.path): not a semantic quantiser file (no 'quantiser' metadata; written by `ids generate --scheme semantic`?)")
        }
        guard header.format == format else {
            throw IDGenError.invalid("\(url.path): quantiser format '\(header.format)', this build reads '\(format)'")
        }
        try header.settings.layout.validate()
        var expected: [String: [Int]] = [:]
        if header.fusion != nil { expected["projection"] = [header.inputDimension, header.inputDimension] }
        for (k, shape) in header.encoderShapes.enumerated() {
            expected["encoder.\(k).weight"] = shape
            expected["encoder.\(k).bias"] = [shape[0]]
        }
        for l in 0 ..< header.settings.levels { expected["codebook.\(l)"] = [header.settings.codebookSize, header.codeDimension] }
        let tensors = try SafeTensors.load(url, expecting: expected)
        var encoder: [Dense] = []
        var inFeatures = header.inputDimension
        for (k, shape) in header.encoderShapes.enumerated() {
            guard shape.count == 2, shape[1] == inFeatures else {
                throw IDGenError.invalid("\(url.path): encoder layer \(k) has shape \(shape), expected input \(inFeatures)")
            }
            encoder.append(Dense(inFeatures: shape[1], outFeatures: shape[0], weight: tensors["encoder.\(k).weight"]!.scalars,
                                 bias: tensors["encoder.\(k).bias"]!.scalars))
            inFeatures = shape[0]
        }
        guard inFeatures == header.codeDimension else {
            throw IDGenError.invalid("\(url.path): code dimension \(header.codeDimension) does not match the encoder's output \(inFeatures)")
        }
        return SemanticQuantiser(settings: header.settings, inputDimension: header.inputDimension, fusion: header.fusion,
                                 projection: tensors["projection"]?.scalars, encoder: encoder,
                                 codebooks: (0 ..< header.settings.levels).map { tensors["codebook.\($0)"]!.scalars })
    }

    /// Where `ids generate --scheme semantic --out FILE` keeps the quantiser: FILE.quantiser.safetensors.
    public static func url(besideTable table: URL) -> URL {
        URL(fileURLWithPath: table.path + ".quantiser.safetensors")
    }
}

/// Semantic IDs from quantised codes: the collision code (last level) and keeping existing IDs.
public enum SemanticCodeAssignment {
    /// IDs for items in the given order from their quantised codes: items whose quantised codes
    /// collide get collision codes 0, 1, 2, … in that order. Throws when a group exceeds the
    /// layout's collision codes.
    public static func assign(itemIDs: [String], codes: [[Int]], layout: SemanticCodeLayout) throws -> IDTable {
        try extend(existing: nil, itemIDs: itemIDs, newCodes: Dictionary(uniqueKeysWithValues: zip(itemIDs.indices, codes)), layout: layout)
    }

    /// IDs for `itemIDs` given their embeddings; items of `existing` keep their IDs; the others get
    /// quantised codes + the smallest free collision code. Throws when a collision group overflows.
    public static func extend(existing: IDTable?, itemIDs: [String], embeddings: Tensor,
                              quantiser: SemanticQuantiser) throws -> IDTable {
        guard embeddings.rank == 2, embeddings.shape[0] == itemIDs.count else {
            throw IDGenError.invalid("semantic IDs: \(itemIDs.count) items but embeddings of shape \(embeddings.shape)")
        }
        let kept = Set(existing?.itemIDs ?? [])
        let pending = itemIDs.indices.filter { !kept.contains(itemIDs[$0]) }
        var newCodes: [Int: [Int]] = [:]
        if !pending.isEmpty {
            let d = embeddings.shape[1]
            let rows = Tensor(uninitialized: [pending.count, d])
            for (r, i) in pending.enumerated() { (rows.pointer + r * d).update(from: embeddings.pointer + i * d, count: d) }
            for (i, codes) in zip(pending, try quantiser.quantise(rows)) { newCodes[i] = codes }
        } else {
            try quantiser.checkInput(embeddings)
        }
        return try extend(existing: existing, itemIDs: itemIDs, newCodes: newCodes, layout: quantiser.layout)
    }

    /// `newCodes[i]`: quantised codes of `itemIDs[i]` for every item not in `existing`.
    static func extend(existing: IDTable?, itemIDs: [String], newCodes: [Int: [Int]], layout: SemanticCodeLayout) throws -> IDTable {
        try layout.validate()
        var ids = [String?](repeating: nil, count: itemIDs.count)
        var used: [[Int]: Set<Int>] = [:]
        if let existing {
            let index = Dictionary(itemIDs.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            for (item, id) in zip(existing.itemIDs, existing.textualIDs) {
                guard let i = index[item] else {
                    throw IDGenError.invalid("existing ID table lists item \(item), which is not in the catalog")
                }
                guard let codes = layout.codes(of: id) else {
                    throw IDGenError.invalid("existing ID table: item \(item) has ID '\(id)', not a semantic ID of this layout (\(layout.totalLevels) levels, \(layout.codebookSize) codes; a textual table?)")
                }
                ids[i] = id
                used[Array(codes.prefix(layout.levels)), default: []].insert(layout.disambiguationSize > 0 ? codes[layout.levels] : 0)
            }
        }
        for i in itemIDs.indices where ids[i] == nil {
            guard let codes = newCodes[i], codes.count == layout.levels else {
                throw IDGenError.invalid("semantic IDs: no quantised codes for item \(itemIDs[i])")
            }
            var taken = used[codes, default: []]
            var free = 0
            while taken.contains(free) { free += 1 }
            let limit = max(layout.disambiguationSize, 1)
            guard free < limit else {
                let hint = layout.disambiguationSize == 0
                    ? "the layout has no collision level"
                    : "only \(layout.disambiguationSize) collision codes"
                throw IDGenError.invalid("semantic IDs: more than \(limit) items share the codes \(codes) (item \(itemIDs[i])); \(hint) — raise the codebook size or levels")
            }
            taken.insert(free)
            used[codes] = taken
            ids[i] = try layout.id(codes: layout.disambiguationSize > 0 ? codes + [free] : codes)
        }
        return try IDTable(itemIDs: itemIDs, textualIDs: ids.map { $0! })
    }
}
