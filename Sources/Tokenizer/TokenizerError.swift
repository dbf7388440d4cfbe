import Foundation

/// Errors of the Tokenizer module. Each names the file (or "<memory>" for bytes) and carries the
/// SentencePiece library's own message where the library produced the error.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The model file does not exist.
    case modelFileNotFound(path: String)
    /// The file or bytes exist but are not a SentencePiece model the library accepts.
    case cannotLoadModel(path: String, message: String)
    case cannotSaveModel(path: String, reason: String)
    /// A training input file does not exist or cannot be used.
    case trainingInputNotFound(path: String)
    /// An option the trainer cannot take (named by its `TrainingOptions` key).
    case invalidTrainingOption(key: String, reason: String)
    case trainingFailed(message: String)
    /// An id passed to `decode` or `piece(forID:)`-like calls is outside the vocabulary.
    case idOutOfRange(id: Int32, position: Int, vocabularySize: Int)
    case libraryError(operation: String, message: String)

    public var description: String {
        switch self {
        case let .modelFileNotFound(path):
            return "SentencePiece model file \(path) does not exist (expected a .model file, e.g. a T5 spiece.model)"
        case let .cannotLoadModel(path, message):
            return "cannot load SentencePiece model \(path): \(message) (is it a SentencePiece .model file?)"
        case let .cannotSaveModel(path, reason):
            return "cannot save SentencePiece model to \(path): \(reason)"
        case let .trainingInputNotFound(path):
            return "SentencePiece training input \(path) does not exist"
        case let .invalidTrainingOption(key, reason):
            return "invalid tokenizer training option \(key): \(reason)"
        case let .trainingFailed(message):
            return "SentencePiece training failed: \(message)"
        case let .idOutOfRange(id, position, vocabularySize):
            return "token id \(id) at position \(position) is outside the vocabulary [0, \(vocabularySize))"
        case let .libraryError(operation, message):
            return "SentencePiece \(operation) failed: \(message)"
        }
    }
}
