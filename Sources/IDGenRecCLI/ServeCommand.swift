import ArgumentParser
import Dispatch
import Foundation
import Recommender
import Server
import Support
import TextEncoder

/// `idgenrec serve --run DIR --data PATH [--host 127.0.0.1] [--port 8080]`: recommendations and
/// IDs for new items over HTTP (docs/serve.md). The Server target does the work; this parses.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve recommendations and IDs for new items over HTTP (docs/serve.md).",
        discussion: """
        Routes: POST /recommend, POST /items, GET /items/{id}, GET /health, GET /metrics. \
        SIGTERM or SIGINT stops accepting, finishes the requests in flight and exits.
        """)

    @Option(name: .customLong("run"), help: "Run folder.") var runFolder: String
    @Option(name: .long, help: "Dataset folder (the run's).") var data: String
    @OptionGroup var dataset: DatasetOptions
    @Option(name: .long, help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(name: .long, help: "Port (0 picks a free one; the log names it).") var port: Int = 8080
    @Option(name: .long, help: "Milliseconds an idle worker waits for more /recommend requests to rank together.") var batchWindowMs: Double = 2
    @Option(name: .long, help: "Most /recommend requests ranked in one pass.") var maxBatch: Int = 16
    @Option(name: .long, help: "Largest request body in bytes (larger gets 413).") var maxBodyBytes: Int = 1 << 20
    @Option(name: .long, help: "Worker threads ranking side by side (more than 1 turns off the 2-way split inside ops).") var workers: Int = 2
    @Option(name: .long, help: "Sentence-transformers BERT folder, for runs on semantic IDs and item-token runs with content rows (default: $IDGENREC_ENCODER, else checkpoints/encoders/all-MiniLM-L6-v2).") var encoder: String?

    func run() throws {
        try runReportingErrors {
            guard (0 ... 65535).contains(port) else { throw ValidationErrorMessage(message: "--port: expected 0…65535, found \(port)") }
            guard maxBatch >= 1 else { throw ValidationErrorMessage(message: "--max-batch: expected at least 1, found \(maxBatch)") }
            guard batchWindowMs >= 0 else { throw ValidationErrorMessage(message: "--batch-window-ms: expected 0 or more, found \(batchWindowMs)") }
            guard (1 ... 64).contains(workers) else { throw ValidationErrorMessage(message: "--workers: expected 1…64, found \(workers)") }
            guard maxBodyBytes >= 1024 else { throw ValidationErrorMessage(message: "--max-body-bytes: expected at least 1024, found \(maxBodyBytes)") }
            let (domain, _) = try dataset.load(data)
            let folder = URL(fileURLWithPath: runFolder)
            var options = ServeOptions()
            options.batchWindow = batchWindowMs / 1000
            options.maxBatch = maxBatch
            options.maxBodyBytes = maxBodyBytes
            options.workers = workers
            options.encoder = EncoderFolder.resolve(explicit: encoder)
            // An item-token run is served by one-step scores over every item, any other by beam
            // search under the ID trie (ServeEngine.load follows run.json).
            let engine = try ServeEngine.load(run: folder, domain: domain, dataPath: data, options: options)
            if let content = engine.config.itemContent {
                throw ValidationErrorMessage(message: "\(folder.path) was trained with --item-content \(content.mode.rawValue); serve does not add item content to its prompts yet (use idgenrec recommend / evaluate for this run)")
            }
            let catalog = engine.catalog
            let ranking = engine.isItemToken ? "item-token scores over every item (rows \(engine.config.itemToken?.rows.rawValue ?? "?"))" : "beams \(engine.config.numBeams)"
            Log.info("serving \(runFolder): \(catalog.count) items (\(catalog.count - catalog.baseCount) added while serving), \(ranking); new item IDs from \(engine.idSource)")
            let done = DispatchSemaphore(value: 0)
            let outcome = Outcome()
            let (host, port) = (host, port)
            Task.detached {
                do {
                    try await ServeServer.run(engine: engine, host: host, port: port) { bound in
                        Log.info("listening on http://\(host):\(bound)")
                    }
                } catch {
                    outcome.set(error)
                }
                done.signal()
            }
            done.wait()
            if let error = outcome.error { throw ValidationErrorMessage(message: "serve: \(error)") }
            Log.info("stopped")
        }
    }
}

/// The server task's error, handed to the waiting command thread.
private final class Outcome: @unchecked Sendable {
    // @unchecked: written once by the server task before `done.signal()`, read after `done.wait()`.
    var error: (any Error)?
    func set(_ error: any Error) { self.error = error }
}
