import Foundation
import Tokenizer

/// Paraphrased prompt templates for next-item prediction (METHOD.md §3). `{history}` is the
/// history's textual IDs joined by ` ; `; `{user}` expands to ` <user ID>` when user IDs are
/// enabled and to nothing otherwise ("Considering user has interacted …"). Template 0 is the
/// paper's test template; training samples draw several templates per sample.
public enum PromptTemplates {
    public static let standard: [String] = [
        "Considering user{user} has interacted with items {history} . What is the next recommendation for the user ?",
        "The purchase history of user{user} is {history} . Which item should be recommended next ?",
        "User{user} bought {history} . Predict the next item the user will buy .",
        "Items bought so far by user{user} : {history} . What might the user need next ?",
        "Given that user{user} purchased {history} , recommend one more item for the user .",
        "After buying {history} , what would user{user} most likely purchase next ?",
        "Look at the items of user{user} : {history} . Which item comes next ?",
        "Recommend the next item for user{user} , whose purchases were {history} .",
        "User{user} has this purchase sequence : {history} . What is a good next item ?",
        "Based on {history} , what should user{user} be offered next ?",
    ]

    /// The short framing (issue 18, part 4): no instruction words, only the user slot and the
    /// history, so every prompt token but three is an item ID token. One template.
    public static let short: [String] = ["user{user} : {history}"]

    /// The framings `RecommenderConfig.promptFraming` names: nil or "paper" (the ten paraphrases
    /// above, the paper's test template first) and "short".
    public static let framings = ["paper", "short"]

    public static func named(_ framing: String?) throws -> [String] {
        switch framing ?? "paper" {
        case "paper": return standard
        case "short": return short
        case let other: throw RecommenderError.invalidInput("prompt framing: expected one of \(framings.joined(separator: ", ")), found '\(other)'")
        }
    }

    /// The templates as the vocabulary should see them (`SharedVocabulary.train(framing:)`):
    /// no user ID, the history as bare separators, so template words and ` ; ` become pieces.
    public static func vocabularyFraming(_ templates: [String] = standard) -> [String] {
        templates.map { $0.replacingOccurrences(of: "{user}", with: "").replacingOccurrences(of: "{history}", with: "; ; ;") }
    }
}

/// A prompt as the recommender sees it: token ids (ending with end-of-sequence) and, for each
/// history item, the exact token range its ID occupies. The co-training bridge replaces those
/// ranges by soft embeddings, so positions come from the token ids themselves, never from
/// re-tokenised text (METHOD.md §4).
public struct EncodedPrompt: Equatable, Sendable {
    public var tokens: [Int32]
    public var itemSpans: [ItemSpan]

    public struct ItemSpan: Equatable, Sendable {
        public var item: Int
        public var range: Range<Int>
    }
}

/// Builds prompts by concatenating separately tokenised pieces: the template's literal text,
/// each history item's ID tokens (exactly the tokens the trie and the targets use, without
/// end-of-sequence) and the ` ; ` separators. Training and evaluation build prompts the same way.
public struct PromptEncoder: Sendable {
    public enum Segment: Sendable, Equatable {
        case literal([Int32])
        case user
        case history
    }

    public let templates: [[Segment]]
    public let separator: [Int32]
    public let eosID: Int32
    /// Longest prompt in tokens (end-of-sequence included); the oldest history items are dropped
    /// whole until the prompt fits, so item spans are never cut.
    public let maximumLength: Int
    /// Tokens put before each history item's ID tokens (outside its span): the content slot of
    /// `--item-content token` (`ItemContent`); empty otherwise.
    public var itemMarker: [Int32] = []
    /// When set, each history item is this one token instead of its ID tokens, with no separator
    /// between items (`--item-input replace` of the item-token scheme: the item's row is added
    /// at that position, so the words are not read). Its span is that one position.
    public var itemPlaceholder: Int32?

    /// The ` ; ` between history items as one piece when the vocabulary has one ("▁;", else ";"
    /// — item IDs start with "▁", so the boundary stays visible), otherwise however the
    /// tokenizer writes it (usually "▁" + ";" or a byte fallback: two tokens per history item).
    static func separatorTokens(_ tokenizer: Tokenizer) -> [Int32] {
        for piece in ["\u{2581};", ";"] {
            if let id = tokenizer.id(forPiece: piece), tokenizer.kind(ofID: id) == .normal { return [id] }
        }
        return tokenizer.encode(";")
    }

