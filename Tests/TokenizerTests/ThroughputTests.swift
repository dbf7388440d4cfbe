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
        // Wall time, process CPU time (user + system) and context switches: on a machine shared
        // with other jobs the wall-clock speed-up of 2 threads understates the scaling. Equal CPU
        // time for 1 and 2 threads and almost no voluntary switches mean the threads do not
        // contend (no locks); involuntary switches count preemption by other processes.
        struct Run { var wall: Double; var cpu: Double; var voluntary: Int; var involuntary: Int }
        func usage() -> rusage {
            var u = rusage()
            getrusage(RUSAGE_SELF.rawValue, &u)
            return u
        }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        func median(threads: Int) -> Run {
            var runs: [Run] = []
            for _ in 0 ..< 5 {
                let u0 = usage()
                let start = DispatchTime.now().uptimeNanoseconds
                let ids = tokenizer.encode(batch: batch, threads: threads)
                let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let u1 = usage()
                precondition(ids.count == batch.count)
                runs.append(Run(wall: wall,
                                cpu: seconds(u1.ru_utime) + seconds(u1.ru_stime) - seconds(u0.ru_utime) - seconds(u0.ru_stime),
                                voluntary: u1.ru_nvcsw - u0.ru_nvcsw, involuntary: u1.ru_nivcsw - u0.ru_nivcsw))
            }
            return runs.sorted { $0.wall < $1.wall }[2]
        }
        let t = Double(tokens)
        Log.info(String(format: "tokenizer throughput: %d texts, %d bytes, %d tokens (%.1f tokens/text); vocab %d trained in %.2f s; load average %@",
                        batch.count, bytes, tokens, t / Double(batch.count), tokenizer.vocabularySize, trainSeconds,
                        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")))
        var walls: [Int: Double] = [:]
        for threads in [1, 2] {
            let run = median(threads: threads)
            walls[threads] = run.wall
            Log.info(String(format: "tokenizer throughput: %d thread(s): %.2f M tokens/s, %.1f MB/s (wall %.3f s, CPU %.3f s, context switches %d voluntary / %d involuntary)",
                            threads, t / run.wall / 1e6, Double(bytes) / run.wall / 1e6, run.wall, run.cpu, run.voluntary, run.involuntary))
        }
        Log.info(String(format: "tokenizer throughput: 2-thread wall speed-up %.2fx", walls[1]! / walls[2]!))
        XCTAssertGreaterThan(tokens, batch.count)
    }
}
