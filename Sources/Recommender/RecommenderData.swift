import Corpora
import Decoding
import Foundation
import IDGen
import Tokenizer

/// A domain prepared for the text-to-text recommender: its split, ID table, tokenised IDs, the
/// prefix trie over them, and the prompt encoder.
public struct RecommenderData {
    public let domain: Domain
    public let split: Split
    public let ids: IDTable
    public let tokenizer: Tokenizer
    /// Each catalog item's ID tokens, without end-of-sequence.
    public let itemTokens: [[Int32]]
    /// Over `itemTokens[i] + [eos]`; `trie.index(of:)` maps a decoded sequence back to item i.
    public let trie: PrefixTrie
    public let prompts: PromptEncoder
    /// Per-user ID tokens when user IDs are on (built from training items only).
    public let userTokens: [[Int32]]?
    public let eos: Int32

    public init(domain: Domain, split: Split, ids: IDTable, tokenizer: Tokenizer, config: RecommenderConfig, userIDs: [String]? = nil) throws {
        guard ids.itemIDs == domain.catalog.ids else {
            throw RecommenderError.invalidInput("the ID table does not list the catalog's items in catalog order (\(ids.count) IDs, \(domain.catalog.count) items)")
        }
        guard let eos = tokenizer.eosID else { throw RecommenderError.invalidInput("tokenizer \(tokenizer.source) has no end-of-sequence piece") }
        self.domain = domain
        self.split = split
        self.ids = ids
        self.tokenizer = tokenizer
        self.eos = eos
        itemTokens = tokenizer.encode(batch: ids.textualIDs)
        if let empty = itemTokens.firstIndex(where: \.isEmpty) {
            throw RecommenderError.invalidInput("item \(ids.itemIDs[empty]): its textual ID '\(ids.textualIDs[empty])' tokenises to nothing")
        }
        do {
            trie = try PrefixTrie(sequences: itemTokens.map { $0 + [eos] }, eosTokenId: eos)
        } catch let DecodingError.duplicateSequence(first, second, _, _) {
            throw RecommenderError.invalidInput("items \(ids.itemIDs[first]) ('\(ids.textualIDs[first])') and \(ids.itemIDs[second]) ('\(ids.textualIDs[second])') tokenise to the same pieces; regenerate the IDs")
        }
        var prompts = try PromptEncoder(tokenizer: tokenizer, templates: PromptTemplates.named(config.promptFraming),
                                        maximumLength: config.maximumSourceLength)
        if config.itemContent?.mode == .token { prompts.itemMarker = [ItemContent.marker(tokenizer)] }
        if config.isItemToken, config.itemToken?.input == .replace { prompts.itemPlaceholder = ItemContent.marker(tokenizer) }
        self.prompts = prompts
        if config.useUserIDs {
            guard let userIDs, userIDs.count == split.users.count else {
                throw RecommenderError.invalidInput("user IDs are on but \(userIDs?.count ?? 0) user IDs were given for \(split.users.count) users")
            }
            userTokens = tokenizer.encode(batch: userIDs)
        } else {
            userTokens = nil
        }
    }

    public func target(_ item: Int) -> [Int32] { itemTokens[item] + [eos] }

    /// Catalog indices of a history of item ids (oldest first), for `recommend`; an unknown id or
    /// an empty history is an error that names it.
    public func historyIndices(_ history: [String]) throws -> [Int] {
        let catalog = domain.catalog
        let indices = try history.map { id in
            guard let i = catalog.index(of: id) else {
                throw RecommenderError.invalidInput("history: item '\(id)' is not in the catalog of \(domain.name)")
            }
            return i
        }
        guard !indices.isEmpty else { throw RecommenderError.invalidInput("history: expected at least one item id") }
        return indices
    }

    public func prompt(history: [Int], template: Int, user: Int) -> EncodedPrompt {
        prompts.encode(history: Array(history.suffix(split.historyCap)), template: template, itemTokens: itemTokens, userTokens: userTokens?[user])
    }
}
