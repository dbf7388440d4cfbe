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
        // ASCII letters and digits take a byte-level fast path (Unicode's Alphabetic and
        // Numeric in ASCII are exactly [A-Za-z0-9]; no ASCII mark); other scalars go through
        // their Unicode properties. Words are collected as UTF-8 bytes: appending scalars to a
        // String cost 20% of a zero-shot run on Office's long descriptions.
        var words: [String] = []
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var ascii = true
        func flush() {
            if !bytes.isEmpty {
                let word = String(decoding: bytes, as: UTF8.self)
                words.append(fold && !ascii ? word.lowercased() : word)
                bytes.removeAll(keepingCapacity: true)
                ascii = true
            }
        }
        for scalar in text.unicodeScalars {
            let v = scalar.value
            if v < 0x80 {
                let b = UInt8(v)
                if (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) {
                    bytes.append(b)
                } else if b >= 0x41 && b <= 0x5A {
                    bytes.append(fold ? b + 0x20 : b)
                } else {
                    flush()
                }
                continue
            }
            let p = scalar.properties
            if p.isAlphabetic || p.numericType != nil || p.generalCategory == .nonspacingMark || p.generalCategory == .spacingMark {
                ascii = false
                UTF8.encode(scalar) { bytes.append($0) }
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
