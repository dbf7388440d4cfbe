import Foundation

/// Semantic IDs (TIGER): an item is named by a few codes, one per quantisation level, written as
/// readable tokens `<a_17><b_203><c_5><d_0>` — level letter, underscore, code. The last level
/// (`d` with the default three quantised levels) separates items whose quantised codes collide.
///
/// The layout is what every consumer needs to agree on: `ids generate --scheme semantic` writes
/// tables in it, and the recommender adds every token of the layout (not only those the table
/// uses) to its vocabulary as whole pieces, so items coded later by the same quantiser always
/// have their tokens.
public struct SemanticCodeLayout: Codable, Sendable, Equatable {
    /// Quantised levels (TIGER: 3).
    public var levels: Int
    /// Codes per quantised level (TIGER: 256).
    public var codebookSize: Int
    /// Codes of the collision level that follows the quantised ones (0 = no such level).
    public var disambiguationSize: Int

    public init(levels: Int = 3, codebookSize: Int = 256, disambiguationSize: Int = 256) {
        self.levels = levels
        self.codebookSize = codebookSize
        self.disambiguationSize = disambiguationSize
    }

    /// Levels written per item: the quantised ones plus the collision level when it exists.
    public var totalLevels: Int { levels + (disambiguationSize > 0 ? 1 : 0) }

    /// Codes a level allows.
    public func size(ofLevel level: Int) -> Int { level < levels ? codebookSize : disambiguationSize }

    public func validate() throws {
        guard levels >= 1, levels <= 25 else { throw IDGenError.invalid("semantic codes: levels must be 1…25, not \(levels)") }
        guard codebookSize >= 2 else { throw IDGenError.invalid("semantic codes: codebook size must be at least 2, not \(codebookSize)") }
        guard disambiguationSize >= 0 else { throw IDGenError.invalid("semantic codes: collision codes must be ≥ 0, not \(disambiguationSize)") }
    }

    /// `<a_17>` for level 0, code 17.
    public static func token(level: Int, code: Int) -> String {
        "<\(letter(level))_\(code)>"
    }

    /// The ID of one item: its codes as tokens, concatenated without spaces.
    public func id(codes: [Int]) throws -> String {
        guard codes.count == totalLevels else {
            throw IDGenError.invalid("semantic codes: \(codes.count) codes given, the layout has \(totalLevels) levels")
        }
        for (level, code) in codes.enumerated() where code < 0 || code >= size(ofLevel: level) {
            throw IDGenError.invalid("semantic codes: code \(code) at level \(Self.letter(level)) is outside 0..<\(size(ofLevel: level))")
        }
        return codes.enumerated().map { Self.token(level: $0.offset, code: $0.element) }.joined()
    }

    /// The codes of an ID written in this layout, or nil when `id` is not one.
    public func codes(of id: String) -> [Int]? {
        guard let codes = Self.parse(id), codes.count == totalLevels else { return nil }
        for (level, code) in codes.enumerated() where code >= size(ofLevel: level) { return nil }
        return codes
    }

    /// Codes of `<a_17><b_203>…` (levels in order from `a`, nothing else), or nil.
    public static func parse(_ id: String) -> [Int]? {
        var codes: [Int] = []
        var rest = Substring(id)
        while !rest.isEmpty {
            guard rest.first == "<", let close = rest.firstIndex(of: ">") else { return nil }
            let body = rest[rest.index(after: rest.startIndex) ..< close]
            let expected = "\(letter(codes.count))_"
            guard body.hasPrefix(expected), let code = Int(body.dropFirst(expected.count)), code >= 0,
                  String(code) == String(body.dropFirst(expected.count)) else { return nil }
            codes.append(code)
            rest = rest[rest.index(after: close)...]
        }
        return codes.isEmpty ? nil : codes
    }

    /// Every token of the layout, level by level: what the recommender's vocabulary adds.
    public var allTokens: [String] {
        (0 ..< totalLevels).flatMap { level in (0 ..< size(ofLevel: level)).map { Self.token(level: level, code: $0) } }
    }

    /// a, b, …, z for levels 0…25.
    public static func letter(_ level: Int) -> String {
        precondition(level >= 0 && level < 26, "semantic code level \(level) out of range")
        return String(UnicodeScalar(UInt8(97 + level)))
    }
}
