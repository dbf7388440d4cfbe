import Corpora
import Foundation
import IDGen
import Support
import Tokenizer

// Semantic IDs (TIGER's codes, `ids generate --scheme semantic`, issue 19) on the recommender's
// pipeline: the same vocabulary, prompts, trie, beam search, training and evaluation as textual
// IDs, with the layout's tokens added to the vocabulary as whole pieces.

/// How a run names items, recorded in `run.json` (`RecommenderConfig.scheme`).
public enum IDScheme: String, Codable, Sendable, CaseIterable {
    /// Textual IDs made of words (IDGenRec); nil in run.json files written before issue 19.
    case textual
    /// Semantic codes `<a_17><b_203><c_5><d_0>` (TIGER); `RecommenderConfig.codes` holds the layout.
    case semantic
    /// One output token per item (issue 20, `ItemToken.swift`).
    case itemToken = "item-token"
}

/// An ID table with what it is: its codes layout when it holds semantic IDs, and the files that
/// travel with it (`FILE.json` metadata, `FILE.quantiser.safetensors`).
public struct ResolvedIDTable: Sendable {
    public var table: IDTable
    /// The semantic-code layout, or nil for textual IDs.
    public var codes: SemanticCodeLayout?
    /// Where the table was read from (nil for tables made in memory).
    public var url: URL?

    public init(table: IDTable, codes: SemanticCodeLayout? = nil, url: URL? = nil) {
        self.table = table
        self.codes = codes
        self.url = url
    }

    public var scheme: IDScheme { codes == nil ? .textual : .semantic }
}

public enum SemanticIDs {
    /// `FILE.json`: the metadata `ids generate` writes beside a table.
    public static func metadataURL(table: URL) -> URL { URL(fileURLWithPath: table.path + ".json") }
    /// `FILE.quantiser.safetensors`: the trained quantiser `ids generate --scheme semantic` writes beside a table.
    public static func quantiserURL(table: URL) -> URL { URL(fileURLWithPath: table.path + ".quantiser.safetensors") }

    /// Reads an ID table and decides its scheme.
    ///
    /// - The metadata `FILE.json` decides when it exists: `codes` set → semantic IDs, and every ID
    ///   must be an ID of that layout (else an error naming the line); `codes` nil → textual.
    /// - Without `FILE.json`, a table whose IDs all parse as codes of one length that fit TIGER's
    ///   default layout (3 levels × 256 codes + 256 collision codes) is taken as semantic in that
    ///   layout, with a note in the log; a table of codes that does not fit, or one that mixes codes
    ///   with other IDs, is an error (the layout cannot be guessed: pass the table's `.json`).
    public static func read(_ url: URL) throws -> ResolvedIDTable {
        let table = try IDTable.read(url)
        let metadataURL = metadataURL(table: url)
        var metadata: IDTableMetadata?
        if FileManager.default.fileExists(atPath: metadataURL.path) {
            do {
                metadata = try JSONOutput.decode(IDTableMetadata.self, from: metadataURL)
            } catch {
                throw RecommenderError.invalidInput("\(metadataURL.path): not the metadata of an ID table (\(error))")
            }
        }
        let codes = try layout(of: table, metadata: metadata, file: url.path)
        return ResolvedIDTable(table: table, codes: codes, url: url)
    }

    /// The layout of `table` (nil: textual IDs); see `read(_:)` for the rules.
    public static func layout(of table: IDTable, metadata: IDTableMetadata?, file: String) throws -> SemanticCodeLayout? {
        if let metadata {
            guard let codes = metadata.codes else {
                if let first = table.textualIDs.firstIndex(where: { SemanticCodeLayout.parse($0) != nil }),
                   table.textualIDs.allSatisfy({ SemanticCodeLayout.parse($0) != nil }) {
                    Log.info("WARNING: \(file): every ID looks like semantic codes (line \(first + 1): \(table.textualIDs[first])) but \(file).json records no code layout; training on them as textual IDs")
                }
                return nil
            }
            try codes.validate()
            try check(table, layout: codes, file: file)
            return codes
        }
        let parsed = table.textualIDs.map(SemanticCodeLayout.parse)
        let codeCount = parsed.filter { $0 != nil }.count
        if codeCount == 0 { return nil }
        if codeCount < table.count {
            let textual = parsed.firstIndex { $0 == nil }!
            let code = parsed.firstIndex { $0 != nil }!
            throw RecommenderError.invalidInput("\(file): mixes semantic codes (line \(code + 1): \(table.textualIDs[code])) with other IDs (line \(textual + 1): \(table.textualIDs[textual])); an ID table holds one kind of ID")
        }
        let tiger = SemanticCodeLayout()
        guard table.textualIDs.allSatisfy({ tiger.codes(of: $0) != nil }) else {
            throw RecommenderError.invalidInput("\(file): its IDs are semantic codes outside the default layout (3 levels × 256 codes + 256 collision codes), and \(file).json, which records the layout, is missing; keep the .json that `idgenrec ids generate --scheme semantic` wrote beside the table")
        }
        Log.info("\(file): semantic codes without \(file).json; assuming the default layout (3 levels × 256 codes + 256 collision codes)")
        return tiger
    }

    /// Every ID of `table` must be an ID of `layout`; the first that is not is named by its line.
    public static func check(_ table: IDTable, layout: SemanticCodeLayout, file: String) throws {
        for (n, id) in table.textualIDs.enumerated() where layout.codes(of: id) == nil {
            throw RecommenderError.invalidInput("\(file):\(n + 1): item \(table.itemIDs[n]): '\(id)' is not a semantic ID of the table's layout (\(describe(layout))); the table's .json says it holds semantic codes")
        }
    }

    /// "3 levels × 256 codes + 256 collision codes".
    public static func describe(_ layout: SemanticCodeLayout) -> String {
        "\(layout.levels) levels × \(layout.codebookSize) codes" + (layout.disambiguationSize > 0 ? " + \(layout.disambiguationSize) collision codes" : "")
    }

    /// The user-defined symbols the vocabulary adds for `layout`: every token of the layout, and
    /// the first level's tokens once more with SentencePiece's word-boundary mark `▁` in front.
    /// SentencePiece puts `▁` before the start of every encoded text; without the second set an
    /// ID would cost 5 pieces (`▁`, `<a_17>`, `<b_203>`, `<c_5>`, `<d_0>`), with it 4
    /// (`▁<a_17>`, `<b_203>`, `<c_5>`, `<d_0>`). Decoding gives the ID back exactly.
    public static func vocabularySymbols(_ layout: SemanticCodeLayout) -> [String] {
        layout.allTokens + (0 ..< layout.size(ofLevel: 0)).map { "\u{2581}" + SemanticCodeLayout.token(level: 0, code: $0) }
    }

    /// Checks that `tokenizer` writes every ID of `layout` as one piece per code (a run's
    /// vocabulary must have been trained with `vocabularySymbols`); the error names the first token
    /// that is not a piece.
    public static func checkVocabulary(_ tokenizer: Tokenizer, layout: SemanticCodeLayout, source: String) throws {
        for token in vocabularySymbols(layout) where tokenizer.id(forPiece: token) == nil {
            throw RecommenderError.invalidInput("\(source): the vocabulary has no piece '\(token)'; a run on semantic IDs trains its vocabulary with every token of the code layout (\(describe(layout))) — a vocabulary from --init-from cannot hold them")
        }
    }
}
