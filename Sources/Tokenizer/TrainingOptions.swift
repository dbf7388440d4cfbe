import Foundation

/// Options for training a SentencePiece model. Defaults follow T5's vocabulary layout: pad 0,
/// eos 1, unk 2, no bos, byte fallback so no input is ever unknown. Keys missing from a JSON
/// file take these defaults.
public struct TrainingOptions: Codable, Equatable, Sendable {
    public enum ModelType: String, Codable, Sendable {
        case unigram
        case bpe
    }

    public var modelType: ModelType = .unigram
    /// Final vocabulary size, including special ids, user-defined symbols and (with byte
    /// fallback) the 256 byte pieces `<0x00>`…`<0xFF>`.
    public var vocabularySize: Int = 8000
    /// Fraction of characters covered by the vocabulary (SentencePiece's default 0.9995; use
    /// 1.0 for small alphabets). Rarer characters become byte pieces (or unk without fallback).
    public var characterCoverage: Double = 0.9995
    /// Pieces kept whole wherever they appear in the text, e.g. field markers. Must not contain
    /// commas (the trainer takes them as one comma-separated flag).
    public var userDefinedSymbols: [String] = []
    /// Number of T5 sentinel pieces `<extra_id_0>`…`<extra_id_{n-1}>`, added as user-defined
    /// symbols before `userDefinedSymbols` (so with the T5 ids they get ids 3, 4, …).
    public var sentinelCount: Int = 0
    /// Unknown characters are spelled as UTF-8 byte pieces instead of `<unk>`.
    public var byteFallback: Bool = true
    public var padID: Int = 0
    public var eosID: Int = 1
    public var unkID: Int = 2
    /// -1: no begin-of-sentence piece (T5 has none).
    public var bosID: Int = -1
    public var numThreads: Int = 2
    /// Seed of the library's random generator (sentence sampling when `inputSentenceSize`
    /// limits the input). The same input and options give the same model.
    public var seed: UInt32 = 1
    /// Number of sentences sampled for training; 0 uses all.
    public var inputSentenceSize: Int = 0
    /// Sentences longer than this many bytes are skipped by the trainer.
    public var maxSentenceLength: Int = 4192
    /// SentencePiece normalization rule ("nmt_nfkc" is its default and T5's; "identity" keeps
    /// the text as is).
    public var normalizationRuleName: String = "nmt_nfkc"
    public var splitDigits: Bool = false

    public init() {}

    /// The sentinel pieces T5 uses for span corruption: `<extra_id_0>`, `<extra_id_1>`, ….
    public static func sentinelPieces(count: Int) -> [String] {
        (0 ..< max(0, count)).map { "<extra_id_\($0)>" }
    }

    /// User-defined symbols as the trainer receives them: sentinels, then `userDefinedSymbols`.
    public var allUserDefinedSymbols: [String] {
        Self.sentinelPieces(count: sentinelCount) + userDefinedSymbols
    }

    private enum CodingKeys: String, CodingKey {
        case modelType, vocabularySize, characterCoverage, userDefinedSymbols, sentinelCount
        case byteFallback, padID, eosID, unkID, bosID, numThreads, seed, inputSentenceSize
        case maxSentenceLength, normalizationRuleName, splitDigits
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainingOptions()
        modelType = try c.decodeIfPresent(ModelType.self, forKey: .modelType) ?? d.modelType
        vocabularySize = try c.decodeIfPresent(Int.self, forKey: .vocabularySize) ?? d.vocabularySize
        characterCoverage = try c.decodeIfPresent(Double.self, forKey: .characterCoverage) ?? d.characterCoverage
        userDefinedSymbols = try c.decodeIfPresent([String].self, forKey: .userDefinedSymbols) ?? d.userDefinedSymbols
        sentinelCount = try c.decodeIfPresent(Int.self, forKey: .sentinelCount) ?? d.sentinelCount
        byteFallback = try c.decodeIfPresent(Bool.self, forKey: .byteFallback) ?? d.byteFallback
        padID = try c.decodeIfPresent(Int.self, forKey: .padID) ?? d.padID
        eosID = try c.decodeIfPresent(Int.self, forKey: .eosID) ?? d.eosID
        unkID = try c.decodeIfPresent(Int.self, forKey: .unkID) ?? d.unkID
        bosID = try c.decodeIfPresent(Int.self, forKey: .bosID) ?? d.bosID
        numThreads = try c.decodeIfPresent(Int.self, forKey: .numThreads) ?? d.numThreads
        seed = try c.decodeIfPresent(UInt32.self, forKey: .seed) ?? d.seed
        inputSentenceSize = try c.decodeIfPresent(Int.self, forKey: .inputSentenceSize) ?? d.inputSentenceSize
        maxSentenceLength = try c.decodeIfPresent(Int.self, forKey: .maxSentenceLength) ?? d.maxSentenceLength
        normalizationRuleName = try c.decodeIfPresent(String.self, forKey: .normalizationRuleName) ?? d.normalizationRuleName
        splitDigits = try c.decodeIfPresent(Bool.self, forKey: .splitDigits) ?? d.splitDigits
    }

