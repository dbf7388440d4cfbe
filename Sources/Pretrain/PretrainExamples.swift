import Support
import T5
import Tokenizer

/// The epoch-by-epoch example stream, as T5 builds it: documents (each followed by eos) are
/// concatenated in a seeded shuffled order and cut into chunks of `rawLength` tokens; each chunk
/// is span-corrupted with its own seeded generator. Everything is a pure function of
/// (seed, epoch, batch), so a resumed run sees exactly the batches it would have seen.
public struct PretrainExamples: Sendable {
    /// Token ids of every document (without eos).
    public let documents: [[Int32]]
    public let corruption: SpanCorruption
    public let rawLength: Int
    public let batchSize: Int
    public let seed: UInt64
    /// Tokens per epoch (documents + one eos each).
    public let tokensPerEpoch: Int

    public init(documents: [[Int32]], corruption: SpanCorruption, rawLength: Int, batchSize: Int, seed: UInt64) throws {
        let docs = documents.filter { !$0.isEmpty }
        guard !docs.isEmpty else { throw PretrainError.invalid("the corpus tokenizes to no tokens") }
        precondition(rawLength >= 2 && batchSize > 0, "PretrainExamples: raw length \(rawLength), batch \(batchSize)")
        self.documents = docs
        self.corruption = corruption
        self.rawLength = rawLength
        self.batchSize = batchSize
        self.seed = seed
        tokensPerEpoch = docs.reduce(0) { $0 + $1.count + 1 }
    }

    /// Chunks per epoch; the last chunk is shorter when the stream does not divide evenly
    /// (kept when it has at least 2 tokens, as T5 keeps the remainder).
    public var chunksPerEpoch: Int {
        let full = tokensPerEpoch / rawLength
        return full + (tokensPerEpoch % rawLength >= 2 ? 1 : 0)
    }

    public var batchesPerEpoch: Int { (chunksPerEpoch + batchSize - 1) / batchSize }

    /// The concatenated token stream of `epoch` (1-based).
    public func stream(epoch: Int) -> [Int32] {
        var rng = SeededGenerator(seed: Self.mix(seed, UInt64(epoch), 0x5348_5546))
        var order = Array(documents.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        var out: [Int32] = []
        out.reserveCapacity(tokensPerEpoch)
        for d in order {
            out.append(contentsOf: documents[d])
            out.append(corruption.eos)
        }
        return out
    }

    /// Batch `index` (0-based) of the epoch whose stream is `stream`: span-corrupted chunks.
    public func batch(epoch: Int, index: Int, stream: [Int32]) throws -> (inputs: [[Int32]], targets: [[Int32]]) {
        precondition(index >= 0 && index < batchesPerEpoch, "PretrainExamples: batch \(index) of \(batchesPerEpoch)")
        var inputs: [[Int32]] = [], targets: [[Int32]] = []
        for c in index * batchSize ..< min((index + 1) * batchSize, chunksPerEpoch) {
            let chunk = Array(stream[c * rawLength ..< min((c + 1) * rawLength, stream.count)])
            var rng = SeededGenerator(seed: Self.mix(seed, UInt64(epoch), UInt64(c) &+ 1))
            let (i, t) = try corruption.corrupt(chunk, using: &rng)
            inputs.append(i)
            targets.append(t)
        }
        return (inputs, targets)
    }

    /// SplitMix-style mixing of (seed, epoch, slot) into one generator seed.
    static func mix(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        var z = a &+ 0x9E37_79B9_7F4A_7C15 &* (b &+ 1) &+ 0xBF58_476D_1CE4_E5B9 &* (c &+ 1)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Tokenizer {
    /// Ids of `<extra_id_0>` … `<extra_id_{n-1}>` for every sentinel the vocabulary holds, in
    /// order (stops at the first missing index).
    public func sentinelIDs() -> [Int32] {
        var out: [Int32] = []
        while let id = sentinelID(out.count) { out.append(id) }
        return out
    }
}
