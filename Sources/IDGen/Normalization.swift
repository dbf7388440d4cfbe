import Foundation

/// How letter case is treated in textual IDs. The original kept case, so `Dove` and `dove`
/// were different IDs (METHOD.md §2); we fold by default.
public enum CaseHandling: String, Codable, Sendable {
    case fold
    case keep
}

/// Turns a decoded candidate into an ID: word characters are kept, everything else separates
/// words, and words are joined by single spaces. Punctuation *between* letters (e.g. the
/// hyphen in `anti-age`) becomes a space rather than gluing the words together, so the ID
/// stays readable.
public struct IDNormalizer: Codable, Sendable, Equatable {
    public var caseHandling: CaseHandling
    /// Words kept at most (extra words are cut; 0 means no limit).
    public var maximumWords: Int
    /// Drop a word that already occurs earlier in the same ID (on by default: a generator that
    /// loops writes `grinder compact compact compact`, which is neither short nor readable).
    public var noRepeatedWords: Bool

    public init(caseHandling: CaseHandling = .fold, maximumWords: Int = 0, noRepeatedWords: Bool = true) {
        self.caseHandling = caseHandling
        self.maximumWords = maximumWords
        self.noRepeatedWords = noRepeatedWords
    }

    /// The words of `text`, split on anything that is not a letter, digit or combining mark.
    public static func words(_ text: String, fold: Bool) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() {
            if !current.isEmpty {
                let word = String(current)
                words.append(fold ? word.lowercased() : word)
                current.removeAll(keepingCapacity: true)
            }
        }
        for scalar in text.unicodeScalars {
            let p = scalar.properties
            if p.isAlphabetic || p.numericType != nil || p.generalCategory == .nonspacingMark || p.generalCategory == .spacingMark {
                current.append(scalar)
            } else {
                flush()
            }
        }
        flush()
        return words
    }

    public func normalize(_ text: String) -> String {
        var words = Self.words(text, fold: caseHandling == .fold)
        if noRepeatedWords {
            var seen = Set<String>()
            words = words.filter { seen.insert($0).inserted }
        }
        if maximumWords > 0, words.count > maximumWords { words = Array(words.prefix(maximumWords)) }
        return words.joined(separator: " ")
    }
}
