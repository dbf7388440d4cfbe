import Corpora
import Foundation
import IDGen
import Recommender
import Support
import T5
import TensorCore
import TextEncoder
import Tokenizer

/// Textual IDs for items added while serving: the run's ID generator, by the incremental
/// assignment of `idgenrec ids generate --existing` (every existing ID kept and reserved; the new
/// items settled in order, through the same retry levels and last resort).
///
/// Where the generator comes from, first match wins:
/// 1. the run's `generator/` folder (a co-training run: the generator that wrote its IDs);
/// 2. the run's ID source (`run.json` `idsSource`): an `ids generate` table whose `.json` names
///    its generator — `keywords`, `bootstrap` (the table's `.generator/` folder) or a generator
///    folder — with the options saved there; or the keyword IDs `train` makes without `--ids`.
/// A semantic table's new items are embedded with the sentence encoder (`ServeOptions.encoder`)
/// and named by the semantic generator with the table's saved settings. A source `serve` cannot
/// run (no encoder, an unknown generator) leaves `POST /items` answering 501 with the reason.
final class NewItemIDs {
    enum Generator {
        case keywords(words: Int)
        case t5(GeneratorFolder)
        case semantic(PhraseEmbeddings, SemanticWordOptions)
        /// Semantic codes (issue 19): new items' embeddings through the run's quantiser, the
        /// smallest free collision code (`SemanticCodeAssignment.extend`, as `ids generate
        /// --scheme semantic --existing` does); existing items keep their codes.
        case codes(SentenceEncoder, SemanticQuantiser)
    }

    let generator: Generator?
    /// What the IDs come from, for /health and the log; the reason when `generator` is nil.
    let source: String
    let options: IDOptions
    /// Distinctive-word statistics over the catalog and every item added so far, as `ids
    /// generate --existing` would count them on the catalog with the added items.
    private(set) var extractor: KeywordExtractor

    init(run: URL, idsSource: String, catalog: Catalog, encoder: URL? = nil, codes: SemanticCodeLayout? = nil) throws {
        var options = IDOptions()
        var generator: Generator?
        var source: String
        let runGenerator = run.appendingPathComponent("generator")
        let quantiserURL = RunFolder.quantiserURL(run)
        if codes != nil {
            if !FileManager.default.fileExists(atPath: quantiserURL.path) {
                source = "the run is on semantic codes but has no quantiser (\(quantiserURL.lastPathComponent)) to code new items; train from a table of 'idgenrec ids generate --scheme semantic', which keeps it beside the table"
            } else if let encoder {
                do {
                    let quantiser = try SemanticQuantiser.load(from: quantiserURL)
                    generator = .codes(try SentenceEncoder(folder: encoder), quantiser)
                    source = "semantic codes from the run's quantiser (\(quantiserURL.path), encoder \(encoder.path))"
                } catch {
                    source = "the run is on semantic codes, but its quantiser or the sentence encoder did not load: \(error)"
                }
            } else {
                source = "the run is on semantic codes; coding new items needs the sentence encoder (make setup, or serve --encoder DIR)"
            }
        } else if FileManager.default.fileExists(atPath: runGenerator.appendingPathComponent("config.json").path) {
            generator = .t5(try GeneratorFolder.load(runGenerator))
            source = "the run's generator (\(runGenerator.path))"
        } else if idsSource.hasPrefix("keywords") {
            generator = .keywords(words: options.keywordCount)
            source = "keywords (\(options.keywordCount) most distinctive words), as train made the run's IDs"
        } else if let metadata = try? JSONOutput.decode(IDTableMetadata.self, from: URL(fileURLWithPath: idsSource + ".json")) {
            options = metadata.options
            switch metadata.generator {
            case "keywords":
                generator = .keywords(words: options.keywordCount)
                source = "keywords (\(options.keywordCount) words), as \(idsSource) was made"
            case "bootstrap":
                let folder = URL(fileURLWithPath: idsSource + ".generator")
                generator = .t5(try GeneratorFolder.load(folder))
                source = "the bootstrap generator \(folder.path)"
            case "semantic":
                if let encoder {
                    do {
                        let loaded = try SentenceEncoder(folder: encoder)
                        generator = .semantic(PhraseEmbeddings(encoder: loaded), metadata.semantic ?? SemanticWordOptions())
                        source = "semantic words (encoder \(encoder.path)), as \(idsSource) was made"
                    } catch {
                        source = "\(idsSource) was made by the semantic generator, but the sentence encoder did not load: \(error)"
                    }
                } else {
                    source = "\(idsSource) was made by the semantic generator, which needs the sentence encoder (make setup, or serve --encoder DIR)"
                }
            default:
                let folder = URL(fileURLWithPath: metadata.generator)
                generator = .t5(try GeneratorFolder.load(folder))
                source = "the generator \(folder.path)"
            }
        } else {
            source = "the run's ID source '\(idsSource)' names no generator serve can run (no generator/ folder, no \(idsSource).json)"
        }
        self.generator = generator
        self.source = source
        self.options = options
        extractor = KeywordExtractor(catalog: ItemText.all(catalog), fieldWeights: options.fieldWeights,
                                     caseHandling: options.assignment.normalizer.caseHandling)
    }

