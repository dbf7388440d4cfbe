// Generation settings, named and coded as Hugging Face `GenerationConfig` fields
// (generation_config.json keys), so a configuration can be checked against HF line by line.

/// HF `early_stopping`: when a beam search over one input (one group) stops.
public enum EarlyStopping: Equatable, Sendable, Codable {
    /// HF `False` (the default): stop when the best running candidate, divided by the *current*
    /// length to the power `length_penalty`, cannot beat the worst kept hypothesis (a heuristic).
    case heuristic
    /// HF `True`: stop as soon as `num_beams` (per group) hypotheses are finished.
    case whenFull
    /// HF `"never"`: stop only when no better hypothesis is possible (canonical beam search).
    case never

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let flag = try? c.decode(Bool.self) {
            self = flag ? .whenFull : .heuristic
        } else {
            let text = try c.decode(String.self)
            guard text == "never" else {
                throw DecodingError.invalidConfig(field: "early_stopping", message: "expected true, false or \"never\", got \"\(text)\"")
            }
            self = .never
        }
    }

    public func encode(to encoder: any Swift.Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .heuristic: try c.encode(false)
        case .whenFull: try c.encode(true)
        case .never: try c.encode("never")
        }
    }
}

/// What to generate. Defaults are Hugging Face 4.46 defaults for a T5 (pad 0, eos 1, decoder
/// start 0). `numBeams == 1` is greedy search; `numBeamGroups > 1` is diverse (group) beam search.
public struct GenerationConfig: Equatable, Sendable, Codable {
    /// HF `max_new_tokens`: at most this many tokens after the decoder start token (eos included).
    public var maxNewTokens: Int
    /// HF `min_new_tokens`: eos is forbidden while fewer tokens than this were generated.
    /// (HF `min_length` counts the decoder start token: `min_length = L` is `minNewTokens = L - 1`.)
    public var minNewTokens: Int
    public var numBeams: Int
    public var numBeamGroups: Int
    /// HF `diversity_penalty` (Hamming): subtracted per occurrence of a token chosen at the same step
    /// by earlier groups of the same input. HF refuses 0 with groups > 1; here 0 is allowed.
    public var diversityPenalty: Double
    /// HF `length_penalty`: hypothesis score = sum of log-probabilities / (generated length ^ this),
    /// generated length counting the eos token and not the decoder start token.
    public var lengthPenalty: Double
    public var earlyStopping: EarlyStopping
    public var numReturnSequences: Int
    public var eosTokenId: Int32
    public var padTokenId: Int32
    public var decoderStartTokenId: Int32

    public init(
        maxNewTokens: Int, minNewTokens: Int = 0, numBeams: Int = 1, numBeamGroups: Int = 1,
        diversityPenalty: Double = 0, lengthPenalty: Double = 1, earlyStopping: EarlyStopping = .heuristic,
        numReturnSequences: Int = 1, eosTokenId: Int32 = 1, padTokenId: Int32 = 0, decoderStartTokenId: Int32 = 0
    ) {
        self.maxNewTokens = maxNewTokens
        self.minNewTokens = minNewTokens
        self.numBeams = numBeams
        self.numBeamGroups = numBeamGroups
        self.diversityPenalty = diversityPenalty
        self.lengthPenalty = lengthPenalty
        self.earlyStopping = earlyStopping
        self.numReturnSequences = numReturnSequences
        self.eosTokenId = eosTokenId
        self.padTokenId = padTokenId
        self.decoderStartTokenId = decoderStartTokenId
    }

    enum CodingKeys: String, CodingKey {
        case maxNewTokens = "max_new_tokens", minNewTokens = "min_new_tokens", numBeams = "num_beams"
        case numBeamGroups = "num_beam_groups", diversityPenalty = "diversity_penalty"
        case lengthPenalty = "length_penalty", earlyStopping = "early_stopping"
        case numReturnSequences = "num_return_sequences", eosTokenId = "eos_token_id"
        case padTokenId = "pad_token_id", decoderStartTokenId = "decoder_start_token_id"
    }

