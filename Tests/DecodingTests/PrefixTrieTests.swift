import XCTest
@testable import Decoding
import Support

final class PrefixTrieTests: XCTestCase {
    func testAllowedSetEqualsChildrenOnRandomTables() throws {
        var g = SeededGenerator(seed: 12)
        for _ in 0 ..< 5 {
            var seen = Set<[Int32]>()
            var items: [[Int32]] = []
            while items.count < 200 {
                let length = 1 + Int(g.next() % 6)
                let s = (0 ..< length).map { _ in Int32(2 + g.next() % 12) } + [1]
                if seen.insert(s).inserted { items.append(s) }
            }
            let trie = try PrefixTrie(sequences: items, eosTokenId: 1)
            XCTAssertEqual(trie.count, 200)
            // Every prefix of every item (and some non-prefixes): allowed = brute-force children.
            var prefixes = Set<[Int32]>()
            for s in items { for n in 0 ... s.count { prefixes.insert(Array(s.prefix(n))) } }
            prefixes.insert([99]); prefixes.insert([2, 99])
            for p in prefixes {
                let expected = Set(items.filter { $0.count > p.count && Array($0.prefix(p.count)) == p }.map { $0[p.count] })
                let allowed = trie.allowedTokens(batchIndex: 0, prefix: p)!
                XCTAssertEqual(allowed, expected.sorted(), "prefix \(p)")
            }
            for (i, s) in items.enumerated() {
                XCTAssertEqual(trie.index(of: s), i)
                XCTAssertEqual(trie.index(of: s.dropLast()), i, "without eos")
            }
            XCTAssertNil(trie.index(of: [Int32]([])))
            XCTAssertNil(trie.index(of: [Int32]([99, 1])))
            XCTAssertEqual(trie.nodeCount, prefixes.count - 2) // root + one node per distinct non-empty prefix
        }
    }

    func testErrors() {
        XCTAssertThrowsError(try PrefixTrie(sequences: [[2, 1], [3, 1], [2, 1], [3, 1], [4, 1]], eosTokenId: 1)) {
            XCTAssertEqual($0 as? DecodingError, .duplicateSequence(firstIndex: 0, secondIndex: 2, tokens: [2, 1], duplicateCount: 2))
        }
        XCTAssertThrowsError(try PrefixTrie(sequences: [[2, 1], []], eosTokenId: 1)) {
            XCTAssertEqual($0 as? DecodingError, .emptySequence(index: 1))
        }
        XCTAssertThrowsError(try PrefixTrie(sequences: [[2, 3]], eosTokenId: 1)) {
            XCTAssertEqual($0 as? DecodingError, .missingEndOfSequence(index: 0, tokens: [2, 3]))
        }
        XCTAssertThrowsError(try PrefixTrie(sequences: [[2, 1, 3, 1]], eosTokenId: 1)) {
            XCTAssertEqual($0 as? DecodingError, .endOfSequenceInside(index: 0, position: 1))
        }
        XCTAssertThrowsError(try PrefixTrie(sequences: [[-2, 1]], eosTokenId: 1)) {
            XCTAssertEqual($0 as? DecodingError, .negativeToken(index: 0, position: 0, token: -2))
        }
    }
}