    public init(tokenizer: Tokenizer, templates: [String] = PromptTemplates.standard, maximumLength: Int = 256) throws {
        guard let eos = tokenizer.eosID else {
            throw RecommenderError.invalidInput("the tokenizer \(tokenizer.source) has no end-of-sequence piece")
        }
        eosID = eos
        self.maximumLength = maximumLength
        separator = Self.separatorTokens(tokenizer)
        self.templates = try templates.enumerated().map { index, template in
            var segments: [Segment] = []
            var rest = Substring(template)
            var sawHistory = false
            while !rest.isEmpty {
                let nextUser = rest.range(of: "{user}")
                let nextHistory = rest.range(of: "{history}")
                let next = [nextUser, nextHistory].compactMap { $0 }.min { $0.lowerBound < $1.lowerBound }
                guard let next else {
                    segments.append(.literal(tokenizer.encode(String(rest))))
                    break
                }
                let literal = rest[..<next.lowerBound].trimmingCharacters(in: .whitespaces)
                if !literal.isEmpty { segments.append(.literal(tokenizer.encode(literal))) }
                if next == nextHistory { segments.append(.history); sawHistory = true } else { segments.append(.user) }
                rest = rest[next.upperBound...]
            }
            guard sawHistory else {
                throw RecommenderError.invalidInput("prompt template \(index) has no {history} placeholder: \(template)")
            }
            return segments
        }
    }

    /// - Parameters:
    ///   - history: catalog item indices, oldest first (callers cap it, e.g. last 20).
    ///   - itemTokens: each catalog item's ID tokens (no end-of-sequence).
    ///   - userTokens: the user's ID tokens, or nil when user IDs are off.
    public func encode(history: [Int], template: Int, itemTokens: [[Int32]], userTokens: [Int32]?) -> EncodedPrompt {
        var first = 0
        while true {
            let prompt = build(history: history[first...], template: template, itemTokens: itemTokens, userTokens: userTokens)
            if prompt.tokens.count <= maximumLength || first >= history.count - 1 {
                if prompt.tokens.count > maximumLength {
                    // One item alone is longer than the budget: keep its prefix (rare; IDs are short).
                    var cut = prompt
                    cut.tokens = Array(prompt.tokens.prefix(maximumLength - 1)) + [eosID]
                    cut.itemSpans = prompt.itemSpans.compactMap { span in
                        let r = span.range.clamped(to: 0 ..< (maximumLength - 1))
                        return r.isEmpty ? nil : EncodedPrompt.ItemSpan(item: span.item, range: r)
                    }
                    return cut
                }
                return prompt
            }
            first += 1
        }
    }

    private func build(history: ArraySlice<Int>, template: Int, itemTokens: [[Int32]], userTokens: [Int32]?) -> EncodedPrompt {
        var tokens: [Int32] = []
        var spans: [EncodedPrompt.ItemSpan] = []
        tokens.reserveCapacity(maximumLength)
        for segment in templates[template] {
            switch segment {
            case let .literal(ids): tokens += ids
            case .user: if let userTokens { tokens += userTokens }
            case .history:
                for (k, item) in history.enumerated() {
                    if k > 0, itemPlaceholder == nil { tokens += separator }
                    tokens += itemMarker
                    let start = tokens.count
                    if let itemPlaceholder { tokens.append(itemPlaceholder) } else { tokens += itemTokens[item] }
                    spans.append(.init(item: item, range: start ..< tokens.count))
                }
            }
        }
        tokens.append(eosID)
        return EncodedPrompt(tokens: tokens, itemSpans: spans)
    }
}

public enum RecommenderError: Error, CustomStringConvertible {
    case invalidInput(String)
    case checkpoint(path: String, message: String)

    public var description: String {
        switch self {
        case let .invalidInput(message): return message
        case let .checkpoint(path, message): return "checkpoint \(path): \(message)"
        }
    }
}
