import ArgumentParser
import Corpora
import Foundation
import IDGen
import Support
import T5
import TextEncoder

/// `idgenrec ids generate`: a unique textual ID for every item of a catalog.
struct IDsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ids", abstract: "Item IDs: textual (words) or semantic (quantised codes).", subcommands: [Generate.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give every item of a catalog a short, unique ID: human words (textual) or codes (semantic).",
            discussion: """
            --scheme textual (the default): items are processed in catalog order (the order of the item file); \
            the highest-scoring unused candidate wins. Output: TSV item_id<TAB>textual id, and FILE.json with the \
            options, the generator and a report.
            --scheme semantic (TIGER): the items' sentence-encoder embeddings are quantised into --levels codes \
            of --codebook-size each, plus a collision code, written as <a_17><b_203><c_5><d_0>; the quantiser is \
            saved as FILE.quantiser.safetensors (docs/ids.md). Not to be confused with --generator semantic, \
            which picks textual words with the encoder.
            """)

        @Option(name: .long, help: "Dataset folder.") var data: String
        @OptionGroup var dataset: DatasetOptions
        @Option(name: .long, help: "Output TSV file.") var out: String
        @Option(name: .long, help: "ID scheme: 'textual' (words, the default) or 'semantic' (quantised codes, TIGER).") var scheme: String = "textual"
        @Option(name: .long, help: "Semantic scheme: quantiser 'rqvae' (TIGER's RQ-VAE, the default) or 'rkmeans' (balanced residual k-means).") var quantiser: String?
        @Option(name: .long, help: "Semantic scheme: quantised levels (default 3; a collision level follows).") var levels: Int?
        @Option(name: .long, help: "Semantic scheme: codes per level (default 256; clamped to the item count for tiny catalogs).") var codebookSize: Int?
        @Option(name: .long, help: "Semantic scheme: fuse training co-occurrence into the embeddings first, 'on' (the default; pairs from the training split only) or 'off' (content only; docs/ids.md).") var cooccurrence: String?
        @Option(name: .long, help: "Semantic scheme with --cooccurrence on: epochs over the training pairs (default 2).") var fusionEpochs: Int?
        @Option(name: .long, help: "Semantic scheme with --cooccurrence on: learning rate of the projection (default 3e-3).") var fusionLearningRate: Float?
        @Option(name: .long, help: "Semantic scheme with --cooccurrence on: weight of the content term (default 0.3).") var fusionContentWeight: Float?
        @Option(name: .long, help: """
            Textual scheme: generator 'semantic' (the default; no model trained: the item's words that the pretrained \
            sentence encoder finds closest to the item's text, diverse, in reading order; needs `make setup` \
            or --encoder), 'bootstrap' (train a T5 generator on this catalog first, saved as OUT.generator/), \
            'keywords' (most distinctive words of the item's own text), or a folder holding a trained \
            generator or a Hugging Face T5 (config.json, model.safetensors, spiece.model).
            """)
        var generator: String?
        @Option(name: .long, help: "Bootstrap: what the generator learns to write: 'keywords' (IDF keywords, the default) or 'semantic' (semantic ID words, needs the sentence encoder).")
        var bootstrapTargets: String?
        @Option(name: .long, help: "Sentence-transformers BERT folder for --generator semantic and --scheme semantic (default: $\(EncoderFolder.environmentVariable), else \(EncoderFolder.defaultRelativePath)).")
        var encoder: String?
        @Option(name: .long, help: "Item-embedding cache for --generator semantic and --scheme semantic (default: OUT.embeddings.safetensors; 'idgenrec embed --out' files are accepted).")
        var embeddings: String?
        @Option(name: .long, help: "Semantic words: diversity weight of the word choice (0 = closest words only, 1 = most different; default 0.3).") var diversity: Float?
        @Option(name: .long, help: "Semantic words: an item's most distinctive words that compete for its ID (default 16).") var candidateWords: Int?
        @Flag(name: .long, help: "Semantic words: also offer adjacent title word pairs as candidates (more encoder work).") var titlePhrases = false
        @Option(name: .long, help: "Bootstrap: generator model preset (tiny, cpu, t5-small; default tiny).") var preset: String?
        @Option(name: .long, help: "Bootstrap: training epochs over the catalog (default 30; a tiny T5 needs ~30 on a catalog of 1,000 items).") var epochs: Int?
        @Option(name: .long, help: "Bootstrap: SentencePiece vocabulary size (default 8000).") var vocabularySize: Int?
        @Option(name: .long, help: "Bootstrap: start the generator from this Hugging Face T5 folder (e.g. an 'idgenrec pretrain' output; its spiece.model is the vocabulary) instead of a random --preset T5.") var initFrom: String?
        @Option(name: .long, help: "Existing ID table (TSV): its IDs are kept; only new items get IDs (semantic: with the quantiser saved beside it).") var existing: String?
        @Option(name: .long, help: "Words per keyword ID (default 4).") var words: Int?
        @Option(name: .long, help: "Cut IDs to at most this many words (0 = no limit, the default).") var maxWords: Int?
        @Flag(name: .long, help: "Allow words that do not occur in the item's own text (default: only the item's own words).") var allowNewWords = false
        @Flag(name: .long, help: "Keep repeated words inside an ID (default: a word already in the ID is dropped).") var allowRepeatedWords = false
        @Flag(name: .long, help: "Keep letter case (default: fold to lower case).") var keepCase = false
        @Option(name: .long, help: "Field weights for distinctive words, e.g. 'title=4,brand=3,categories=2,description=1'.")
        var fieldWeights: String?
        @Option(name: .customLong("user-ids"), help: "Also write leak-free user IDs (from training items only) to this TSV.") var userIDs: String?
        @Option(name: .long, help: "Random seed (recorded).") var seed: UInt64 = 0

        func run() throws {
            try runReportingErrors {
                guard ["textual", "semantic"].contains(scheme) else {
                    throw ValidationErrorMessage(message: "--scheme: expected 'textual' or 'semantic', found '\(scheme)'")
                }
                let textualOnly = [("--generator", generator != nil), ("--bootstrap-targets", bootstrapTargets != nil), ("--diversity", diversity != nil),
                                   ("--candidate-words", candidateWords != nil), ("--title-phrases", titlePhrases), ("--preset", preset != nil),
                                   ("--epochs", epochs != nil), ("--vocabulary-size", vocabularySize != nil), ("--init-from", initFrom != nil),
                                   ("--words", words != nil), ("--max-words", maxWords != nil), ("--allow-new-words", allowNewWords),
                                   ("--allow-repeated-words", allowRepeatedWords), ("--keep-case", keepCase), ("--field-weights", fieldWeights != nil),
                                   ("--user-ids", userIDs != nil)].filter(\.1).map(\.0)
                let semanticOnly = [("--quantiser", quantiser != nil), ("--levels", levels != nil), ("--codebook-size", codebookSize != nil),
                                    ("--cooccurrence", cooccurrence != nil), ("--fusion-epochs", fusionEpochs != nil),
                                    ("--fusion-learning-rate", fusionLearningRate != nil), ("--fusion-content-weight", fusionContentWeight != nil)].filter(\.1).map(\.0)
                if scheme == "semantic" {
                    if !textualOnly.isEmpty {
                        throw ValidationErrorMessage(message: "\(textualOnly.joined(separator: ", ")) only apply to --scheme textual (the scheme is 'semantic')")
                    }
                    try generateSemanticCodes()
                    return
                }
                if !semanticOnly.isEmpty {
                    throw ValidationErrorMessage(message: "\(semanticOnly.joined(separator: ", ")) only apply to --scheme semantic (the scheme is 'textual')")
                }
                let generator = generator ?? "semantic", words = words ?? 4, maxWords = maxWords ?? 0
                let diversity = diversity ?? 0.3, candidateWords = candidateWords ?? 16
                let (domain, _) = try dataset.load(data)
                var options = IDOptions()
                options.keywordCount = words
                options.seed = seed
                options.assignment.normalizer = IDNormalizer(caseHandling: keepCase ? .keep : .fold, maximumWords: maxWords, noRepeatedWords: !allowRepeatedWords)
                options.assignment.onlyWordsFromText = !allowNewWords
                if let fieldWeights { options.fieldWeights = try parseFieldWeights(fieldWeights) }
                let existingTable = try existing.map { try IDTable.read(URL(fileURLWithPath: $0)) }

                let outURL = URL(fileURLWithPath: out)
                let table: IDTable, report: AssignmentReport
                var generatorHash: String?, tokenizerHash: String?
                if generator != "bootstrap" {
                    let given = [("--bootstrap-targets", bootstrapTargets != nil), ("--preset", preset != nil), ("--epochs", epochs != nil),
                                 ("--vocabulary-size", vocabularySize != nil), ("--init-from", initFrom != nil)].filter(\.1).map(\.0)
                    if !given.isEmpty {
                        throw ValidationErrorMessage(message: "\(given.joined(separator: ", ")) only apply to --generator bootstrap (the generator is '\(generator)')")
                    }
                }
                let bootstrapTargets = bootstrapTargets ?? "keywords"
                let preset = preset ?? "tiny", epochs = epochs ?? 30, vocabularySize = vocabularySize ?? 8000
                guard ["keywords", "semantic"].contains(bootstrapTargets) else {
                    throw ValidationErrorMessage(message: "--bootstrap-targets: expected 'keywords' or 'semantic', found '\(bootstrapTargets)'")
                }
                guard epochs > 0, vocabularySize > 0 else { throw ValidationErrorMessage(message: "--epochs and --vocabulary-size must be positive") }
                guard (0 ... 1).contains(diversity) else { throw ValidationErrorMessage(message: "--diversity: expected a value in 0…1, found \(diversity)") }
                guard candidateWords > 0 else { throw ValidationErrorMessage(message: "--candidate-words: expected a positive count, found \(candidateWords)") }
                var semanticOptions = SemanticWordOptions()
                semanticOptions.diversity = diversity
                semanticOptions.candidateWords = candidateWords
                semanticOptions.titlePhrases = titlePhrases
                let needsEncoder = generator == "semantic" || (generator == "bootstrap" && bootstrapTargets == "semantic")
                let loaded = needsEncoder ? try LoadedEncoder(explicit: encoder, missingHint: "--generator \(generator) needs the sentence encoder; without it, choose --generator keywords or --generator bootstrap") : nil
                let itemVectors = try loaded.map { try $0.itemEmbeddings(domain.catalog, cache: URL(fileURLWithPath: embeddings ?? out + ".embeddings.safetensors")).vectors }
                if generator == "semantic", let loaded, let itemVectors {
                    let made = try IDGeneration.semantic(catalog: domain.catalog, itemVectors: itemVectors, encoder: loaded.encoder, options: options,
                                                         semanticOptions: semanticOptions, existing: existingTable)
                    (table, report) = (made.table, made.report)
                    generatorHash = loaded.hash
                } else if generator == "keywords" {
                    let items = ItemText.all(domain.catalog)
                    let extractor = KeywordExtractor(catalog: items, fieldWeights: options.fieldWeights, caseHandling: options.assignment.normalizer.caseHandling)
                    var keywordGenerator = KeywordCandidateGenerator(extractor: extractor, items: items, words: words)
                    (table, report) = try IDGeneration.assign(catalog: domain.catalog, generator: &keywordGenerator, options: options, existing: existingTable)
                } else {
                    let folder: GeneratorFolder
                    if generator == "bootstrap" {
                        guard let p = T5Config.Preset(rawValue: preset) else {
                            throw ValidationErrorMessage(message: "--preset: expected one of \(T5Config.Preset.allCases.map(\.rawValue).joined(separator: ", ")), found '\(preset)'")
                        }
                        var config = GeneratorConfig()
                        config.preset = p
                        config.epochs = epochs
                        config.keywordCount = words
                        config.seed = seed
                        var targetWords: [[String]]?
                        if bootstrapTargets == "semantic", let loaded, let itemVectors {
                            config.bootstrapTargets = "semantic"
                            semanticOptions.targetUnits = min(words, 3)
                            targetWords = try IDGeneration.semanticTargets(catalog: domain.catalog, itemVectors: itemVectors, encoder: loaded.encoder,
                                                                           fieldWeights: options.fieldWeights, semanticOptions: semanticOptions)
                        }
                        Log.info("bootstrapping \(initFrom.map { "the T5 generator from \($0)" } ?? "a \(preset) T5 generator") on \(domain.catalog.count) items (\(epochs) epochs)")
                        folder = try GeneratorFolder.bootstrap(catalogs: [domain.catalog], vocabularySize: vocabularySize, config: config, fieldWeights: options.fieldWeights,
                                                               initFrom: initFrom.map { URL(fileURLWithPath: $0) }, targetWords: targetWords)
                        let saved = URL(fileURLWithPath: out + ".generator")
                        try folder.save(saved)
                        Log.info("generator saved to \(saved.path)")
                    } else {
                        guard FileManager.default.fileExists(atPath: generator + "/config.json") else {
                            throw ValidationErrorMessage(message: "--generator: expected 'semantic', 'bootstrap', 'keywords' or a folder with config.json, model.safetensors and spiece.model; found '\(generator)'")
                        }
                        folder = try GeneratorFolder.load(URL(fileURLWithPath: generator))
                    }
                    var t5Generator = folder.candidateGenerator(for: domain.catalog)
                    (table, report) = try IDGeneration.assign(catalog: domain.catalog, generator: &t5Generator, options: options, existing: existingTable)
                    tokenizerHash = folder.tokenizer.modelHash
                    generatorHash = try ParameterHash.of(folder.model)
                }

                try table.write(to: outURL)
                var userReport: AssignmentReport?
                if let userIDs {
                    let split = try Split.leaveOneOut(domain)
                    let (ids, r) = try UserIDs.assign(split: split, items: table, words: words, options: options.assignment)
                    try UserIDs.write(users: split.users, ids: ids, to: URL(fileURLWithPath: userIDs))
                    userReport = r
                }
                let metadata = IDTableMetadata(
                    data: data, items: table.count, generator: generator, generatorHash: generatorHash, tokenizerHash: tokenizerHash,
                    options: options, report: report, examples: IDGeneration.examples(table, catalog: domain.catalog), userIDs: userReport,
                    semantic: generator == "semantic" ? semanticOptions : nil)
                try AtomicFile.writeJSON(metadata, to: outURL.appendingPathExtension("json"))
                print(IDGeneration.summary(report, levels: options.assignment.levels))
                for row in metadata.examples { print("  \(row[0])\t\(row[1])\t\(row[2].prefix(70))") }
                print("wrote \(out) and \(out).json")
            }
        }
    }
}

func parseFieldWeights(_ text: String) throws -> FieldWeights {
    var weights: [String: Double] = [:]
    for pair in text.split(separator: ",") {
        let parts = pair.split(separator: "=")
        guard parts.count == 2, let w = Double(parts[1].trimmingCharacters(in: .whitespaces)), w >= 0 else {
            throw ValidationErrorMessage(message: "--field-weights: expected 'field=weight' pairs separated by commas, found '\(pair)'")
        }
        weights[parts[0].trimmingCharacters(in: .whitespaces).lowercased()] = w
    }
    return FieldWeights(weights: weights, other: weights["other"] ?? 1)
}
