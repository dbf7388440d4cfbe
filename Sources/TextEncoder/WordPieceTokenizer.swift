import Foundation

/// The BERT WordPiece tokenizer of a Hugging Face `tokenizer.json`, with the semantics of the
/// Rust `tokenizers` library (0.20): special tokens matched in the raw text, BertNormalizer
/// (clean_text, handle_chinese_chars, strip_accents, lowercase), BertPreTokenizer (whitespace and
/// punctuation), WordPiece (greedy longest match, `##` continuations, [UNK] for a word with an
/// unknown piece or more than `max_input_chars_per_word` characters), the post-processor's
/// `[CLS] … [SEP]` template, and truncation so the whole sequence fits `maxLength`.
///
/// Code point classes come from `BertUnicodeTables` (measured on `tokenizers` itself), not from
/// Swift's Unicode properties: the Rust library's tables are from an older Unicode version.
/// Tokens are compared as UTF-8 bytes, never as Swift `String`s, which compare canonically
/// equivalent strings as equal ("é" == "e\u{301}") where `tokenizers` does not.
public struct WordPieceTokenizer: Sendable {
    public struct Normalizer: Sendable, Equatable {
        public var cleanText: Bool
        public var handleChineseChars: Bool
        public var stripAccents: Bool
        public var lowercase: Bool
    }

    public let normalizer: Normalizer?
    /// Token ids by UTF-8 bytes of the token.
    let vocabulary: [[UInt8]: Int32]
    /// Tokens by id (for inspection and tests).
    public let tokens: [String]
    public let unknownID: Int32
    let continuingPrefix: [UInt8]
    public let maxInputCharsPerWord: Int
    /// Added tokens matched in the raw text before normalisation (longest first), with their
    /// lstrip/rstrip flags.
    let addedTokens: [(scalars: [Unicode.Scalar], id: Int32, lstrip: Bool, rstrip: Bool)]
    /// Ids put before and after the text by the post-processor (`[CLS]` and `[SEP]` for BERT).
    public let prefixIDs: [Int32]
    public let suffixIDs: [Int32]
    /// Longest output, special tokens included (the model's `max_seq_length`).
    public var maxLength: Int

    public var vocabularySize: Int { tokens.count }

    /// Reads `tokenizer.json`; `maxLength` is the sentence-transformers `max_seq_length`.
    public init(url: URL, maxLength: Int) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { throw EncoderError.missingFile(path: url.path) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw EncoderError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        try self.init(json: data, path: url.path, maxLength: maxLength)
    }

