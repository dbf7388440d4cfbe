import Support
import XCTest
@testable import Pretrain

final class SpanCorruptionTests: XCTestCase {
    let sentinels: [Int32] = (0 ..< 100).map { Int32(1000 + $0) } // <extra_id_i> = 1000 + i
    let eos: Int32 = 1
    var corruption: SpanCorruption { SpanCorruption(sentinels: sentinels, eos: eos) }

    func tokens(_ n: Int, _ rng: inout SeededGenerator) -> [Int32] {
        (0 ..< n).map { _ in Int32(3 + rng.next() % 500) }
    }

    /// T5's `random_spans_helper`: 512 inputs ↔ 568 raw tokens, 114 targets (the T5 paper's
    /// numbers); 128 ↔ 141, 29.
    func testRawLengthMatchesT5Helper() {
        XCTAssertEqual(corruption.rawLength(forInputsLength: 512).tokens, 568)
        XCTAssertEqual(corruption.rawLength(forInputsLength: 512).targets, 114)
        XCTAssertEqual(corruption.rawLength(forInputsLength: 128).tokens, 141)
        XCTAssertEqual(corruption.rawLength(forInputsLength: 128).targets, 29)
    }

    /// Each mask has exactly round(len·0.15) noise tokens (with T5's guards) in round(noise/3)
    /// spans, starting with non-noise; over many samples the rate is 0.15 and spans average 3.
    func testMaskRateAndSpanLengths() {
        var rng = SeededGenerator(seed: 7)
        var noise = 0, total = 0, spans = 0
        var lengthHistogram: [Int: Int] = [:]
        for k in 0 ..< 2000 {
            let n = k % 2 == 0 ? 141 : 20 + Int(rng.next() % 400)
            let mask = corruption.noiseMask(length: n, using: &rng)
            XCTAssertEqual(mask.count, n)
            XCTAssertFalse(mask[0], "T5 masks start with a non-noise span")
            let expected = corruption.counts(length: n)
            XCTAssertEqual(mask.filter { $0 }.count, expected.noise)
            XCTAssertEqual(expected.noise, Int((Double(n) * 0.15).rounded(.toNearestOrEven)))
            var runs: [Int] = []
            for i in 0 ..< n where mask[i] {
                if i == 0 || !mask[i - 1] { runs.append(0) }
                runs[runs.count - 1] += 1
            }
            XCTAssertEqual(runs.count, expected.spans, "length \(n)")
            for r in runs { lengthHistogram[r, default: 0] += 1 }
            noise += expected.noise
            total += n
            spans += runs.count
        }
        XCTAssertEqual(Double(noise) / Double(total), 0.15, accuracy: 0.003)
        XCTAssertEqual(Double(noise) / Double(spans), 3.0, accuracy: 0.1)
        // Spans are random segmentations, not all of length 3.
        XCTAssertGreaterThan(lengthHistogram.keys.count, 4, "\(lengthHistogram)")
        XCTAssertGreaterThan(lengthHistogram[1, default: 0], 0)
    }

    /// Sentinels appear in increasing order in inputs and targets, inputs + targets rebuild the
    /// original, both end with eos, and targets start with the first sentinel.
    func testSentinelOrderAndReconstruction() throws {
        var rng = SeededGenerator(seed: 11)
        for n in [2, 3, 7, 30, 141, 568] {
            let original = tokens(n, &rng)
            let (inputs, targets) = try corruption.corrupt(original, using: &rng)
            XCTAssertEqual(inputs.last, eos)
            XCTAssertEqual(targets.last, eos)
            XCTAssertEqual(targets.first, sentinels[0])
            let inputSentinels = inputs.filter { $0 >= 1000 }.map { Int($0 - 1000) }
            let targetSentinels = targets.filter { $0 >= 1000 }.map { Int($0 - 1000) }
            XCTAssertEqual(inputSentinels, Array(0 ..< inputSentinels.count))
            XCTAssertEqual(targetSentinels, inputSentinels)
            XCTAssertEqual(inputSentinels.count, corruption.counts(length: n).spans)
            // Rebuild: every sentinel in the inputs is replaced by its span from the targets.
            var spans: [[Int32]] = []
            for t in targets.dropLast() {
                if t >= 1000 { spans.append([]) } else { spans[spans.count - 1].append(t) }
            }
            var rebuilt: [Int32] = []
            for t in inputs.dropLast() {
                if t >= 1000 { rebuilt += spans[Int(t - 1000)] } else { rebuilt.append(t) }
            }
            XCTAssertEqual(rebuilt, original, "length \(n)")
            XCTAssertEqual(inputs.count, n - corruption.counts(length: n).noise + inputSentinels.count + 1)
        }
    }

    func testDeterministicForASeed() throws {
        var r0 = SeededGenerator(seed: 3)
        let original = tokens(141, &r0)
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
        let x = try corruption.corrupt(original, using: &a)
        let y = try corruption.corrupt(original, using: &b)
        let z = try corruption.corrupt(original, using: &c)
        XCTAssertEqual(x.inputs, y.inputs)
        XCTAssertEqual(x.targets, y.targets)
        XCTAssertNotEqual(x.inputs, z.inputs)
    }

    /// More spans than sentinels is an error naming the option to change, not a crash.
    func testTooManySpansIsAnError() {
        let few = SpanCorruption(sentinels: [1000, 1001], eos: 1)
        var rng = SeededGenerator(seed: 1)
        let original = tokens(100, &rng) // 15 noise tokens, 5 spans
        XCTAssertThrowsError(try few.corrupt(original, using: &rng)) { error in
            XCTAssert("\(error)".contains("--sequence-length"), "\(error)")
        }
    }

    /// Epoch streams and batches are pure functions of (seed, epoch, batch): the same every
    /// time, every document once per epoch, different order across epochs.
    func testExampleStreamIsDeterministicAndCoversEveryDocument() throws {
        var rng = SeededGenerator(seed: 5)
        let docs = (0 ..< 40).map { _ in tokens(3 + Int(rng.next() % 30), &rng) }
        let examples = try PretrainExamples(documents: docs, corruption: corruption, rawLength: 25, batchSize: 4, seed: 9)
        let s1 = examples.stream(epoch: 1), s2 = examples.stream(epoch: 2)
        XCTAssertEqual(s1.count, examples.tokensPerEpoch)
        XCTAssertEqual(s1.filter { $0 == eos }.count, 40)
        XCTAssertEqual(s1.sorted(), s2.sorted())
        XCTAssertNotEqual(s1, s2)
        XCTAssertEqual(s1, examples.stream(epoch: 1))
        let b = try examples.batch(epoch: 1, index: 2, stream: s1)
        let again = try examples.batch(epoch: 1, index: 2, stream: s1)
        XCTAssertEqual(b.inputs, again.inputs)
        XCTAssertEqual(b.targets, again.targets)
        var chunks = 0
        for i in 0 ..< examples.batchesPerEpoch { chunks += try examples.batch(epoch: 1, index: i, stream: s1).inputs.count }
        XCTAssertEqual(chunks, examples.chunksPerEpoch)
    }
}
