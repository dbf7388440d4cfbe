import Foundation
import Support

/// T5 configuration with Hugging Face `config.json` field names, so the port can be checked
/// line by line against `modeling_t5.py` and a user's HF folder loads directly.
public struct T5Config: Codable, Sendable, Equatable {
    public var vocab_size: Int
    public var d_model: Int
    public var d_kv: Int
    public var d_ff: Int
    public var num_layers: Int
    public var num_decoder_layers: Int?
    public var num_heads: Int
    public var relative_attention_num_buckets: Int
    public var relative_attention_max_distance: Int
    public var dropout_rate: Float
    public var layer_norm_epsilon: Float
    /// "relu" (T5 v1.0) or "gated-gelu" (v1.1); HF also accepts "gelu" / "gated-relu".
    public var feed_forward_proj: String
    public var tie_word_embeddings: Bool?
    /// transformers 5 expresses the `d_model**-0.5` rescale before a tied head this way.
    public var scale_decoder_outputs: Bool?
    public var pad_token_id: Int
    public var eos_token_id: Int
    public var decoder_start_token_id: Int
    public var initializer_factor: Float?
    public var model_type: String?
    public var architectures: [String]?

    public init(vocabSize: Int, dModel: Int, dKV: Int, dFF: Int, layers: Int, decoderLayers: Int? = nil, heads: Int,
                feedForward: String = "relu", tied: Bool = true, dropout: Float = 0.1,
                buckets: Int = 32, maxDistance: Int = 128) {
        vocab_size = vocabSize
        d_model = dModel
        d_kv = dKV
        d_ff = dFF
        num_layers = layers
        num_decoder_layers = decoderLayers ?? layers
        num_heads = heads
        relative_attention_num_buckets = buckets
        relative_attention_max_distance = maxDistance
        dropout_rate = dropout
        layer_norm_epsilon = 1e-6
        feed_forward_proj = feedForward
        tie_word_embeddings = tied
        scale_decoder_outputs = nil
        pad_token_id = 0
        eos_token_id = 1
        decoder_start_token_id = 0
        initializer_factor = 1.0
        model_type = "t5"
        architectures = ["T5ForConditionalGeneration"]
    }