    public init(json: Data, path: String, maxLength: Int) throws {
        let file: TokenizerJSON
        do { file = try JSONDecoder().decode(TokenizerJSON.self, from: json) } catch {
            throw EncoderError.badField(file: path, field: Self.codingPath(error), expected: "a Hugging Face tokenizer.json",
                                        found: "\(error)")
        }
        guard maxLength >= 2 else {
            throw EncoderError.badField(file: path, field: "max_length", expected: "at least 2", found: "\(maxLength)")
        }
        self.maxLength = maxLength

        // Model: WordPiece.
        let model = file.model
        guard model.type == "WordPiece" else {
            throw EncoderError.unsupported(file: path, what: "model.type '\(model.type ?? "none")' (only WordPiece)")
        }
        var tokens = [String](repeating: "", count: model.vocab.count)
        var vocabulary: [[UInt8]: Int32] = [:]
        for (token, id) in model.vocab {
            guard id >= 0, id < tokens.count, tokens[id].isEmpty else {
                throw EncoderError.badField(file: path, field: "model.vocab", expected: "ids 0..<\(tokens.count), each once",
                                            found: "'\(token)': \(id)")
            }
            tokens[id] = token
            vocabulary[Array(token.utf8)] = Int32(id)
        }
        // A JSON object decoded into a Swift dictionary merges canonically equivalent keys: the
        // count check above (every id exactly once) would then fail on a missing id.
        if let hole = tokens.firstIndex(where: \.isEmpty) {
            throw EncoderError.badField(file: path, field: "model.vocab", expected: "ids 0..<\(tokens.count), each once",
                                        found: "no token with id \(hole) (canonically equivalent tokens are not supported)")
        }
        self.tokens = tokens
        self.vocabulary = vocabulary
        let unk = model.unk_token ?? "[UNK]"
        guard let unkID = vocabulary[Array(unk.utf8)] else {
            throw EncoderError.badField(file: path, field: "model.unk_token", expected: "a token of model.vocab", found: "'\(unk)'")
        }
        unknownID = unkID
        continuingPrefix = Array((model.continuing_subword_prefix ?? "##").utf8)
        maxInputCharsPerWord = model.max_input_chars_per_word ?? 100

        // Normaliser: BertNormalizer or none.
        if let n = file.normalizer {
            guard n.type == "BertNormalizer" else {
                throw EncoderError.unsupported(file: path, what: "normalizer.type '\(n.type)' (only BertNormalizer or null)")
            }
            let lowercase = n.lowercase ?? true
            // tokenizers: strip_accents null follows lowercase.
            normalizer = Normalizer(cleanText: n.clean_text ?? true, handleChineseChars: n.handle_chinese_chars ?? true,
                                    stripAccents: n.strip_accents ?? lowercase, lowercase: lowercase)
        } else {
            normalizer = nil
        }
        if let p = file.pre_tokenizer, p.type != "BertPreTokenizer" {
            throw EncoderError.unsupported(file: path, what: "pre_tokenizer.type '\(p.type)' (only BertPreTokenizer)")
        }
        guard file.pre_tokenizer != nil else {
            throw EncoderError.unsupported(file: path, what: "pre_tokenizer null (only BertPreTokenizer)")
        }

        // Added tokens, matched longest first in the raw text (tokenizers' AddedVocabulary).
        var added: [(scalars: [Unicode.Scalar], id: Int32, lstrip: Bool, rstrip: Bool)] = []
        for token in file.added_tokens ?? [] where !token.content.isEmpty {
            if token.normalized == true && !token.special {
                throw EncoderError.unsupported(file: path, what: "added token '\(token.content)' with normalized: true")
            }
            if token.single_word == true {
                throw EncoderError.unsupported(file: path, what: "added token '\(token.content)' with single_word: true")
            }
            added.append((Array(token.content.unicodeScalars), Int32(token.id), token.lstrip ?? false, token.rstrip ?? false))
        }
        addedTokens = added.sorted { $0.scalars.count > $1.scalars.count }

        // Post-processor: the single-sequence template.
        func id(of special: String, field: String) throws -> Int32 {
            if let ids = file.post_processor?.special_tokens?[special]?.ids, ids.count == 1 { return Int32(ids[0]) }
            guard let id = vocabulary[Array(special.utf8)] else {
                throw EncoderError.badField(file: path, field: field, expected: "a token of model.vocab", found: "'\(special)'")
            }
            return id
        }
        var prefix: [Int32] = [], suffix: [Int32] = []
        switch file.post_processor?.type {
        case "TemplateProcessing":
            guard let single = file.post_processor?.single else {
                throw EncoderError.badField(file: path, field: "post_processor.single", expected: "a template", found: "none")
            }
            var seenSequence = false
            for piece in single {
                if let special = piece.SpecialToken {
                    let ids: [Int32]
                    if let listed = file.post_processor?.special_tokens?[special.id]?.ids {
                        ids = listed.map { Int32($0) }
                    } else {
                        ids = [try id(of: special.id, field: "post_processor.single")]
                    }
                    if seenSequence { suffix += ids } else { prefix += ids }
                } else if piece.Sequence != nil {
                    seenSequence = true
                }
            }
        case "BertProcessing":
            guard let cls = file.post_processor?.cls, let sep = file.post_processor?.sep else {
                throw EncoderError.badField(file: path, field: "post_processor", expected: "cls and sep", found: "none")
            }
            prefix = [Int32(cls.id)]
            suffix = [Int32(sep.id)]
        case nil:
            break
        case let other?:
            throw EncoderError.unsupported(file: path, what: "post_processor.type '\(other)' (TemplateProcessing, BertProcessing or null)")
        }
        prefixIDs = prefix
        suffixIDs = suffix
        guard prefix.count + suffix.count < maxLength else {
            throw EncoderError.badField(file: path, field: "post_processor", expected: "fewer special tokens than max_length \(maxLength)",
                                        found: "\(prefix.count + suffix.count)")
        }
    }

