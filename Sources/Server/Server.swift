import Corpora
import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus
import Recommender
import ServiceLifecycle

/// `idgenrec serve`: the HTTP front of a `ServeEngine` (docs/serve.md).
///
///     POST /recommend  {"history": ["item", …], "k": 10, "user": optional}
///     POST /items      [{"id", "title", "brand", "categories", "description"}, …]
///     GET  /items/{id}, GET /health, GET /metrics (Prometheus text format)
///
/// Bad input gets a 4xx with `{"error": "…", "field": "…"}`.
public enum ServeServer {
    /// Builds the application; `onRunning` gets the bound port (0 in `port` picks a free one).
    public static func application(engine: ServeEngine, host: String, port: Int, logger: Logger,
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let metrics = ServeMetrics(items: engine.catalog.count)
        engine.onBatch = { [metrics] in metrics.batchSizes.record(Double($0)) }
        let router = Router()
        router.middlewares.add(ErrorAndMetricsMiddleware(metrics: metrics))
        let limit = engine.options.maxBodyBytes

        router.post("/recommend") { request, _ -> Response in
            let body = try await collect(request, limit: limit)
            let query = try decode(RecommendRequest.self, from: body, root: "")
            let k = query.k ?? 10
            let (history, user) = try engine.validate(history: query.history, count: k, user: query.user)
            let items = try await engine.recommend(history: history, user: user, count: k)
            return json(RecommendResponse(recommendations: items.enumerated().map { r, item in
                .init(rank: r + 1, item: item.itemID, textual_id: item.textualID, title: item.title, score: item.score)
            }))
        }
        router.post("/items") { request, _ -> Response in
            let body = try await collect(request, limit: limit)
            let items = try decode([NewItem].self, from: body, root: "items")
            guard !items.isEmpty else { throw ServeError(400, "expected at least one item", field: "items") }
            guard items.count <= engine.options.maxItemsPerRequest else {
                throw ServeError(413, "at most \(engine.options.maxItemsPerRequest) items per request, found \(items.count)", field: "items")
            }
            var seen: [String: Int] = [:]
            var added: [AddedItem] = []
            for (i, item) in items.enumerated() {
                let id = item.id.trimmingCharacters(in: .whitespaces)
                guard !id.isEmpty, !id.contains(where: { $0 == "\t" || $0.isNewline }) else {
                    throw ServeError(400, "expected a non-empty id without tabs or line breaks", field: "items[\(i)].id")
                }
                if let first = seen[id] { throw ServeError(409, "item '\(id)' is also items[\(first)]", field: "items[\(i)].id") }
                seen[id] = i
                guard !item.fields.isEmpty else {
                    throw ServeError(400, "expected at least one non-empty text field (title, brand, categories, description)", field: "items[\(i)]")
                }
                added.append(AddedItem(id: id, fields: item.fields))
            }
            let ids = try await engine.add(added)
            metrics.items.set(Int64(engine.catalog.count))
            return json(AddResponse(items: ids.map { .init(item: $0.item, textual_id: $0.textualID) }), status: .created)
        }
        router.get("/items/:id") { _, context -> Response in
            let id = context.parameters.get("id") ?? ""
            let catalog = engine.catalog
            guard let i = catalog.catalog.index(of: id) else { throw ServeError(404, "item '\(id)' is not served", field: "id") }
            return json(ItemResponse(item: id, textual_id: catalog.textualIDs[i], title: catalog.titles[i],
                                     fields: Dictionary(catalog.catalog.fields[i].map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }),
                                     added: i >= catalog.baseCount))
        }
        router.get("/health") { _, _ -> Response in
            let catalog = engine.catalog
            return json(HealthResponse(status: "ok", run: engine.run.path, items: catalog.count, added_items: catalog.count - catalog.baseCount,
                                       beams: engine.config.numBeams, id_source: engine.idSource, scheme: engine.config.scheme ?? IDScheme.textual.rawValue))
        }
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            metrics.registry.emit(into: &buffer)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "idgenrec"),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    /// Serves until SIGTERM or SIGINT: then stops accepting, finishes the requests in flight, and
    /// lets the worker finish its queue (an /items call in flight writes its table first).
    public static func run(engine: ServeEngine, host: String, port: Int, logger: Logger = defaultLogger(),
                           onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let group = serviceGroup(engine: engine, host: host, port: port, logger: logger, onRunning: onRunning)
        engine.start() // after the routes set `engine.onBatch`
        defer { engine.stop() }
        try await group.run()
    }

    /// The server as a service group (tests run it and call `shutdown`); the caller starts the
    /// engine's workers after this returns and stops them after the group ends.
    public static func serviceGroup(engine: ServeEngine, host: String, port: Int, logger: Logger = defaultLogger(),
                                    handleSignals: Bool = true,
                                    onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> ServiceGroup {
        let app = application(engine: engine, host: host, port: port, logger: logger, onRunning: onRunning)
        return ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger))
    }

    /// Stops a `serviceGroup` as SIGTERM would: no new connections, requests in flight finish.
    public static func shutdown(_ group: ServiceGroup) async { await group.triggerGracefulShutdown() }

    /// Info-level log lines on standard error (swift-log's stream handler).
    public static func defaultLogger() -> Logger {
        var logger = Logger(label: "idgenrec.serve") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .info
        return logger
    }

    // MARK: bodies

    static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw ServeError(413, "the body is over \(limit) bytes", field: "body")
        } catch is NIOTooManyBytesError {
            throw ServeError(413, "the body is over \(limit) bytes", field: "body")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from body: ByteBuffer, root: String) throws -> T {
        func path(_ keys: [any CodingKey]) -> String {
            var out = root
            for key in keys {
                if let i = key.intValue { out += "[\(i)]" } else { out += out.isEmpty ? key.stringValue : "." + key.stringValue }
            }
            return out.isEmpty ? "body" : out
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch let DecodingError.keyNotFound(key, context) {
            throw ServeError(400, "missing field", field: path(context.codingPath + [key]))
        } catch let DecodingError.typeMismatch(expected, context) {
            throw ServeError(400, "expected \(jsonType(expected))", field: path(context.codingPath))
        } catch let DecodingError.valueNotFound(expected, context) {
            throw ServeError(400, "expected \(jsonType(expected)), found null", field: path(context.codingPath))
        } catch let DecodingError.dataCorrupted(context) {
            if context.codingPath.isEmpty { throw ServeError(400, "malformed JSON", field: "body") }
            throw ServeError(400, context.debugDescription, field: path(context.codingPath))
        }
    }

    static func jsonType(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type: return "an integer"
        case is Array<Any>.Type, is [String].Type, is [NewItem].Type: return "an array"
        case is Dictionary<String, Any>.Type: return "an object"
        default: return "\(type)".hasPrefix("Array") ? "an array" : "\(type)".hasPrefix("Dictionary") ? "an object" : "a value of type \(type)"
        }
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        return e
    }()

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

