import Foundation

/// Errors of the sentence encoder; each names the file (and field) and what was expected.
public enum EncoderError: Error, CustomStringConvertible, Equatable {
    /// The encoder folder does not exist (the default one is installed by `make setup`).
    case missingFolder(path: String)
    case missingFile(path: String)
    case unreadable(path: String, reason: String)
    /// A JSON field is absent or has the wrong type or value.
    case badField(file: String, field: String, expected: String, found: String)
    /// Something this encoder does not implement (a module type, an activation, a pooling mode).
    case unsupported(file: String, what: String)
    /// An embeddings cache that does not belong to these texts or this encoder.
    case staleCache(path: String, reason: String)

    public var description: String {
        switch self {
        case let .missingFolder(path):
            return "\(path): no sentence encoder folder here; `make setup` installs all-MiniLM-L6-v2 into "
                + "checkpoints/encoders/all-MiniLM-L6-v2, or pass --encoder DIR (or set IDGENREC_ENCODER) "
                + "to a sentence-transformers BERT folder"
        case let .missingFile(path):
            return "\(path): missing; a sentence-transformers BERT folder has config.json, tokenizer.json, "
                + "model.safetensors, modules.json and 1_Pooling/config.json (`make setup` installs one)"
        case let .unreadable(path, reason): return "\(path): cannot read: \(reason)"
        case let .badField(file, field, expected, found):
            return "\(file): field '\(field)': expected \(expected), found \(found)"
        case let .unsupported(file, what): return "\(file): not supported by TextEncoder: \(what)"
        case let .staleCache(path, reason): return "\(path): stale embeddings cache: \(reason)"
        }
    }
}