    private static func codingPath(_ error: Error) -> String {
        switch error as? DecodingError {
        case let .keyNotFound(key, context)?: return (context.codingPath + [key]).map(\.stringValue).joined(separator: ".")
        case let .typeMismatch(_, context)?, let .valueNotFound(_, context)?, let .dataCorrupted(context)?:
            return context.codingPath.map(\.stringValue).joined(separator: ".")
        default: return "(root)"
        }
    }

    // MARK: encoding

    /// Token ids of `text`: template prefix, the word pieces (cut so the total fits `maxLength`),
    /// template suffix.
    public func encode(_ text: String) -> [Int32] {
        let budget = maxLength - prefixIDs.count - suffixIDs.count
        var ids: [Int32] = []
        ids.reserveCapacity(min(budget, text.utf8.count / 2 + 4))
        for segment in splitAddedTokens(Array(text.unicodeScalars)) {
            switch segment {
            case let .added(id): ids.append(id)
            case let .text(scalars):
                for word in preTokenize(normalize(scalars)) {
                    wordPiece(word, into: &ids)
                    if ids.count >= budget { break }
                }
            }
            if ids.count >= budget { break }
        }
        if ids.count > budget { ids.removeLast(ids.count - budget) }
        return prefixIDs + ids + suffixIDs
    }

    /// The token strings of `encode(text)` (for inspection).
    public func tokenize(_ text: String) -> [String] { encode(text).map { tokens[Int($0)] } }

    enum Segment: Equatable {
        case text([Unicode.Scalar])
        case added(Int32)
    }

    /// Splits out added (special) tokens, longest match first at each position.
    func splitAddedTokens(_ scalars: [Unicode.Scalar]) -> [Segment] {
        if addedTokens.isEmpty { return [.text(scalars)] }
        var out: [Segment] = []
        var current: [Unicode.Scalar] = []
        var i = 0
        let n = scalars.count
        while i < n {
            var matched: (count: Int, id: Int32, lstrip: Bool, rstrip: Bool)?
            for token in addedTokens where token.scalars.first == scalars[i] && i + token.scalars.count <= n {
                if scalars[i ..< i + token.scalars.count].elementsEqual(token.scalars) {
                    matched = (token.scalars.count, token.id, token.lstrip, token.rstrip)
                    break
                }
            }
            guard let m = matched else {
                current.append(scalars[i])
                i += 1
                continue
            }
            if m.lstrip { while let last = current.last, last.properties.isWhitespace { current.removeLast() } }
            if !current.isEmpty { out.append(.text(current)) }
            current = []
            out.append(.added(m.id))
            i += m.count
            if m.rstrip { while i < n, scalars[i].properties.isWhitespace { i += 1 } }
        }
        if !current.isEmpty { out.append(.text(current)) }
        return out
    }