// MARK: JSON shapes

struct RecommendRequest: Decodable {
    var history: [String]
    var k: Int?
    var user: String?
}

/// One item of POST /items: an id and its text fields; `categories` is a string or a list.
struct NewItem: Decodable {
    var id: String
    var fields: [TextFieldValue]

    typealias TextFieldValue = Corpora.TextField
    enum Keys: String, CodingKey { case id, title, brand, categories, description }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        id = try c.decode(String.self, forKey: .id)
        var fields: [TextFieldValue] = []
        for key in [Keys.title, .brand, .categories, .description] {
            guard c.contains(key), try !c.decodeNil(forKey: key) else { continue }
            var value: String
            if key == .categories, let list = try? c.decode([String].self, forKey: key) {
                value = list.joined(separator: ", ")
            } else {
                value = try c.decode(String.self, forKey: key)
            }
            value = value.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\t", with: " ").trimmingCharacters(in: .whitespaces)
            if !value.isEmpty { fields.append(TextFieldValue(key.rawValue, value)) }
        }
        self.fields = fields
    }
}

struct RecommendResponse: Encodable {
    struct Item: Encodable {
        var rank: Int
        var item: String
        var textual_id: String
        var title: String
        var score: Float
    }
    var recommendations: [Item]
}

struct AddResponse: Encodable {
    struct Item: Encodable {
        var item: String
        var textual_id: String
    }
    var items: [Item]
}

