import Corpora
import Foundation
import Support
import Tokenizer

/// The one SentencePiece vocabulary shared by the ID generator and the recommender (the
/// soft-embedding bridge needs identical vocabularies, METHOD.md §1). Trained on catalog text
/// only — never on interactions — so no held-out information can shape it.
public enum SharedVocabulary {
    /// - Parameters:
    ///   - catalogs: every field of every item is a sentence, once as written (what the generator
    ///     reads) and once in the case-folded word form textual IDs take (what the recommender reads
    ///     and writes). Without the second form, a cased vocabulary splits lower-case ID words into
    ///     fragments ("garnier" → gar·n·ier), which makes prompts and targets 2–3× longer.
    ///   - framing: fixed text the models read around the catalog text (prompt templates with their
    ///     separators); repeated so that its words and punctuation become whole pieces instead of
    ///     characters or byte fallbacks.
    ///   - symbols: pieces kept whole wherever they occur (SentencePiece's user-defined symbols,
    ///     after T5's 100 sentinels), e.g. the tokens of semantic IDs (`<a_17>`); they count toward
    ///     `size`.
    public static func train(catalogs: [Catalog], size: Int, seed: UInt32 = 1, framing: [String] = [], symbols: [String] = []) throws -> Tokenizer {
        var sentences: [String] = []
        for catalog in catalogs {
            for i in 0 ..< catalog.count {
                for field in catalog.fields[i] where !field.value.isEmpty {
                    let value = String(field.value.prefix(2000))
                    sentences.append(value)
                    let folded = IDNormalizer.words(value, fold: true).joined(separator: " ")
                    if !folded.isEmpty, folded != value { sentences.append(folded) }
                }
            }
        }
        if !sentences.isEmpty, !framing.isEmpty {
            // Frequent enough to be learned whole, small next to the catalog text.
            let repeats = max(20, sentences.count / 200)
            for text in framing { sentences += Array(repeating: text, count: repeats) }
        }
        guard !sentences.isEmpty else { throw IDGenError.invalid("the catalog has no text to train a vocabulary on") }
        var options = TrainingOptions()
        options.vocabularySize = size
        options.seed = seed
        options.sentinelCount = 100
        options.userDefinedSymbols = symbols
        do {
            return try Tokenizer.train(sentences: sentences, options: options)
        } catch {
            // SentencePiece refuses a vocabulary larger than the text supports; say so and use the
            // largest size it reports as possible rather than failing a small catalog.
            let message = "\(error)"
            if let range = message.range(of: "<= "), let limit = Int(message[range.upperBound...].prefix { $0.isNumber }), limit < size {
                Log.info("vocabulary: \(size) pieces is more than this text supports; using \(limit)")
                options.vocabularySize = limit
                return try Tokenizer.train(sentences: sentences, options: options)
            }
            throw error
        }
    }
}
