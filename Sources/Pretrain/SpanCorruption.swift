import Support

/// T5's span-corruption objective (Raffel et al. 2020, §3.1.4; `t5.data.preprocessors.span_corruption`),
/// step for step:
/// - `noiseMask`: `random_spans_noise_mask` — round(length·density) noise tokens in
///   round(noise/meanSpanLength) spans; noise and non-noise lengths are random segmentations
///   into non-empty parts, interleaved starting with non-noise;
/// - `corrupt`: inputs = tokens with each noise span replaced by one sentinel (`<extra_id_0>`,
///   `<extra_id_1>`, … in order) + eos; targets = for each noise span its sentinel and its
///   tokens, in order, + eos.
/// Rounding is half-to-even, as `tf.round`.
public struct SpanCorruption: Sendable, Equatable {
    public var noiseDensity: Double
    public var meanNoiseSpanLength: Double
    /// `sentinels[i]` is the id of `<extra_id_i>`.
    public var sentinels: [Int32]
    public var eos: Int32

    public init(noiseDensity: Double = 0.15, meanNoiseSpanLength: Double = 3, sentinels: [Int32], eos: Int32) {
        precondition(noiseDensity >= 0 && noiseDensity < 1 && meanNoiseSpanLength >= 1, "SpanCorruption: density \(noiseDensity), mean span \(meanNoiseSpanLength)")
        self.noiseDensity = noiseDensity
        self.meanNoiseSpanLength = meanNoiseSpanLength
        self.sentinels = sentinels
        self.eos = eos
    }

    /// (noise tokens, noise spans) for a sequence of `length` tokens (`length` ≥ 2), with T5's
    /// guards: at least one noise and one non-noise token, at least one span.
    public func counts(length: Int) -> (noise: Int, spans: Int) {
        let length = max(length, 2)
        var noise = Int((Double(length) * noiseDensity).rounded(.toNearestOrEven))
        noise = min(max(noise, 1), length - 1)
        let spans = max(Int((Double(noise) / meanNoiseSpanLength).rounded(.toNearestOrEven)), 1)
        return (noise, spans)
    }

    /// `random_spans_noise_mask(length)`: true where a token is noise.
    public func noiseMask(length originalLength: Int, using rng: inout SeededGenerator) -> [Bool] {
        guard noiseDensity > 0, originalLength > 0 else { return [Bool](repeating: false, count: originalLength) }
        let length = max(originalLength, 2)
        let (noise, spans) = counts(length: length)
        let noiseLengths = Self.randomSegmentation(items: noise, segments: spans, using: &rng)
        let nonNoiseLengths = Self.randomSegmentation(items: length - noise, segments: spans, using: &rng)
        var mask: [Bool] = []
        mask.reserveCapacity(length)
        for s in 0 ..< spans {
            mask.append(contentsOf: repeatElement(false, count: nonNoiseLengths[s]))
            mask.append(contentsOf: repeatElement(true, count: noiseLengths[s]))
        }
        return Array(mask.prefix(originalLength))
    }

    /// Partitions `items` into `segments` non-empty parts at random (T5 `_random_segmentation`:
    /// shuffle `segments − 1` boundary markers among the `items − 1` gaps). Returns the lengths.
    /// When `segments` > `items` (possible only for degenerate lengths) the extra segments are
    /// dropped by T5's segment_sum; here they get length 0 so spans stay paired.
    static func randomSegmentation(items: Int, segments: Int, using rng: inout SeededGenerator) -> [Int] {
        guard segments > 1, items > 1 else {
            var out = [Int](repeating: 0, count: max(segments, 1))
            out[0] = items
            return out
        }
        var boundary = [Bool](repeating: false, count: items - 1)
        for i in 0 ..< min(segments - 1, items - 1) { boundary[i] = true }
        // Fisher–Yates with the seeded generator.
        for i in stride(from: boundary.count - 1, to: 0, by: -1) {
            boundary.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
        var lengths = [Int](repeating: 0, count: segments)
        var segment = 0
        lengths[0] = 1
        for b in boundary {
            if b { segment += 1 }
            lengths[segment] += 1
        }
        return lengths
    }

    /// Inputs and targets of one example (both end with eos). Throws when the sequence has more
    /// spans than sentinels.
    public func corrupt(_ tokens: [Int32], mask: [Bool]) throws -> (inputs: [Int32], targets: [Int32]) {
        precondition(mask.count == tokens.count, "SpanCorruption: \(tokens.count) tokens, \(mask.count) mask entries")
        var inputs: [Int32] = [], targets: [Int32] = []
        inputs.reserveCapacity(tokens.count + 2)
        var span = -1
        for (i, token) in tokens.enumerated() {
            if mask[i] {
                if i == 0 || !mask[i - 1] {
                    span += 1
                    guard span < sentinels.count else {
                        throw PretrainError.invalid("span corruption: more than \(sentinels.count) noise spans in a sequence of \(tokens.count) tokens; use a shorter --sequence-length")
                    }
                    inputs.append(sentinels[span])
                    targets.append(sentinels[span])
                }
                targets.append(token)
            } else {
                inputs.append(token)
            }
        }
        inputs.append(eos)
        targets.append(eos)
        return (inputs, targets)
    }

    public func corrupt(_ tokens: [Int32], using rng: inout SeededGenerator) throws -> (inputs: [Int32], targets: [Int32]) {
        try corrupt(tokens, mask: noiseMask(length: tokens.count, using: &rng))
    }

    /// T5 `random_spans_helper`: the longest raw token count whose corrupted inputs (with eos)
    /// fit in `inputsLength`, and the targets length it gives.
    public func rawLength(forInputsLength inputsLength: Int) -> (tokens: Int, targets: Int) {
        func lengths(_ n: Int) -> (inputs: Int, targets: Int) {
            let (noise, spans) = counts(length: n)
            return (n - noise + spans + 1, noise + spans + 1)
        }
        var n = max(inputsLength - 1, 2)
        while lengths(n + 1).inputs <= inputsLength { n += 1 }
        return (n, lengths(n).targets)
    }
}