struct ItemResponse: Encodable {
    var item: String
    var textual_id: String
    var title: String
    var fields: [String: String]
    var added: Bool
}

struct HealthResponse: Encodable {
    var status: String
    var run: String
    var items: Int
    var added_items: Int
    /// Beam width of the search (textual-ID and semantic-code runs; item-token runs do not search).
    var beams: Int
    var id_source: String
    /// The run's ID scheme (`run.json`): textual, semantic or item-token.
    var scheme: String
}

struct ErrorResponse: Encodable {
    var error: String
    var field: String
}

// MARK: metrics and errors

/// The Prometheus series: requests by route and status, latency by route, /recommend batch sizes,
/// served items.
final class ServeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let batchSizes: ValueHistogram
    let items: Gauge
    static let routes = ["/recommend", "/items", "/items/{id}", "/health", "/metrics", "other"]
    let latency: [String: DurationHistogram]

    init(items count: Int) {
        batchSizes = registry.makeValueHistogram(
            descriptor: .init(namespace: "idgenrec", metricName: "recommend_batch", unitName: "size", helpText: "Requests ranked in one batch"),
            buckets: [1, 2, 4, 8, 16, 32, 64])
        items = registry.makeGauge(descriptor: .init(namespace: "idgenrec", metricName: "served", unitName: "items", helpText: "Items that can be recommended"))
        items.set(Int64(count))
        let buckets: [Duration] = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(20), .milliseconds(50),
                                   .milliseconds(100), .milliseconds(200), .milliseconds(500), .seconds(1), .seconds(5)]
        var latency: [String: DurationHistogram] = [:]
        for route in Self.routes {
            latency[route] = registry.makeDurationHistogram(
                descriptor: .init(namespace: "idgenrec", metricName: "http_request_duration", unitName: "seconds", helpText: "Request latency"),
                labels: [("route", route)], buckets: buckets)
        }
        self.latency = latency
    }

    static func route(_ path: String) -> String {
        if path == "/recommend" || path == "/items" || path == "/health" || path == "/metrics" { return path }
        if path.hasPrefix("/items/") { return "/items/{id}" }
        return "other"
    }

    func record(route: String, status: Int, duration: Duration) {
        registry.makeCounter(
            descriptor: .init(namespace: "idgenrec", metricName: "http_requests", unitName: "total", helpText: "Requests by route and status"),
            labels: [("route", route), ("status", String(status))]).increment()
        latency[route]?.record(duration)
    }
}

/// Turns every error into `{"error", "field"}` with its status (a `ServeError`'s, a Hummingbird
/// `HTTPError`'s, else 500) and counts and times every request.
struct ErrorAndMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServeMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as ServeError {
            response = ServeServer.json(ErrorResponse(error: error.message, field: error.field), status: .init(code: error.status))
        } catch let error as HTTPError {
            response = ServeServer.json(ErrorResponse(error: error.body ?? error.status.reasonPhrase, field: error.status == .notFound ? "path" : ""),
                                        status: error.status)
        } catch {
            context.logger.error("request failed: \(error)")
            response = ServeServer.json(ErrorResponse(error: "\(error)", field: ""), status: .internalServerError)
        }
        metrics.record(route: ServeMetrics.route(request.uri.path), status: response.status.code, duration: ContinuousClock.now - start)
        return response
    }
}