    /// One new, unused ID per item, in order. `used`: every ID of the table. `tokenize` gives an
    /// ID's tokens; an ID whose tokens equal an existing item's (the tokenizer can map two
    /// strings to the same pieces) is reserved and its item assigned again.
    func assign(_ items: [ItemText], used: Set<String>, usedTokens: Set<[Int32]>, table: () throws -> IDTable,
                tokenize: (String) -> [Int32]) throws -> [String] {
        guard let generator else { throw ServeError(501, source, field: "items") }
        if case let .codes(encoder, quantiser) = generator {
            return try assignCodes(items, table: try table(), encoder: encoder, quantiser: quantiser)
        }
        var extractor = self.extractor
        extractor.addDocuments(items)
        var reserved = used
        var takenTokens = usedTokens
        var result = [String?](repeating: nil, count: items.count)
        var pending = Array(items.indices)
        for _ in 0 ..< 8 where !pending.isEmpty {
            let batch = pending.map { items[$0] }
            let entries = batch.map { IDEntry(key: $0.id, rankedWords: extractor.rankedWords(of: $0)) }
            let assigner = IDAssigner(options: options.assignment)
            let ids: [String: String]
            switch generator {
            case let .keywords(words):
                var g = KeywordCandidateGenerator(extractor: extractor, items: batch, words: words)
                ids = try assigner.assign(entries, generator: &g, reserved: reserved).ids
            case let .t5(folder):
                var g = T5CandidateGenerator(model: folder.model, tokenizer: folder.tokenizer,
                                             sources: batch.map { generatorSource($0, tokenizer: folder.tokenizer, maximumTokens: folder.config.maximumSourceTokens) },
                                             config: folder.config)
                ids = try assigner.assign(entries, generator: &g, reserved: reserved).ids
            case let .semantic(phrases, semanticOptions):
                // The item texts as `ids generate` embeds them (`key: value; …`).
                let vectors = phrases.encoder.encode(batch.map(\.rendered))
                var g = try SemanticCandidateGenerator(items: batch, extractor: extractor, itemVectors: vectors, phrases: phrases, options: semanticOptions)
                g.prepare(Array(batch.indices))
                ids = try assigner.assign(entries, generator: &g, reserved: reserved).ids
            case .codes:
                preconditionFailure("semantic codes are assigned by assignCodes")
            }
            var again: [Int] = []
            for i in pending {
                let id = ids[items[i].id]!
                reserved.insert(id)
                let tokens = tokenize(id)
                if tokens.isEmpty || !takenTokens.insert(tokens).inserted {
                    again.append(i)
                } else {
                    result[i] = id
                }
            }
            pending = again
        }
        if let stuck = pending.first {
            throw ServeError(422, "no ID for item '\(items[stuck].id)' tokenises differently from the existing IDs", field: "items[\(stuck)]")
        }
        self.extractor = extractor
        return result.map { $0! }
    }

    /// Semantic codes for new items; `table` is the served table (catalog and items added so far).
    private func assignCodes(_ items: [ItemText], table: IDTable, encoder: SentenceEncoder, quantiser: SemanticQuantiser) throws -> [String] {
        // The item texts as `ids generate` embeds them (`key: value; …`).
        let vectors = encoder.encode(items.map(\.rendered)) // [new items, dim]
        let dim = vectors.shape[1]
        // `extend` takes one row per item; the existing items' rows are not read (they keep their codes).
        let rows = Tensor(zeros: [table.count + items.count, dim])
        (rows.pointer + table.count * dim).update(from: vectors.pointer, count: items.count * dim)
        let extended: IDTable
        do {
            extended = try SemanticCodeAssignment.extend(existing: table, itemIDs: table.itemIDs + items.map(\.id), embeddings: rows, quantiser: quantiser)
        } catch {
            throw ServeError(422, "\(error)", field: "items")
        }
        return try items.enumerated().map { i, item in
            guard let id = extended.textualID(of: item.id) else { throw ServeError(500, "no semantic ID for item '\(item.id)'", field: "items[\(i)]") }
            return id
        }
    }
}
