import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Support
import XCTest

/// `idgenrec serve` end to end on an item-token run: the binary follows run.json, and
/// /recommend answers with the items `idgenrec recommend --run` prints, in its order.
final class ServeCLITests: XCTestCase {
    func testServeFollowsAnItemTokenRunAndMatchesRecommend() throws {
        let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let base = ScratchSpace.root.appendingPathComponent("serve-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let run = base.appendingPathComponent("run")
        let data = ["--data", kitchen, "--sample-users", "40"]
        let t = try CLI.run(["train"] + data + ["--preset", "tiny", "--epochs", "1", "--batch-size", "16", "--validation-users", "10",
                                                "--test-users", "10", "--scheme", "item-token", "--item-rows", "learned", "--item-input", "add", "--out", run.path])
        XCTAssertEqual(t.status, 0, t.stderr)
        let ids = try String(contentsOf: run.appendingPathComponent("ids.tsv"), encoding: .utf8).split(separator: "\n").map { String($0.split(separator: "\t")[0]) }
        let histories = [Array(ids.prefix(3)), [ids[10]], [ids[7], ids[7], ids[20], ids[3]]]
        var expected: [[String]] = []
        for history in histories {
            let r = try CLI.run(["recommend", "--run", run.path] + data + ["--history", history.joined(separator: ","), "-k", "8"])
            XCTAssertEqual(r.status, 0, r.stderr)
            expected.append(r.stdout.split(separator: "\n").dropFirst().map { String($0.split(separator: "\t")[1]) })
            XCTAssertEqual(expected.last?.count, 8, r.stdout)
        }

        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["serve", "--run", run.path] + data + ["--port", "0", "--workers", "1"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
        var log = "", port: Int?
        let deadline = Date(timeIntervalSinceNow: 120)
        while port == nil, Date() < deadline, process.isRunning {
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            log += String(decoding: chunk, as: UTF8.self)
            port = log.range(of: #"listening on http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression).flatMap { Int(log[$0].split(separator: ":").last ?? "") }
        }
        let bound = try XCTUnwrap(port, log)
        XCTAssert(log.contains("item-token scores over every item"), log)

        for (history, expected) in zip(histories, expected) {
            let (status, body) = try post(port: bound, path: "/recommend", json: ["history": history, "k": 8])
            XCTAssertEqual(status, 200, body)
            let list = (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["recommendations"] as? [[String: Any]] ?? []
            XCTAssertEqual(list.compactMap { $0["item"] as? String }, expected, "history \(history)")
        }
        let (status, body) = try post(port: bound, path: "/items", json: [["id": "new1", "title": "steel chef knife"]])
        XCTAssertEqual(status, 422, body)
        XCTAssert(body.contains("learned item rows"), body)
    }

    /// POSTs `json` to the local server; the status and body.
    func post(port: Int, path: String, json: Any) throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = "POST"
        request.httpBody = try JSONSerialization.data(withJSONObject: json)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let done = DispatchSemaphore(value: 0)
        let box = ResponseBox()
        URLSession.shared.dataTask(with: request) { data, response, error in
            box.result = (((response as? HTTPURLResponse)?.statusCode ?? 0), data.map { String(decoding: $0, as: UTF8.self) } ?? "\(error.map { "\($0)" } ?? "")")
            done.signal()
        }.resume()
        guard done.wait(timeout: .now() + 60) == .success, let result = box.result else { throw ServeCLIError("no answer from 127.0.0.1:\(port)\(path)") }
        return result
    }
}

private final class ResponseBox: @unchecked Sendable {
    // @unchecked: written by the session's callback before the semaphore is signalled, read after.
    var result: (status: Int, body: String)?
}

private struct ServeCLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
