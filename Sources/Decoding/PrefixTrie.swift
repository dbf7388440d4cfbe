// Immutable prefix tree over tokenized IDs, the constraint that makes a decoder output only
// catalog IDs (METHOD.md §2: "at each decoding step only the children of the current prefix are
// allowed").

/// A prefix tree over token sequences that each end with end-of-sequence (eos appears nowhere
/// else). Built once per ID table; nodes are stored as compressed sparse rows with each node's
/// children sorted by token, so a lookup walks the prefix with one binary search per token and
/// returns the children in time proportional to their number.
public struct PrefixTrie: TokenConstraint, Sendable {
    public let eosTokenId: Int32
    /// Number of sequences (IDs) in the trie.
    public let count: Int
    /// childStart[n] ..< childStart[n + 1]: the children of node n in `childToken` / `childNode`.
    private let childStart: [Int32]
    private let childToken: [Int32] // sorted ascending within each node
    private let childNode: [Int32]
    /// For a node reached by a complete sequence (its last token is eos): the sequence's index; else -1.
    private let sequenceIndex: [Int32]

    /// Builds the trie. Throws when a sequence is empty, does not end with `eosTokenId`, holds eos
    /// before its end or a negative token, or repeats an earlier sequence (`duplicateSequence`
    /// names the first repeated pair and counts all repeats).
    public init(sequences: [[Int32]], eosTokenId: Int32) throws {
        self.eosTokenId = eosTokenId
        count = sequences.count
        for (i, s) in sequences.enumerated() {
            guard let last = s.last else { throw DecodingError.emptySequence(index: i) }
            guard last == eosTokenId else { throw DecodingError.missingEndOfSequence(index: i, tokens: s) }
            for (p, t) in s.enumerated() {
                if t < 0 { throw DecodingError.negativeToken(index: i, position: p, token: t) }
                if t == eosTokenId, p != s.count - 1 { throw DecodingError.endOfSequenceInside(index: i, position: p) }
            }
        }
        // Build with per-node dictionaries, then lay the nodes out breadth-first.
        var children: [[Int32: Int32]] = [[:]]
        var terminal: [Int32] = [-1]
        var firstDuplicate: (Int, Int)?
        var duplicates = 0
        for (i, s) in sequences.enumerated() {
            var node = 0
            for t in s {
                if let next = children[node][t] {
                    node = Int(next)
                } else {
                    let next = Int32(children.count)
                    children[node][t] = next
                    children.append([:])
                    terminal.append(-1)
                    node = Int(next)
                }
            }
            if terminal[node] >= 0 {
                duplicates += 1
                if firstDuplicate == nil { firstDuplicate = (Int(terminal[node]), i) }
            } else {
                terminal[node] = Int32(i)
            }
        }
        if let (a, b) = firstDuplicate {
            throw DecodingError.duplicateSequence(firstIndex: a, secondIndex: b, tokens: sequences[b], duplicateCount: duplicates)
        }
        var start: [Int32] = [0]
        var tokens: [Int32] = []
        var nodes: [Int32] = []
        var index: [Int32] = []
        start.reserveCapacity(children.count + 1)
        tokens.reserveCapacity(children.count)
        nodes.reserveCapacity(children.count)
        index.reserveCapacity(children.count)
        var queue: [Int] = [0] // old node ids in breadth-first order; new id = position
        var head = 0
        while head < queue.count {
            let old = queue[head]
            head += 1
            index.append(terminal[old])
            for (t, child) in children[old].sorted(by: { $0.key < $1.key }) {
                tokens.append(t)
                nodes.append(Int32(queue.count))
                queue.append(Int(child))
            }
            start.append(Int32(tokens.count))
        }
        childStart = start
        childToken = tokens
        childNode = nodes
        sequenceIndex = index
    }

    /// Number of nodes, the root included.
    public var nodeCount: Int { sequenceIndex.count }

    /// The node reached by `prefix`, or nil when no sequence starts with it.
    private func node<C: Collection>(after prefix: C) -> Int? where C.Element == Int32 {
        var node = 0
        for t in prefix {
            var lo = Int(childStart[node]), hi = Int(childStart[node + 1])
            while lo < hi {
                let mid = (lo + hi) >> 1
                if childToken[mid] < t { lo = mid + 1 } else { hi = mid }
            }
            guard lo < Int(childStart[node + 1]), childToken[lo] == t else { return nil }
            node = Int(childNode[lo])
        }
        return node
    }

    /// The tokens that may follow `prefix`, ascending; empty when `prefix` is not a prefix of any
    /// sequence or is a complete sequence.
    public func children<C: Collection>(of prefix: C) -> ArraySlice<Int32> where C.Element == Int32 {
        guard let n = node(after: prefix) else { return [] }
        return childToken[Int(childStart[n]) ..< Int(childStart[n + 1])]
    }

    /// `TokenConstraint`: the children of `prefix` (the same trie for every input). Never nil.
    public func allowedTokens(batchIndex: Int, prefix: [Int32]) -> [Int32]? {
        Array(children(of: prefix))
    }

    /// The index of the sequence `tokens` spells, with or without its trailing eos; nil when it is
    /// not a complete sequence of the trie.
    public func index<C: Collection>(of tokens: C) -> Int? where C.Element == Int32 {
        guard let n = node(after: tokens) else { return nil }
        if sequenceIndex[n] >= 0 { return Int(sequenceIndex[n]) }
        guard let leaf = node(after: CollectionOfOne(eosTokenId), from: n) else { return nil }
        return sequenceIndex[leaf] >= 0 ? Int(sequenceIndex[leaf]) : nil
    }

    private func node<C: Collection>(after suffix: C, from start: Int) -> Int? where C.Element == Int32 {
        var node = start
        for t in suffix {
            let range = Int(childStart[node]) ..< Int(childStart[node + 1])
            guard let i = childToken[range].firstIndex(of: t) else { return nil }
            node = Int(childNode[i])
        }
        return node
    }
}

/// "Only tokens that occur in the input": for each input (batch index) a fixed set of allowed
/// tokens, whatever the prefix, with eos always allowed so that every sequence can end.
public struct TokenSetConstraint: TokenConstraint, Sendable {
    /// Per input: the allowed tokens, sorted ascending and unique, eos included.
    public let allowed: [[Int32]]

    /// - Parameters:
    ///   - tokensPerInput: the tokens of each input (any order, repeats allowed).
    ///   - eosTokenId: always allowed.
    ///   - excluding: tokens never allowed even if they occur (e.g. pad); eos cannot be excluded.
    public init(tokensPerInput: [[Int32]], eosTokenId: Int32, excluding: Set<Int32> = []) {
        allowed = tokensPerInput.map { tokens in
            var set = Set(tokens).subtracting(excluding)
            set.insert(eosTokenId)
            return set.sorted()
        }
    }

    public func allowedTokens(batchIndex: Int, prefix: [Int32]) -> [Int32]? {
        precondition(batchIndex >= 0 && batchIndex < allowed.count, "TokenSetConstraint: batch index \(batchIndex) outside 0..<\(allowed.count)")
        return allowed[batchIndex]
    }
}
