import Foundation
import Support
import Tokenizer
import XCTest

/// Encoding throughput (long test: IDGENREC_LONG_TESTS=1). Trains an 8000-piece unigram model
/// (T5 defaults) on the Beauty item texts from the shared datasets, then encodes those texts
/// with 1 and 2 threads and prints tokens per second (median of 5 passes).
final class ThroughputTests: XCTestCase {
    func testEncodingThroughput() throws {
        guard ProcessInfo.processInfo.environment["IDGENREC_LONG_TESTS"] == "1" else {
            throw XCTSkip("encoding throughput benchmark: set IDGENREC_LONG_TESTS=1 (make test-long) to run")
        }
        let packageRoot = SharedDatasets.packageRoot(from: #filePath)
        guard let datasets = SharedDatasets.root(packageRoot: packageRoot) else {
            throw XCTSkip("shared datasets not found (../shared/datasets or $IDGENREC_DATASETS): needed for the throughput benchmark")
        }
        let itemFile = datasets.appendingPathComponent("beauty/item_plain_text.txt")
        // Each line: "<item id> title: ...; categories: ..."; keep the text after the id.
        let texts = try String(contentsOf: itemFile, encoding: .utf8).split(separator: "\n").map { line -> String in
            guard let space = line.firstIndex(of: " ") else { return String(line) }
            return String(line[line.index(after: space)...])
        }
        var options = TrainingOptions()
        options.vocabularySize = 8000
        let trainStart = Date()
        let tokenizer = try Tokenizer.train(sentences: texts, options: options)
        let trainSeconds = Date().timeIntervalSince(trainStart)

        let batch = Array(repeating: texts, count: 4).flatMap { $0 }  // ~48k texts
        let bytes = batch.reduce(0) { $0 + $1.utf8.count }
        let tokens = tokenizer.encode(batch: batch, threads: 2).reduce(0) { $0 + $1.count }
        func median(threads: Int) -> Double {
            var seconds: [Double] = []
            for _ in 0 ..< 5 {
                let start = DispatchTime.now().uptimeNanoseconds
                let ids = tokenizer.encode(batch: batch, threads: threads)
                seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                precondition(ids.count == batch.count)
            }
            return seconds.sorted()[2]
        }
        let one = median(threads: 1)
        let two = median(threads: 2)
        Log.info(String(format: "tokenizer throughput: %d texts, %d bytes, %d tokens (%.1f tokens/text); vocab %d trained in %.2f s",
                        batch.count, bytes, tokens, Double(tokens) / Double(batch.count), tokenizer.vocabularySize, trainSeconds))
        Log.info(String(format: "tokenizer throughput: 1 thread %.0f tokens/s (%.1f MB/s), 2 threads %.0f tokens/s (%.1f MB/s), speed-up %.2fx",
                        Double(tokens) / one, Double(bytes) / one / 1e6, Double(tokens) / two, Double(bytes) / two / 1e6, one / two))
        XCTAssertGreaterThan(tokens, batch.count)
    }
}