    /// Missing keys take the defaults above; `max_new_tokens` is required.
    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = GenerationConfig(maxNewTokens: try c.decode(Int.self, forKey: .maxNewTokens))
        self = d
        minNewTokens = try c.decodeIfPresent(Int.self, forKey: .minNewTokens) ?? d.minNewTokens
        numBeams = try c.decodeIfPresent(Int.self, forKey: .numBeams) ?? d.numBeams
        numBeamGroups = try c.decodeIfPresent(Int.self, forKey: .numBeamGroups) ?? d.numBeamGroups
        diversityPenalty = try c.decodeIfPresent(Double.self, forKey: .diversityPenalty) ?? d.diversityPenalty
        lengthPenalty = try c.decodeIfPresent(Double.self, forKey: .lengthPenalty) ?? d.lengthPenalty
        earlyStopping = try c.decodeIfPresent(EarlyStopping.self, forKey: .earlyStopping) ?? d.earlyStopping
        numReturnSequences = try c.decodeIfPresent(Int.self, forKey: .numReturnSequences) ?? d.numReturnSequences
        eosTokenId = try c.decodeIfPresent(Int32.self, forKey: .eosTokenId) ?? d.eosTokenId
        padTokenId = try c.decodeIfPresent(Int32.self, forKey: .padTokenId) ?? d.padTokenId
        decoderStartTokenId = try c.decodeIfPresent(Int32.self, forKey: .decoderStartTokenId) ?? d.decoderStartTokenId
    }

    /// Checks the ranges HF checks (`GenerationConfig.validate`, `BeamSearchScorer.__init__`).
    public func validate() throws {
        func bad(_ field: String, _ message: String) -> DecodingError { .invalidConfig(field: field, message: message) }
        guard maxNewTokens >= 1 else { throw bad("max_new_tokens", "must be at least 1, got \(maxNewTokens)") }
        guard minNewTokens >= 0 else { throw bad("min_new_tokens", "must be at least 0, got \(minNewTokens)") }
        guard numBeams >= 1 else { throw bad("num_beams", "must be at least 1, got \(numBeams)") }
        guard numBeamGroups >= 1, numBeamGroups <= numBeams, numBeams % numBeamGroups == 0 else {
            throw bad("num_beam_groups", "must divide num_beams = \(numBeams), got \(numBeamGroups)")
        }
        guard numReturnSequences >= 1, numReturnSequences <= numBeams else {
            throw bad("num_return_sequences", "must be in 1...num_beams = \(numBeams), got \(numReturnSequences)")
        }
        guard diversityPenalty.isFinite, diversityPenalty >= 0 else {
            throw bad("diversity_penalty", "must be finite and >= 0, got \(diversityPenalty)")
        }
        guard lengthPenalty.isFinite else { throw bad("length_penalty", "must be finite, got \(lengthPenalty)") }
        for (name, id) in [("eos_token_id", eosTokenId), ("pad_token_id", padTokenId), ("decoder_start_token_id", decoderStartTokenId)] where id < 0 {
            throw bad(name, "must be >= 0, got \(id)")
        }
    }
}

/// One generated sequence.
public struct GeneratedSequence: Equatable, Sendable {
    /// Generated tokens without the decoder start token; ends with eos when the hypothesis finished
    /// with eos (HF appends it in `finalize`), and has `maxNewTokens` tokens otherwise. No padding.
    public var tokens: [Int32]
    /// Beam search: HF `sequences_scores` (sum of log-probabilities / length ^ length_penalty, as
    /// Float). Greedy: the sum of the chosen tokens' log-probabilities (HF has no such score).
    public var score: Float
    /// True when the hypothesis exists only because HF's search always fills its beams: it
    /// descends from one of the initial beams that start at -1e9 (HF's trick to make the first
    /// step pick distinct tokens), or took a token scored -inf (forbidden by the constraint or the
    /// minimum length). HF returns such sequences too (with scores near -1e9 or -inf); they occur
    /// only when fewer real candidates than beams exist, e.g. under a small trie. Callers that want
    /// real candidates only use `GenerationResult.realSequences`.
    public var isFiller: Bool

    public init(tokens: [Int32], score: Float, isFiller: Bool) {
        self.tokens = tokens
        self.score = score
        self.isFiller = isFiller
    }
}

/// The output for one input: `numReturnSequences` sequences, best first (HF order).
public struct GenerationResult: Equatable, Sendable {
    public var sequences: [GeneratedSequence]
    public init(sequences: [GeneratedSequence]) { self.sequences = sequences }
    /// The sequences that are not fillers, in the same order.
    public var realSequences: [GeneratedSequence] { sequences.filter { !$0.isFiller } }
}
