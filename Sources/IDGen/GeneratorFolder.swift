import Corpora
import Foundation
import Support
import T5
import Tokenizer

/// A trained ID generator on disk: a Hugging Face T5 folder (config.json, model.safetensors,
/// spiece.model) plus `generator.json` (our settings and bootstrap losses). A user's own HF T5
/// folder (e.g. a tag-generation fine-tune) loads the same way; `generator.json` is optional.
public struct GeneratorFolder {
    public var model: T5Model
    public var tokenizer: Tokenizer
    public var config: GeneratorConfig
    public var bootstrapLosses: [Double]

    struct Saved: Codable {
        var config: GeneratorConfig
        var bootstrapLosses: [Double]
        var tokenizerHash: String
    }

    public init(model: T5Model, tokenizer: Tokenizer, config: GeneratorConfig, bootstrapLosses: [Double]) {
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.bootstrapLosses = bootstrapLosses
    }

    public static func load(_ folder: URL) throws -> GeneratorFolder {
        let model = try T5Model.load(folder: folder)
        let tokenizer = try Tokenizer(contentsOf: folder.appendingPathComponent("spiece.model"))
        guard tokenizer.vocabularySize <= model.config.vocab_size else {
            throw IDGenError.invalid("\(folder.path): spiece.model has \(tokenizer.vocabularySize) pieces but the model's vocab_size is \(model.config.vocab_size)")
        }
        let settings = folder.appendingPathComponent("generator.json")
        if FileManager.default.fileExists(atPath: settings.path) {
            let saved = try JSONOutput.decode(Saved.self, from: settings)
            return GeneratorFolder(model: model, tokenizer: tokenizer, config: saved.config, bootstrapLosses: saved.bootstrapLosses)
        }
        return GeneratorFolder(model: model, tokenizer: tokenizer, config: GeneratorConfig(), bootstrapLosses: [])
    }

    public func save(_ folder: URL) throws {
        try model.save(folder: folder, tokenizer: tokenizer)
        try AtomicFile.writeJSON(Saved(config: config, bootstrapLosses: bootstrapLosses, tokenizerHash: tokenizer.modelHash),
                                 to: folder.appendingPathComponent("generator.json"))
    }

    /// Bootstraps a generator on a catalog: trains a vocabulary on the catalog text (or takes
    /// `tokenizer`), then the T5 on (item text → distinctive words). The T5 starts from random
    /// weights of `config.preset`, or from the Hugging Face T5 folder `initFrom` (e.g. an
    /// `idgenrec pretrain` output), whose `spiece.model` is then the vocabulary unless
    /// `tokenizer` is given.
    public static func bootstrap(catalogs: [Catalog], tokenizer: Tokenizer? = nil, vocabularySize: Int = 8000, config: GeneratorConfig,
                                 fieldWeights: FieldWeights = FieldWeights(), initFrom: URL? = nil, targetWords: [[String]]? = nil,
                                 verbose: Bool = true) throws -> GeneratorFolder {
        let given = tokenizer
        let model: T5Model
        let tokenizer: Tokenizer
        if let initFrom {
            model = try T5Model.load(folder: initFrom)
            tokenizer = try given ?? Tokenizer(contentsOf: initFrom.appendingPathComponent("spiece.model"))
            guard tokenizer.vocabularySize <= model.config.vocab_size else {
                throw IDGenError.invalid("\(initFrom.path): the vocabulary has \(tokenizer.vocabularySize) pieces but the model's vocab_size is \(model.config.vocab_size)")
            }
        } else {
            tokenizer = try given ?? SharedVocabulary.train(catalogs: catalogs, size: vocabularySize)
            var g = SeededGenerator(seed: config.seed)
            var t5 = T5Config.preset(config.preset, vocabularySize: tokenizer.vocabularySize)
            t5.dropout_rate = 0.1
            model = try T5Model(config: t5, generator: &g)
        }
        let items = catalogs.flatMap { ItemText.all($0) }
        let extractor = KeywordExtractor(catalog: items, fieldWeights: fieldWeights)
        let losses = try GeneratorBootstrap.train(model: model, tokenizer: tokenizer, items: items, extractor: extractor, config: config, targetWords: targetWords, verbose: verbose)
        return GeneratorFolder(model: model, tokenizer: tokenizer, config: config, bootstrapLosses: losses)
    }

    /// The assigner's candidate source for `catalog`'s items.
    public func candidateGenerator(for catalog: Catalog) -> T5CandidateGenerator {
        let sources = ItemText.all(catalog).map { generatorSource($0, tokenizer: tokenizer, maximumTokens: config.maximumSourceTokens) }
        return T5CandidateGenerator(model: model, tokenizer: tokenizer, sources: sources, config: config)
    }
}