    /// BertNormalizer: clean_text, then CJK characters spaced out, then NFD without
    /// non-spacing marks, then lowercase (per character, as Rust's `char::to_lowercase`, from
    /// the measured table: Swift's own mapping knows newer characters than tokenizers does).
    func normalize(_ input: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard let normalizer else { return input }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(input.count + 8)
        var ascii = true
        for s in input {
            let v = s.value
            if normalizer.cleanText {
                if v < 0x80 {
                    if v == 0x09 || v == 0x0A || v == 0x0D { out.append(" "); continue }
                    if v < 0x20 || v == 0x7F { continue }
                } else {
                    if BertUnicodeTables.contains(BertUnicodeTables.removed, v) { continue }
                    if BertUnicodeTables.contains(BertUnicodeTables.whitespace, v) { out.append(" "); continue }
                }
            }
            if v >= 0x80 { ascii = false }
            if normalizer.handleChineseChars && Self.isChineseChar(v) {
                out.append(" "); out.append(s); out.append(" ")
            } else {
                out.append(s)
            }
        }
        if normalizer.stripAccents && !ascii {
            out = Self.nfd(out).filter { $0.value < 0x300 || !BertUnicodeTables.contains(BertUnicodeTables.nonspacingMarks, $0.value) }
        }
        if normalizer.lowercase {
            var lowered: [Unicode.Scalar] = []
            lowered.reserveCapacity(out.count)
            for s in out {
                if s.value < 0x80 {
                    lowered.append(s.value >= 0x41 && s.value <= 0x5A ? Unicode.Scalar(s.value + 32)! : s)
                } else if let mapped = BertUnicodeTables.lowercase[s.value] {
                    lowered.append(contentsOf: mapped)
                } else {
                    lowered.append(s)
                }
            }
            out = lowered
        }
        return out
    }

    /// NFD as tokenizers computes it: the characters its tables know to decompose are decomposed
    /// (Foundation supplies the decomposition: mappings never change once assigned), then each
    /// run of marks is stably sorted by the combining classes it knows.
    static func nfd(_ input: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(input.count + 4)
        for s in input {
            if s.value >= 0x80 && BertUnicodeTables.contains(BertUnicodeTables.decomposable, s.value) {
                out.append(contentsOf: String(Character(s)).decomposedStringWithCanonicalMapping.unicodeScalars)
            } else {
                out.append(s)
            }
        }
        var i = 0
        while i < out.count {
            guard BertUnicodeTables.combiningClass[out[i].value] != nil else { i += 1; continue }
            var j = i + 1
            while j < out.count, BertUnicodeTables.combiningClass[out[j].value] != nil { j += 1 }
            if j - i > 1 {
                // Stable: equal classes keep their order (canonical ordering).
                let run = out[i ..< j].enumerated().sorted {
                    let a = BertUnicodeTables.combiningClass[$0.element.value]!, b = BertUnicodeTables.combiningClass[$1.element.value]!
                    return a != b ? a < b : $0.offset < $1.offset
                }
                out.replaceSubrange(i ..< j, with: run.map(\.element))
            }
            i = j
        }
        return out
    }

