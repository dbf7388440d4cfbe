import CSentencePiece
import Dispatch
import Foundation
import Support

/// A SentencePiece tokenizer (unigram or BPE) over libsentencepiece. Loads any `.model` file,
/// T5's `spiece.model` included, trains new models, encodes text to ids or pieces and decodes.
///
/// Thread safety (the reason for `@unchecked Sendable`): the wrapped processor is never mutated
/// after loading, and encode/decode/lookup only call `const` methods of the C++ processor, which
/// keep no per-call state in the object, so one instance serves several threads at once.
public final class Tokenizer: @unchecked Sendable {
    private let handle: OpaquePointer
    /// Where the model came from: a file path, or "<memory>" / "<trained>".
    public let source: String
    /// The serialized model: the bytes of its `.model` file.
    public let modelData: Data
    /// SHA-256 (lowercase hex) of `modelData`; store it in checkpoints to detect a changed
    /// tokenizer. The same as `sha256sum` of a `.model` file written by `save(to:)`.
    public let modelHash: String

    public let vocabularySize: Int
    /// Special ids; nil when the model has none (e.g. T5 has no bos).
    public let padID: Int32?
    public let eosID: Int32?
    public let unkID: Int32?
    public let bosID: Int32?

    // MARK: Loading

    /// Loads a `.model` file.
    public convenience init(contentsOf url: URL) throws {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw TokenizerError.modelFileNotFound(path: path)
        }
        // Read the bytes here rather than letting the library open the file, so the model bytes
        // (and hash) are exactly the file's and I/O errors name the file.
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TokenizerError.cannotLoadModel(path: path, message: error.localizedDescription)
        }
        try self.init(modelData: data, source: path)
    }

    /// Loads a model from the bytes of a `.model` file. `source` names it in errors.
    public init(modelData data: Data, source: String = "<memory>") throws {
        guard !data.isEmpty else {
            throw TokenizerError.cannotLoadModel(path: source, message: "the model is empty (0 bytes)")
        }
        var error: UnsafeMutablePointer<CChar>?
        let loaded = data.withUnsafeBytes { raw in spm_load_bytes(raw.baseAddress, raw.count, &error) }
        guard let loaded else {
            throw TokenizerError.cannotLoadModel(path: source, message: Self.takeMessage(error))
        }
        handle = loaded
        self.source = source
        // The library re-serializes what it parsed; keep the caller's bytes, which are what a
        // checkpoint stores, and hash those.
        modelData = data
        modelHash = SHA256.hexDigest(data)
        vocabularySize = Int(spm_vocab_size(loaded))
        func special(_ id: Int32) -> Int32? { id >= 0 ? id : nil }
        padID = special(spm_pad_id(loaded))
        eosID = special(spm_eos_id(loaded))
        unkID = special(spm_unk_id(loaded))
        bosID = special(spm_bos_id(loaded))
    }

    deinit { spm_free(handle) }

    /// Writes the model to `url` atomically (a `.model` file loadable by any SentencePiece).
    public func save(to url: URL) throws {
        do { try AtomicFile.write(modelData, to: url) } catch {
            throw TokenizerError.cannotSaveModel(path: url.path, reason: "\(error)")
        }
    }

    // MARK: Training

    /// Trains a model on text files (one sentence per line).
    public static func train(files: [URL], options: TrainingOptions = TrainingOptions(), quiet: Bool = true) throws -> Tokenizer {
        guard !files.isEmpty else {
            throw TokenizerError.invalidTrainingOption(key: "files", reason: "no training files given")
        }
        for file in files {
            if !FileManager.default.fileExists(atPath: file.path) {
                throw TokenizerError.trainingInputNotFound(path: file.path)
            }
            if file.path.contains(",") {
                throw TokenizerError.invalidTrainingOption(key: "files", reason: "path \(file.path) contains a comma (the trainer splits its input list at commas)")
            }
        }
        var flags = try options.trainerFlags()
        flags.append(("input", files.map(\.path).joined(separator: ",")))
        return try train(flags: flags, sentences: nil, seed: options.seed, quiet: quiet)
    }

    /// Trains a model on sentences in memory.
    public static func train(sentences: [String], options: TrainingOptions = TrainingOptions(), quiet: Bool = true) throws -> Tokenizer {
        guard !sentences.isEmpty else {
            throw TokenizerError.invalidTrainingOption(key: "sentences", reason: "no training sentences given")
        }
        return try train(flags: options.trainerFlags(), sentences: sentences, seed: options.seed, quiet: quiet)
    }

    private static func train(flags: [(key: String, value: String)], sentences: [String]?, seed: UInt32, quiet: Bool) throws -> Tokenizer {
        // C strings for the flags stay alive for the whole call.
        let keys = flags.map { strdup($0.key) }
        let values = flags.map { strdup($0.value) }
        defer { (keys + values).forEach { free($0) } }
        let cFlags = zip(keys, values).map { spm_train_flag(key: $0, value: $1) }

        var error: UnsafeMutablePointer<CChar>?
        var length = 0
        let model: UnsafeMutablePointer<CChar>?
        if let sentences {
            // One contiguous UTF-8 buffer plus pointers into it.
            var utf8: [UInt8] = []
            utf8.reserveCapacity(sentences.reduce(0) { $0 + $1.utf8.count })
            var offsets: [Int] = []
            var lengths: [Int] = []
            for sentence in sentences {
                offsets.append(utf8.count)
                lengths.append(sentence.utf8.count)
                utf8.append(contentsOf: sentence.utf8)
            }
            model = utf8.withUnsafeBufferPointer { buffer in
                let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
                let pointers: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
                return pointers.withUnsafeBufferPointer { p in
                    spm_train(cFlags, cFlags.count, p.baseAddress, lengths, sentences.count, seed, quiet ? 1 : 0, &length, &error)
                }
            }
        } else {
            model = spm_train(cFlags, cFlags.count, nil, nil, 0, seed, quiet ? 1 : 0, &length, &error)
        }
        guard let model else { throw TokenizerError.trainingFailed(message: takeMessage(error)) }
        defer { spm_free_buffer(model) }
        return try Tokenizer(modelData: Data(bytes: model, count: length), source: "<trained>")
    }

    // MARK: Encoding and decoding

    /// Token ids of `text` (no eos appended; T5 callers append `eosID` themselves).
    public func encode(_ text: String) -> [Int32] {
        var text = text
        return text.withUTF8 { utf8 in
            var ids: UnsafeMutablePointer<Int32>?
            var count = 0
            var error: UnsafeMutablePointer<CChar>?
            let rc = utf8.withMemoryRebound(to: CChar.self) { spm_encode_ids(handle, $0.baseAddress, $0.count, &ids, &count, &error) }
            // The library fails only for an unloaded model (impossible: init checked) or out
            // of memory; neither is a property of the user's text.
            precondition(rc == 0, "SentencePiece encode failed: \(Self.takeMessage(error))")
            defer { spm_free_buffer(ids) }
            guard let ids, count > 0 else { return [] }
            return Array(UnsafeBufferPointer(start: ids, count: count))
        }
    }

    /// Encodes many texts on `threads` threads (default: both cores). Output order follows input.
    public func encode(batch texts: [String], threads: Int = 2) -> [[Int32]] {
        precondition(threads >= 1, "threads must be ≥ 1")
        let workers = min(threads, texts.count)
        if workers <= 1 { return texts.map(encode) }
        var results = [[Int32]](repeating: [], count: texts.count)
        results.withUnsafeMutableBufferPointer { out in
            let out = out  // each worker writes only the indices i ≡ worker (mod workers)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                // Strided rather than contiguous blocks: texts of a batch are often sorted
                // by length, and striding keeps both threads' work equal.
                for i in stride(from: worker, to: texts.count, by: workers) {
                    out[i] = encode(texts[i])
                }
            }
        }
        return results
    }

    /// The pieces of `text` (e.g. "▁hello", "<0xF0>").
    public func pieces(_ text: String) -> [String] {
        var text = text
        return text.withUTF8 { utf8 in
            var bytes: UnsafeMutablePointer<CChar>?
            var lengths: UnsafeMutablePointer<Int>?
            var count = 0
            var error: UnsafeMutablePointer<CChar>?
            let rc = utf8.withMemoryRebound(to: CChar.self) { spm_encode_pieces(handle, $0.baseAddress, $0.count, &bytes, &lengths, &count, &error) }
            precondition(rc == 0, "SentencePiece encode failed: \(Self.takeMessage(error))")
            defer { spm_free_buffer(bytes); spm_free_buffer(lengths) }
            guard let bytes, let lengths else { return [] }
            var result: [String] = []
            result.reserveCapacity(count)
            let base = UnsafeRawPointer(bytes).assumingMemoryBound(to: UInt8.self)
            var offset = 0
            for i in 0 ..< count {
                // Pieces of a valid model are UTF-8; byte pieces are spelled "<0xNN>".
                result.append(String(decoding: UnsafeBufferPointer(start: base + offset, count: lengths[i]), as: UTF8.self))
                offset += lengths[i]
            }
            return result
        }
    }

    /// Decodes ids to text. Control pieces (pad, eos) decode to nothing, byte pieces are
    /// reassembled into UTF-8 (invalid sequences become U+FFFD, as in SentencePiece).
    /// Throws `idOutOfRange` for ids outside the vocabulary (e.g. the padded rows of a T5
    /// embedding, 32100…32127 in t5-small).
    public func decode(_ ids: [Int32]) throws -> String {
        for (position, id) in ids.enumerated() where id < 0 || Int(id) >= vocabularySize {
            throw TokenizerError.idOutOfRange(id: id, position: position, vocabularySize: vocabularySize)
        }
        var error: UnsafeMutablePointer<CChar>?
        var length = 0
        let text = ids.withUnsafeBufferPointer { spm_decode_ids(handle, $0.baseAddress, $0.count, &length, &error) }
        guard let text else { throw TokenizerError.libraryError(operation: "decode", message: Self.takeMessage(error)) }
        defer { spm_free_buffer(text) }
        return text.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    // MARK: Vocabulary

    /// The id of `piece`, or nil when the vocabulary has no such piece.
    public func id(forPiece piece: String) -> Int32? {
        var piece = piece
        let id = piece.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { spm_piece_to_id(handle, $0.baseAddress, $0.count) }
        }
        return id >= 0 ? id : nil
    }

    /// The piece of `id`, or nil when `id` is outside the vocabulary.
    public func piece(forID id: Int32) -> String? {
        var length = 0
        guard let bytes = spm_id_to_piece(handle, id, &length) else { return nil }
        return bytes.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    public enum PieceKind: Sendable, Equatable {
        /// A normal piece or a user-defined symbol (the library's API does not tell them apart).
        case normal
        case unknown
        /// pad, eos, bos.
        case control
        case unused
        /// A byte-fallback piece `<0xNN>`.
        case byte
    }

    /// The kind of `id`, or nil when `id` is outside the vocabulary.
    public func kind(ofID id: Int32) -> PieceKind? {
        switch spm_piece_type(handle, id) {
        case Int32(SPM_PIECE_NORMAL): return .normal
        case Int32(SPM_PIECE_UNKNOWN): return .unknown
        case Int32(SPM_PIECE_CONTROL): return .control
        case Int32(SPM_PIECE_UNUSED): return .unused
        case Int32(SPM_PIECE_BYTE): return .byte
        default: return nil
        }
    }

    /// The id of T5 sentinel `<extra_id_{index}>`, when the model has it as a piece (models
    /// trained with `TrainingOptions.sentinelCount`). Hugging Face's T5Tokenizer instead appends
    /// the sentinels after the SentencePiece vocabulary (id = vocab + extraIDs - 1 - index), so
    /// for t5-small's spiece.model this returns nil.
    public func sentinelID(_ index: Int) -> Int32? {
        id(forPiece: "<extra_id_\(index)>")
    }

    // MARK: Helpers

    private static func takeMessage(_ error: UnsafeMutablePointer<CChar>?) -> String {
        guard let error else { return "unknown error" }
        defer { spm_free_buffer(error) }
        return String(cString: error)
    }
}
