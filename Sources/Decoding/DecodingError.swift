/// Errors of the Decoding module. Messages name the offending value and what was expected.
public enum DecodingError: Error, Equatable, CustomStringConvertible {
    /// A `GenerationConfig` field is out of range.
    case invalidConfig(field: String, message: String)
    /// The scorer returned an array of the wrong size.
    case scorerOutputSize(step: Int, expected: Int, actual: Int)
    /// A scorer returned a normaliser count different from its row count.
    case scorerNormalizerCount(step: Int, rows: Int, actual: Int)
    /// A constraint returned a token outside `0 ..< vocabularySize`.
    case allowedTokenOutOfRange(batchIndex: Int, token: Int32, vocabularySize: Int)
    /// A constraint allowed no token for a real (non-filler) hypothesis.
    case noAllowedToken(batchIndex: Int, prefix: [Int32])
    /// Prefix trie input: a sequence is empty.
    case emptySequence(index: Int)
    /// Prefix trie input: a sequence does not end with the end-of-sequence token.
    case missingEndOfSequence(index: Int, tokens: [Int32])
    /// Prefix trie input: end-of-sequence appears before the last position.
    case endOfSequenceInside(index: Int, position: Int)
    /// Prefix trie input: a negative token id.
    case negativeToken(index: Int, position: Int, token: Int32)
    /// Prefix trie input: two (or more) sequences are identical. `firstIndex < secondIndex` is
    /// the first such pair in index order; `duplicateCount` counts all sequences that repeat an
    /// earlier one.
    case duplicateSequence(firstIndex: Int, secondIndex: Int, tokens: [Int32], duplicateCount: Int)

    public var description: String {
        switch self {
        case let .invalidConfig(field, message):
            return "generation config: \(field): \(message)"
        case let .scorerOutputSize(step, expected, actual):
            return "scorer returned \(actual) log-probabilities at step \(step); expected rows × vocabulary = \(expected)"
        case let .scorerNormalizerCount(step, rows, actual):
            return "scorer returned \(actual) normalisers at step \(step); expected one per row = \(rows)"
        case let .allowedTokenOutOfRange(batchIndex, token, vocabularySize):
            return "constraint for input \(batchIndex) allowed token \(token), outside the vocabulary 0..<\(vocabularySize)"
        case let .noAllowedToken(batchIndex, prefix):
            return "constraint for input \(batchIndex) allows no token after prefix \(prefix) (the constraint is unsatisfiable for this hypothesis; Hugging Face raises here too)"
        case let .emptySequence(index):
            return "prefix trie: sequence \(index) is empty; every sequence must end with the end-of-sequence token"
        case let .missingEndOfSequence(index, tokens):
            return "prefix trie: sequence \(index) \(tokens) does not end with the end-of-sequence token"
        case let .endOfSequenceInside(index, position):
            return "prefix trie: sequence \(index) has end-of-sequence at position \(position), before its end"
        case let .negativeToken(index, position, token):
            return "prefix trie: sequence \(index) has negative token \(token) at position \(position)"
        case let .duplicateSequence(firstIndex, secondIndex, tokens, duplicateCount):
            return "prefix trie: sequences \(firstIndex) and \(secondIndex) are identical (\(tokens)); \(duplicateCount) sequence(s) in total repeat an earlier one. IDs must be unique."
        }
    }
}
