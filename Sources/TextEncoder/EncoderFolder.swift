import Foundation
import Support

/// `config.json` of a Hugging Face BERT model (field names as in transformers' `BertConfig`).
public struct BertConfig: Codable, Sendable, Equatable {
    public var model_type: String?
    public var vocab_size: Int
    public var hidden_size: Int
    public var num_hidden_layers: Int
    public var num_attention_heads: Int
    public var intermediate_size: Int
    public var hidden_act: String?
    public var max_position_embeddings: Int
    public var type_vocab_size: Int?
    public var layer_norm_eps: Double?
    public var position_embedding_type: String?

    public var headSize: Int { hidden_size / num_attention_heads }
    public var layerNormEps: Float { Float(layer_norm_eps ?? 1e-12) }
}

/// How token states become one vector (sentence-transformers `1_Pooling/config.json`). Several
/// modes at once are concatenated in sentence-transformers' order: cls, max, mean, mean_sqrt_len.
public struct PoolingConfig: Codable, Sendable, Equatable {
    public var word_embedding_dimension: Int?
    public var pooling_mode_cls_token: Bool?
    public var pooling_mode_mean_tokens: Bool?
    public var pooling_mode_max_tokens: Bool?
    public var pooling_mode_mean_sqrt_len_tokens: Bool?
    public var pooling_mode_weightedmean_tokens: Bool?
    public var pooling_mode_lasttoken: Bool?

    public enum Mode: String, Sendable { case cls, max, mean, meanSqrtLength }

    /// The modes in output order.
    public var modes: [Mode] {
        var m: [Mode] = []
        if pooling_mode_cls_token == true { m.append(.cls) }
        if pooling_mode_max_tokens == true { m.append(.max) }
        if pooling_mode_mean_tokens == true { m.append(.mean) }
        if pooling_mode_mean_sqrt_len_tokens == true { m.append(.meanSqrtLength) }
        return m
    }
}

/// `sentence_bert_config.json`.
public struct SentenceBertConfig: Codable, Sendable, Equatable {
    public var max_seq_length: Int?
    public var do_lower_case: Bool?
}

/// One entry of `modules.json`.
public struct ModuleEntry: Codable, Sendable, Equatable {
    public var idx: Int?
    public var name: String?
    public var path: String
    public var type: String
}

/// A sentence-transformers folder with a BERT transformer: its configs, read and checked. The
/// pipeline (Transformer, Pooling, optional Normalize) comes from `modules.json`, the pooling
/// modes from the pooling module's `config.json`; nothing about all-MiniLM-L6-v2 is assumed.
public struct EncoderFolder: Sendable {
    public let url: URL
    public let config: BertConfig
    public let pooling: PoolingConfig
    public let modules: [ModuleEntry]
    /// True when `modules.json` has a Normalize module (L2-normalised outputs).
    public let normalize: Bool
    /// The transformer's max_seq_length (sentence_bert_config.json; else max_position_embeddings).
    public let maxSequenceLength: Int

    /// The default folder, installed by `make setup`, relative to the repository root.
    public static let defaultRelativePath = "checkpoints/encoders/all-MiniLM-L6-v2"
    /// The environment variable that points commands at another encoder folder.
    public static let environmentVariable = "IDGENREC_ENCODER"

    /// The folder a command uses: `explicit` (`--encoder DIR`), else `$IDGENREC_ENCODER`, else
    /// the default folder under the current directory, else under the repository holding the
    /// running binary (`.build/release/idgenrec` → the repository root). Read once, at the entry.
    public static func resolve(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                               executable: URL? = Bundle.main.executableURL) -> URL {
        if let explicit, !explicit.isEmpty { return URL(fileURLWithPath: explicit) }
        if let env = environment[environmentVariable], !env.isEmpty { return URL(fileURLWithPath: env) }
        let here = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(defaultRelativePath)
        if FileManager.default.fileExists(atPath: here.path) { return here }
        if let executable {
            let root = SharedDatasets.packageRoot(from: executable.resolvingSymlinksInPath().path)
            let candidate = root.appendingPathComponent(defaultRelativePath)
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
        }
        return here
    }

    public init(url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw EncoderError.missingFolder(path: url.path)
        }
        self.url = url
        let config = try Self.decode(BertConfig.self, url.appendingPathComponent("config.json"))
        self.config = config
        let configPath = url.appendingPathComponent("config.json").path
        if let type = config.model_type, type != "bert" {
            throw EncoderError.unsupported(file: configPath, what: "model_type '\(type)' (only bert)")
        }
        if let act = config.hidden_act, act != "gelu" {
            throw EncoderError.unsupported(file: configPath, what: "hidden_act '\(act)' (only gelu, the exact erf form)")
        }
        if let pos = config.position_embedding_type, pos != "absolute" {
            throw EncoderError.unsupported(file: configPath, what: "position_embedding_type '\(pos)' (only absolute)")
        }
        guard config.hidden_size > 0, config.num_attention_heads > 0, config.hidden_size % config.num_attention_heads == 0 else {
            throw EncoderError.badField(file: configPath, field: "num_attention_heads", expected: "a divisor of hidden_size \(config.hidden_size)",
                                        found: "\(config.num_attention_heads)")
        }