    /// Decodes as `transformers.T5Config(**json)` does: every omitted key takes HF's default
    /// (`configuration_t5.py`: t5-small's shape, dropout 0.1, epsilon 1e-6, relu, pad 0, eos 1),
    /// while a present key of the wrong type is still an error naming the key. Unknown keys
    /// (`is_encoder_decoder`, `use_cache`, `transformers_version`, …) are ignored, as HF keeps
    /// them as plain attributes. HF leaves `decoder_start_token_id` unset (generation then
    /// fails there); T5 starts decoding from the pad token, so its default here is `pad_token_id`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        vocab_size = try value(.vocab_size, 32128)
        d_model = try value(.d_model, 512)
        d_kv = try value(.d_kv, 64)
        d_ff = try value(.d_ff, 2048)
        num_layers = try value(.num_layers, 6)
        num_decoder_layers = try c.decodeIfPresent(Int.self, forKey: .num_decoder_layers)
        num_heads = try value(.num_heads, 8)
        relative_attention_num_buckets = try value(.relative_attention_num_buckets, 32)
        relative_attention_max_distance = try value(.relative_attention_max_distance, 128)
        dropout_rate = try value(.dropout_rate, 0.1)
        layer_norm_epsilon = try value(.layer_norm_epsilon, 1e-6)
        feed_forward_proj = try value(.feed_forward_proj, "relu")
        tie_word_embeddings = try c.decodeIfPresent(Bool.self, forKey: .tie_word_embeddings)
        scale_decoder_outputs = try c.decodeIfPresent(Bool.self, forKey: .scale_decoder_outputs)
        pad_token_id = try value(.pad_token_id, 0)
        eos_token_id = try value(.eos_token_id, 1)
        decoder_start_token_id = try value(.decoder_start_token_id, pad_token_id)
        initializer_factor = try c.decodeIfPresent(Float.self, forKey: .initializer_factor)
        model_type = try c.decodeIfPresent(String.self, forKey: .model_type)
        architectures = try c.decodeIfPresent([String].self, forKey: .architectures)
    }

    /// Float-typed fields, written with a decimal point: transformers 5 validates config types
    /// strictly and refuses `"initializer_factor": 1` ("expected float, got int").
    static let floatKeys: Set<String> = ["dropout_rate", "layer_norm_epsilon", "initializer_factor"]

    /// `config.json` as `save_pretrained` writes it: sorted keys, floats always with a decimal
    /// point or an exponent (Foundation's encoder writes `1.0` as `1`).
    public func jsonData() throws -> Data {
        var text = try JSONOutput.string(self)
        for key in Self.floatKeys {
            // The encoder prints each key once, as `"key" : value` on its own line.
            guard let range = text.range(of: "\"\(key)\" : ") else { continue }
            let valueEnd = text[range.upperBound...].firstIndex(where: { $0 == "," || $0 == "\n" }) ?? text.endIndex
            let number = text[range.upperBound ..< valueEnd]
            if !number.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
                text.replaceSubrange(range.upperBound ..< valueEnd, with: number + ".0")
            }
        }
        return Data(text.utf8)
    }

    public var decoderLayers: Int { num_decoder_layers ?? num_layers }
    /// HF: `tie_word_embeddings` defaults to true for T5.
    public var tied: Bool { tie_word_embeddings ?? true }
    /// Whether the decoder output is multiplied by `d_model**-0.5` before the head: HF 4.x does it
    /// exactly when embeddings are tied; transformers 5 configs say so with `scale_decoder_outputs`.
    public var scalesDecoderOutput: Bool { scale_decoder_outputs ?? tied }
    public var innerDimension: Int { num_heads * d_kv }

    public enum Activation: String, Codable, Sendable { case relu, gelu }
    /// (activation, gated) from `feed_forward_proj` as HF parses it.
    public func feedForward() throws -> (activation: Activation, gated: Bool) {
        let parts = feed_forward_proj.split(separator: "-").map(String.init)
        let gated = parts.count == 2 && parts[0] == "gated"
        guard let name = parts.last, parts.count <= 2, parts.count == 1 || gated else {
            throw T5Error.invalidConfig(key: "feed_forward_proj", message: "expected 'relu', 'gelu', 'gated-relu' or 'gated-gelu', found '\(feed_forward_proj)'")
        }
        switch name {
        case "relu": return (.relu, gated)
        // HF maps "gated-gelu" to gelu_new (tanh approximation).
        case "gelu", "gelu_new": return (.gelu, gated)
        default:
            throw T5Error.invalidConfig(key: "feed_forward_proj", message: "unsupported activation '\(name)'")
        }
    }

    public func validate() throws {
        func positive(_ v: Int, _ key: String) throws {
            if v <= 0 { throw T5Error.invalidConfig(key: key, message: "must be positive, found \(v)") }
        }
        try positive(vocab_size, "vocab_size")
        try positive(d_model, "d_model")
        try positive(d_kv, "d_kv")
        try positive(d_ff, "d_ff")
        try positive(num_layers, "num_layers")
        try positive(decoderLayers, "num_decoder_layers")
        try positive(num_heads, "num_heads")
        try positive(relative_attention_num_buckets, "relative_attention_num_buckets")
        _ = try feedForward()
    }

    public static func load(_ url: URL) throws -> T5Config {
        let config = try JSONOutput.decode(T5Config.self, from: url)
        do { try config.validate() } catch let T5Error.invalidConfig(key, message) {
            throw T5Error.invalidConfig(key: "\(url.path): \(key)", message: message)
        }
        return config
    }

    public func save(_ url: URL) throws { try AtomicFile.write(jsonData(), to: url) }

    /// Named shapes: `tiny` for tests, `cpu` (the default for real runs), `t5-small`.
    public enum Preset: String, Codable, CaseIterable, Sendable { case tiny, cpu, t5Small = "t5-small" }

    public static func preset(_ preset: Preset, vocabularySize: Int) -> T5Config {
        switch preset {
        case .tiny: return T5Config(vocabSize: vocabularySize, dModel: 64, dKV: 16, dFF: 256, layers: 2, heads: 4)
        case .cpu: return T5Config(vocabSize: vocabularySize, dModel: 128, dKV: 32, dFF: 512, layers: 4, heads: 4)
        case .t5Small: return T5Config(vocabSize: vocabularySize, dModel: 512, dKV: 64, dFF: 2048, layers: 6, heads: 8)
        }
    }
}

public enum T5Error: Error, CustomStringConvertible {
    case invalidConfig(key: String, message: String)
    case weights(String)
    case tokenizerMismatch(String)
    /// Input data the model cannot take (empty input, token id outside the vocabulary, …).
    case invalidInput(String)

    public var description: String {
        switch self {
        case let .invalidConfig(key, message): return "invalid T5 config: \(key): \(message)"
        case let .weights(message): return "T5 weights: \(message)"
        case let .tokenizerMismatch(message): return "tokenizer mismatch: \(message)"
        case let .invalidInput(message): return "T5 input: \(message)"
        }
    }
}
