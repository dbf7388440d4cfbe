// Partial top-k over one beam group's [groupSize, vocabulary] scores, without a full sort.

/// The `capacity` best entries of a score matrix scanned in increasing flat index
/// (`row * vocabularySize + token`), ordered by score descending, ties by smaller flat index
/// (what a stable descending sort gives; `torch.topk` leaves ties unspecified). -inf entries are not
/// kept by `consider`; `fillWithNegativeInfinity` appends them afterwards in flat order, so the
/// result is the full top-`capacity` list of the matrix.
struct TopCandidates {
    let capacity: Int
    private(set) var scores: [Float]
    private(set) var flat: [Int]

    init(capacity: Int) {
        self.capacity = capacity
        scores = []
        flat = []
        scores.reserveCapacity(capacity + 1)
        flat.reserveCapacity(capacity + 1)
    }

    var count: Int { scores.count }
    var isFull: Bool { scores.count == capacity }
    /// The score an entry must strictly exceed to enter a full list.
    var threshold: Float { scores[capacity - 1] }

    mutating func removeAll() {
        scores.removeAll(keepingCapacity: true)
        flat.removeAll(keepingCapacity: true)
    }

    /// Offers one entry; entries must come in increasing flat index.
    @inline(__always)
    mutating func consider(_ score: Float, _ index: Int) {
        if scores.count == capacity {
            guard score > scores[capacity - 1] else { return }
            scores.removeLast()
            flat.removeLast()
        } else if score == -.infinity {
            return
        }
        // Insert after every entry with a score >= this one (earlier index wins ties).
        var i = scores.count
        scores.append(score)
        flat.append(index)
        while i > 0, scores[i - 1] < score {
            scores[i] = scores[i - 1]
            flat[i] = flat[i - 1]
            i -= 1
        }
        scores[i] = score
        flat[i] = index
    }

    /// Scans one row of `vocabularySize` scores `(row[t] - normalizer) + offset` (the
    /// log-probability, then Float addition of the beam score as PyTorch adds it), all tokens. A
    /// SIMD pre-check skips chunks with no entry above the current threshold, so the common case
    /// is two adds and one compare per 16 tokens' lane.
    mutating func scanAll(_ row: UnsafeBufferPointer<Float>, normalizer: Float, offset: Float, rowIndex: Int) {
        let v = row.count
        let base = rowIndex * v
        var t = 0
        while t < v, !isFull {
            consider((row[t] - normalizer) + offset, base + t)
            t += 1
        }
        guard let p = row.baseAddress else { return }
        let raw = UnsafeRawPointer(p)
        let off = SIMD16<Float>(repeating: offset), norm = SIMD16<Float>(repeating: normalizer)
        while t + 16 <= v {
            let x = (raw.loadUnaligned(fromByteOffset: t &* 4, as: SIMD16<Float>.self) - norm) + off
            if any(x .> SIMD16<Float>(repeating: threshold)) {
                for j in 0 ..< 16 { consider(x[j], base + t + j) }
            }
            t += 16
        }
        while t < v {
            consider((row[t] - normalizer) + offset, base + t)
            t += 1
        }
    }

    /// Scans only `allowed` tokens (sorted ascending, unique) of one row; the others are -inf.
    mutating func scanAllowed(_ row: UnsafeBufferPointer<Float>, allowed: [Int32], normalizer: Float, offset: Float, rowIndex: Int) {
        let base = rowIndex * row.count
        for token in allowed {
            let t = Int(token)
            consider((row[t] - normalizer) + offset, base + t)
        }
    }

    /// Completes the list with -inf entries in increasing flat index among the `rows * vocabularySize`
    /// entries not already kept (every entry not kept is -inf once the scan has not filled the list).
    mutating func fillWithNegativeInfinity(totalEntries: Int) {
        guard !isFull else { return }
        let kept = Set(flat)
        var index = 0
        while !isFull, index < totalEntries {
            if !kept.contains(index) {
                scores.append(-.infinity)
                flat.append(index)
            }
            index += 1
        }
    }
}