        let modulesURL = url.appendingPathComponent("modules.json")
        let modules = try Self.decode([ModuleEntry].self, modulesURL)
        self.modules = modules
        var poolingPath: String?
        var normalize = false
        for (i, module) in modules.enumerated() {
            switch module.type {
            case "sentence_transformers.models.Transformer":
                guard i == 0 else {
                    throw EncoderError.badField(file: modulesURL.path, field: "[\(i)].type", expected: "Transformer first", found: module.type)
                }
            case "sentence_transformers.models.Pooling":
                poolingPath = module.path
            case "sentence_transformers.models.Normalize":
                normalize = true
            default:
                throw EncoderError.unsupported(file: modulesURL.path, what: "module '\(module.type)' (Transformer, Pooling, Normalize)")
            }
        }
        guard modules.first?.type == "sentence_transformers.models.Transformer", let poolingPath else {
            throw EncoderError.badField(file: modulesURL.path, field: "type", expected: "a Transformer and a Pooling module",
                                        found: modules.map(\.type).joined(separator: ", "))
        }
        self.normalize = normalize

        let poolingURL = url.appendingPathComponent(poolingPath).appendingPathComponent("config.json")
        let pooling = try Self.decode(PoolingConfig.self, poolingURL)
        if pooling.pooling_mode_weightedmean_tokens == true || pooling.pooling_mode_lasttoken == true {
            throw EncoderError.unsupported(file: poolingURL.path, what: "weighted-mean or last-token pooling")
        }
        guard !pooling.modes.isEmpty else {
            throw EncoderError.badField(file: poolingURL.path, field: "pooling_mode_*", expected: "at least one mode true", found: "none")
        }
        if let dim = pooling.word_embedding_dimension, dim != config.hidden_size {
            throw EncoderError.badField(file: poolingURL.path, field: "word_embedding_dimension",
                                        expected: "hidden_size \(config.hidden_size) of config.json", found: "\(dim)")
        }
        self.pooling = pooling

        let sbertURL = url.appendingPathComponent("sentence_bert_config.json")
        var maxLength = config.max_position_embeddings
        if FileManager.default.fileExists(atPath: sbertURL.path) {
            let sbert = try Self.decode(SentenceBertConfig.self, sbertURL)
            if sbert.do_lower_case == true {
                throw EncoderError.unsupported(file: sbertURL.path, what: "do_lower_case true (lowercasing belongs in tokenizer.json)")
            }
            if let m = sbert.max_seq_length {
                guard m >= 2, m <= config.max_position_embeddings else {
                    throw EncoderError.badField(file: sbertURL.path, field: "max_seq_length",
                                                expected: "2...\(config.max_position_embeddings) (max_position_embeddings)", found: "\(m)")
                }
                maxLength = m
            }
        }
        maxSequenceLength = maxLength
    }

    /// Output dimension: hidden size times the number of pooling modes.
    public var dimension: Int { config.hidden_size * pooling.modes.count }

    public var tokenizerURL: URL { url.appendingPathComponent("tokenizer.json") }
    public var weightsURL: URL { url.appendingPathComponent("model.safetensors") }

    /// SHA-256 over the files that decide the embeddings (configs, tokenizer, weights), for caches.
    public func contentHash() throws -> String {
        var names = ["config.json", "modules.json", "tokenizer.json", "model.safetensors", "sentence_bert_config.json"]
        if let pooling = modules.first(where: { $0.type == "sentence_transformers.models.Pooling" }) {
            names.append(pooling.path + "/config.json")
        }
        var digests = Data()
        for name in names {
            let file = url.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: file.path) else { continue }
            let data: Data
            do { data = try Data(contentsOf: file, options: .mappedIfSafe) } catch {
                throw EncoderError.unreadable(path: file.path, reason: error.localizedDescription)
            }
            digests.append(Data((name + "\0").utf8))
            digests.append(Data(SHA256.digest(data)))
        }
        return SHA256.hexDigest(digests)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ url: URL) throws -> T {
        guard FileManager.default.fileExists(atPath: url.path) else { throw EncoderError.missingFile(path: url.path) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw EncoderError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        do { return try JSONDecoder().decode(T.self, from: data) } catch let error as DecodingError {
            switch error {
            case let .keyNotFound(key, context):
                throw EncoderError.badField(file: url.path, field: (context.codingPath + [key]).map(\.stringValue).joined(separator: "."),
                                            expected: "present", found: "missing")
            case let .typeMismatch(type, context), let .valueNotFound(type, context):
                throw EncoderError.badField(file: url.path, field: context.codingPath.map(\.stringValue).joined(separator: "."),
                                            expected: "\(type)", found: context.debugDescription)
            case let .dataCorrupted(context):
                throw EncoderError.badField(file: url.path, field: context.codingPath.map(\.stringValue).joined(separator: "."),
                                            expected: "valid JSON", found: context.debugDescription)
            @unknown default:
                throw EncoderError.unreadable(path: url.path, reason: "\(error)")
            }
        }
    }
}
