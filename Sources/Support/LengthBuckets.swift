/// Batches of similar length, to waste little on padding: the items are shuffled, sorted by
/// length inside windows of `window` items, cut into batches, and the batches shuffled. The
/// result is a function of the items and the generator's state (resumable runs rely on it).
public enum LengthBuckets {
    public static func batches<T>(_ items: [T], batchSize: Int, window: Int, length: (T) -> Int,
                                  using rng: inout SeededGenerator) -> [[T]] {
        precondition(batchSize > 0 && window > 0, "batch size and window must be positive")
        var shuffled = items
        shuffled.shuffle(using: &rng)
        var batches: [[T]] = []
        var start = 0
        while start < shuffled.count {
            let chunk = shuffled[start ..< min(shuffled.count, start + window)].sorted { length($0) < length($1) }
            var b = chunk.startIndex
            while b < chunk.endIndex {
                batches.append(Array(chunk[b ..< min(chunk.endIndex, b + batchSize)]))
                b += batchSize
            }
            start += window
        }
        batches.shuffle(using: &rng)
        return batches
    }
}