    /// Checks the options and returns the trainer flags (as `spm_train` spells them).
    func trainerFlags() throws -> [(key: String, value: String)] {
        func bad(_ key: CodingKeys, _ reason: String) -> TokenizerError {
            .invalidTrainingOption(key: key.rawValue, reason: reason)
        }
        guard vocabularySize > 0 else { throw bad(.vocabularySize, "must be positive, got \(vocabularySize)") }
        guard characterCoverage > 0, characterCoverage <= 1 else {
            throw bad(.characterCoverage, "must be in (0, 1], got \(characterCoverage)")
        }
        guard sentinelCount >= 0 else { throw bad(.sentinelCount, "must be ≥ 0, got \(sentinelCount)") }
        guard numThreads >= 1 else { throw bad(.numThreads, "must be ≥ 1, got \(numThreads)") }
        guard inputSentenceSize >= 0 else { throw bad(.inputSentenceSize, "must be ≥ 0, got \(inputSentenceSize)") }
        guard maxSentenceLength > 0 else { throw bad(.maxSentenceLength, "must be positive, got \(maxSentenceLength)") }
        // UInt32.max is reserved by the library for "seed from std::random_device".
        guard seed != UInt32.max else { throw bad(.seed, "\(UInt32.max) is reserved by SentencePiece for a random seed") }
        for symbol in userDefinedSymbols {
            if symbol.isEmpty { throw bad(.userDefinedSymbols, "contains an empty symbol") }
            if symbol.contains(",") {
                throw bad(.userDefinedSymbols, "\"\(symbol)\" contains a comma (the trainer splits symbols at commas)")
            }
        }
        let symbols = allUserDefinedSymbols
        if Set(symbols).count != symbols.count {
            throw bad(.userDefinedSymbols, "contains duplicates (sentinels included): \(symbols)")
        }
        let ids = [("padID", padID), ("eosID", eosID), ("unkID", unkID), ("bosID", bosID)]
        for (name, id) in ids where id < -1 || id >= vocabularySize {
            throw TokenizerError.invalidTrainingOption(key: name, reason: "must be -1 (none) or in [0, \(vocabularySize)), got \(id)")
        }
        guard unkID >= 0 else { throw bad(.unkID, "SentencePiece requires an unknown piece") }
        let used = ids.map(\.1).filter { $0 >= 0 }
        if Set(used).count != used.count {
            throw TokenizerError.invalidTrainingOption(key: "padID/eosID/unkID/bosID", reason: "ids must differ, got \(ids)")
        }

        var flags: [(key: String, value: String)] = [
            ("model_type", modelType.rawValue),
            ("vocab_size", String(vocabularySize)),
            ("character_coverage", String(characterCoverage)),
            ("byte_fallback", byteFallback ? "true" : "false"),
            ("pad_id", String(padID)),
            ("eos_id", String(eosID)),
            ("unk_id", String(unkID)),
            ("bos_id", String(bosID)),
            ("num_threads", String(numThreads)),
            ("input_sentence_size", String(inputSentenceSize)),
            ("max_sentence_length", String(maxSentenceLength)),
            ("normalization_rule_name", normalizationRuleName),
            ("split_digits", splitDigits ? "true" : "false"),
        ]
        if !symbols.isEmpty { flags.append(("user_defined_symbols", symbols.joined(separator: ","))) }
        return flags
    }
}