    /// tokenizers' `is_chinese_char` (the CJK Unified Ideographs blocks, with its 0x2B920 start).
    static func isChineseChar(_ v: UInt32) -> Bool {
        switch v {
        case 0x4E00 ... 0x9FFF, 0x3400 ... 0x4DBF, 0x20000 ... 0x2A6DF, 0x2A700 ... 0x2B73F, 0x2B740 ... 0x2B81F,
             0x2B920 ... 0x2CEAF, 0xF900 ... 0xFAFF, 0x2F800 ... 0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// BertPreTokenizer: split on whitespace (dropped), then on punctuation (kept, one per word).
    func preTokenize(_ scalars: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var words: [ArraySlice<Unicode.Scalar>] = []
        var start = 0
        for (i, s) in scalars.enumerated() {
            let v = s.value
            if v == 0x20 || (v < 0x80 ? (v >= 0x09 && v <= 0x0D) : s.properties.isWhitespace) {
                if start < i { words.append(scalars[start ..< i]) }
                start = i + 1
            } else if BertUnicodeTables.isPunctuation(v) {
                if start < i { words.append(scalars[start ..< i]) }
                words.append(scalars[i ... i])
                start = i + 1
            }
        }
        if start < scalars.count { words.append(scalars[start...]) }
        return words
    }

    /// WordPiece: greedy longest match from the left; one unmatched piece makes the whole word [UNK].
    func wordPiece(_ word: ArraySlice<Unicode.Scalar>, into ids: inout [Int32]) {
        if word.count > maxInputCharsPerWord { ids.append(unknownID); return }
        // UTF-8 offset of every scalar boundary, so pieces are byte ranges.
        var bytes: [UInt8] = []
        var offsets: [Int] = [0]
        for s in word {
            var buffer: [UInt8] = []
            UTF8.encode(s) { buffer.append($0) }
            bytes += buffer
            offsets.append(bytes.count)
        }
        let mark = ids.count
        var start = 0
        let n = word.count
        var key: [UInt8] = []
        while start < n {
            var end = n
            var found: Int32?
            while start < end {
                key.removeAll(keepingCapacity: true)
                if start > 0 { key += continuingPrefix }
                key += bytes[offsets[start] ..< offsets[end]]
                if let id = vocabulary[key] { found = id; break }
                end -= 1
            }
            guard let id = found else {
                ids.removeLast(ids.count - mark)
                ids.append(unknownID)
                return
            }
            ids.append(id)
            start = end
        }
    }
}

extension BertUnicodeTables {
    /// Binary search in sorted, disjoint ranges.
    @inline(__always)
    static func contains(_ table: [ClosedRange<UInt32>], _ v: UInt32) -> Bool {
        var lo = 0, hi = table.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if table[mid].upperBound < v { lo = mid + 1 } else { hi = mid }
        }
        return lo < table.count && table[lo].contains(v)
    }

    static func isPunctuation(_ v: UInt32) -> Bool {
        if v < 0x80 { return asciiPunctuation[Int(v)] }
        return contains(punctuation, v)
    }

    /// `combiningClassFlat` as a map (absent: class 0).
    static let combiningClass: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for i in stride(from: 0, to: combiningClassFlat.count, by: 2) { map[combiningClassFlat[i]] = UInt8(combiningClassFlat[i + 1]) }
        return map
    }()

    /// `lowercaseFlat` as a map.
    static let lowercase: [UInt32: [Unicode.Scalar]] = {
        var map: [UInt32: [Unicode.Scalar]] = [:]
        var i = 0
        while i < lowercaseFlat.count {
            let n = Int(lowercaseFlat[i + 1])
            map[lowercaseFlat[i]] = lowercaseFlat[i + 2 ..< i + 2 + n].map { Unicode.Scalar($0)! }
            i += 2 + n
        }
        return map
    }()

    private static let asciiPunctuation: [Bool] = (0 ..< 128).map { contains(punctuation, UInt32($0)) }
}

// MARK: tokenizer.json, the parts read

struct TokenizerJSON: Decodable {
    struct Model: Decodable {
        var type: String?
        var vocab: [String: Int]
        var unk_token: String?
        var continuing_subword_prefix: String?
        var max_input_chars_per_word: Int?
    }

    struct Normalizer: Decodable {
        var type: String
        var clean_text: Bool?
        var handle_chinese_chars: Bool?
        var strip_accents: Bool?
        var lowercase: Bool?
    }

    struct PreTokenizer: Decodable { var type: String }

    struct AddedToken: Decodable {
        var id: Int
        var content: String
        var special: Bool
        var single_word: Bool?
        var lstrip: Bool?
        var rstrip: Bool?
        var normalized: Bool?
    }

    struct PostProcessor: Decodable {
        struct Special: Decodable { var id: String }
        struct Sequence: Decodable { var id: String }
        struct Piece: Decodable {
            var SpecialToken: Special?
            var Sequence: Sequence?
        }

        struct SpecialIDs: Decodable { var ids: [Int] }
        struct TokenAndID: Decodable {
            var token: String
            var id: Int
            init(from decoder: Decoder) throws {
                // BertProcessing writes ["[SEP]", 102].
                var c = try decoder.unkeyedContainer()
                token = try c.decode(String.self)
                id = try c.decode(Int.self)
            }
        }

        var type: String
        var single: [Piece]?
        var special_tokens: [String: SpecialIDs]?
        var cls: TokenAndID?
        var sep: TokenAndID?
    }

    var model: Model
    var normalizer: Normalizer?
    var pre_tokenizer: PreTokenizer?
    var post_processor: PostProcessor?
    var added_tokens: [AddedToken]?
}
