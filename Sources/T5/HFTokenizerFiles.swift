import Foundation
import Support
import Tokenizer

/// The tokenizer files of a Hugging Face T5 folder, for a SentencePiece model of ours.
///
/// `T5Tokenizer` appends 100 `<extra_id_N>` tokens after the SentencePiece vocabulary unless told
/// otherwise; our vocabularies hold their sentinels inside the model already (user-defined pieces,
/// `TrainingOptions.sentinelCount`), so `extra_ids` is 0 and the HF vocabulary is exactly the
/// model's `vocab_size`. `legacy: true` keeps HF's tokenisation equal to SentencePiece's own
/// `encode` (the non-legacy mode treats text after special tokens differently); the tokenizer
/// appends `</s>` as our prompts and IDs end with it.
public enum HFTokenizerFiles {
    struct Config: Encodable {
        var tokenizer_class = "T5Tokenizer"
        var eos_token: String
        var unk_token: String
        var pad_token: String
        var extra_ids = 0
        var additional_special_tokens: [String] = []
        var legacy = true
        var add_prefix_space = true
        var model_max_length: Int
        var sp_model_kwargs: [String: String] = [:]
        var clean_up_tokenization_spaces = false
    }

    struct SpecialTokens: Encodable {
        var eos_token: String
        var unk_token: String
        var pad_token: String
    }

    /// Writes `spiece.model`, `tokenizer_config.json` and `special_tokens_map.json` into `folder`
    /// (`model_max_length` 512 as T5's: HF only warns past it, our inputs are shorter).
    public static func write(_ tokenizer: Tokenizer, to folder: URL) throws {
        func piece(_ id: Int32?, _ role: String) throws -> String {
            guard let id, let p = tokenizer.piece(forID: id) else {
                throw T5Error.tokenizerMismatch("\(tokenizer.source): the SentencePiece model has no \(role) piece; a T5 tokenizer needs pad, eos and unk")
            }
            return p
        }
        let eos = try piece(tokenizer.eosID, "eos"), unk = try piece(tokenizer.unkID, "unk"), pad = try piece(tokenizer.padID, "pad")
        try tokenizer.save(to: folder.appendingPathComponent("spiece.model"))
        try AtomicFile.writeJSON(Config(eos_token: eos, unk_token: unk, pad_token: pad, model_max_length: 512),
                                 to: folder.appendingPathComponent("tokenizer_config.json"))
        try AtomicFile.writeJSON(SpecialTokens(eos_token: eos, unk_token: unk, pad_token: pad),
                                 to: folder.appendingPathComponent("special_tokens_map.json"))
    }
}
