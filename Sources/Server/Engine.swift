import Corpora
import Decoding
import Foundation
import IDGen
import Recommender
import Support
import T5
import TensorCore

/// Batching and limits of `idgenrec serve`.
public struct ServeOptions: Sendable {
    /// How long the worker waits for more /recommend requests after the first one arrives while
    /// it was idle (seconds). Requests that arrive while a batch is ranked join the next batch
    /// without waiting, so under load batches fill by themselves.
    public var batchWindow: Double = 0.002
    /// Most /recommend requests ranked in one pass.
    public var maxBatch: Int = 16
    /// Worker threads ranking batches side by side. With more than one, each ranks on its own
    /// core and the engine's 2-way split inside an op is turned off (`Parallel.splitEnabled`),
    /// which costs less than the split's hand-offs on small batches (docs/serve.md#speed).
    public var workers: Int = 2
    /// Largest request body accepted (bytes); larger gets 413.
    public var maxBodyBytes: Int = 1 << 20
    /// Most items in one POST /items.
    public var maxItemsPerRequest: Int = 1000
    /// The sentence encoder folder, loaded only when the run's IDs are semantic words or codes
    /// (POST /items then names new items the way `ids generate --generator semantic --existing`,
    /// or codes them with the run's quantiser as `ids generate --scheme semantic --existing` does),
    /// or when the run is an item-token run with content rows (new items' rows come from their
    /// sentence embeddings; it must be the encoder the run's item embeddings were made with).
    public var encoder: URL?
    public init() {}
}

/// One validated /recommend request.
struct RankJob {
    var history: [Int]
    var user: Int
    var count: Int
    var finish: @Sendable (Result<[Recommendation], any Error>) -> Void
}

/// One validated POST /items request.
struct AddJob {
    var items: [AddedItem]
    var finish: @Sendable (Result<[(item: String, textualID: String)], any Error>) -> Void
}

/// The loaded run and the worker threads that do all model work.
///
/// A textual-ID run ranks by beam search under the trie of the served IDs; an item-token run
/// (`ItemTokenServing`) scores every served item in one decoder step and takes the exact top-k,
/// with an output row per served item (items added while serving get theirs from their ID or
/// text, or POST /items is refused when the run's rows cannot make one).
///
/// Model calls (ranking, ID generation) run on worker threads, never on the server's event
/// loops. Requests reach the workers through `queue`, in arrival order; handlers read the current
/// `ServedCatalog` to validate their input. Ranking reads only immutable state (the model's
/// weights, one `ServedCatalog` version), so workers rank side by side. Additions run one at a
/// time (`addition` lock), which is what keeps concurrent /items calls from taking the same ID;
/// a ranking pass that started before an addition finishes on the catalog version it began with.
public final class ServeEngine: @unchecked Sendable {
    // @unchecked: `served` and `rows` are guarded by `lock`, `queue`/`stopping`/`busy` by
    // `condition`, `newIDs` and `added` by `addition`; `trainer`, `ranker` are read-only after `init`.
    public let run: URL
    public let options: ServeOptions
    /// The run's data (tokenizer, prompts, split) and settings.
    let trainer: RecommenderTrainer
    let ranker: Ranker
    let newIDs: NewItemIDs
    private var added: [AddedItem]
    private var served: ServedCatalog
    /// Item-token runs: one output row per served item [served items, d_model], replaced with
    /// `served` on each addition.
    private var rows: Tensor?
    private let lock = NSLock()
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var stopping = false
    private var busy = 0
    private var splitWas: Bool?
    private var threads = 0
    private let addition = NSLock()
    private let finished = DispatchSemaphore(value: 0)
    /// Called with each ranked batch's size (metrics).
    var onBatch: (@Sendable (Int) -> Void)?

    enum Job {
        case rank(RankJob)
        case add(AddJob)
    }

    /// How the run ranks.
    enum Ranker {
        /// A textual-ID run: the T5 and its inference weights (fused projections, packed head),
        /// made once: the model does not change while serving.
        case beams(T5Model, T5InferenceWeights)
        /// An item-token run.
        case itemToken(ItemTokenServing)
    }

    /// Loads the run in `folder` for serving, following its scheme (`run.json`): an item-token
    /// run through `ItemTokenRunner.load`, any other through `RecommenderPipeline.load`.
    public static func load(run folder: URL, domain: Domain, dataPath: String, options: ServeOptions = ServeOptions()) throws -> ServeEngine {
        if RecommenderPipeline.isItemTokenRun(folder) {
            return try ServeEngine(run: folder, itemToken: ItemTokenRunner.load(folder: folder, domain: domain, dataPath: dataPath), options: options)
        }
        return try ServeEngine(run: folder, runner: RecommenderPipeline.load(folder: folder, domain: domain, dataPath: dataPath), options: options)
    }

    /// Takes a loaded textual-ID run (`RecommenderPipeline.load`) and the items it served before
    /// (rows of its `ids.tsv` past the catalog, with texts from `served-items.json`). An
    /// item-token run is refused: its model scores items in one step (`init(run:itemToken:options:)`).
    public convenience init(run: URL, runner: RecommenderRunner, options: ServeOptions = ServeOptions()) throws {
        guard !runner.trainer.config.isItemToken else {
            throw ServeError(500, "\(run.path) is an item-token run: serve it through ServeEngine.load or init(run:itemToken:), which score every item in one decoder step", field: "run")
        }
        try self.init(run: run, trainer: runner.trainer, ranker: .beams(runner.model, T5InferenceWeights(runner.model)), options: options)
    }

    /// Takes a loaded item-token run (`ItemTokenRunner.load`) and the items it served before;
    /// their output rows are rebuilt from their IDs (id-mean rows) or texts (content rows, with
    /// `options.encoder`). Refused: runs with user IDs (as `ItemTokenRunner.recommend` refuses
    /// them), and added items that the run's rows cannot score.
    public convenience init(run: URL, itemToken runner: ItemTokenRunner, options: ServeOptions = ServeOptions()) throws {
        guard !runner.config.useUserIDs else {
            throw ServeError(500, "\(run.path) is an item-token run trained with user IDs, which the item-token scheme's recommend does not support yet; serve refuses it too", field: "run")
        }
        try self.init(run: run, trainer: runner.trainer, ranker: .itemToken(ItemTokenServing(runner: runner, encoderURL: options.encoder)), options: options)
    }

    private init(run: URL, trainer: RecommenderTrainer, ranker: Ranker, options: ServeOptions) throws {
        self.run = run
        self.trainer = trainer
        self.ranker = ranker
        self.options = options
        let data = trainer.data
        var catalog = ServedCatalog(data: data)
        let manifest = try JSONOutput.decode(RunManifest.self, from: RunFolder.manifestURL(run))
        let table = try IDTable.read(RunFolder.idsURL(run))
        let texts = try AddedItemsFile.read(run)
        var added: [AddedItem] = []
        if table.count > catalog.baseCount {
            let byID = Dictionary(texts.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            var rows: [(id: String, fields: [TextField], textualID: String, tokens: [Int32])] = []
            for row in catalog.baseCount ..< table.count {
                let id = table.itemIDs[row]
                guard let item = byID[id] else {
                    throw ServeError(500, "\(RunFolder.idsURL(run).path):\(row + 1): item \(id) is past the catalog but has no text in \(AddedItemsFile.url(run).path)", field: "ids.tsv")
                }
                added.append(item)
                rows.append((id, item.fields, table.textualIDs[row], data.tokenizer.encode(table.textualIDs[row])))
            }
            catalog = try catalog.adding(rows, eos: data.eos)
        }
        self.added = added
        served = catalog
        if case let .itemToken(scoring) = ranker {
            do {
                rows = try scoring.rows(for: catalog)
            } catch let error as ServeError {
                throw ServeError(500, "\(added.count) items were added to \(run.path) while serving (\(AddedItemsFile.url(run).lastPathComponent)), but their rows cannot be rebuilt: \(error.message)", field: "served-items.json")
            }
        }
        newIDs = try NewItemIDs(run: run, idsSource: manifest.idsSource, catalog: catalog.catalog, encoder: options.encoder, codes: manifest.config.codes)
    }

    public var catalog: ServedCatalog {
        lock.lock()
        defer { lock.unlock() }
        return served
    }

    /// The served catalog with its item rows (item-token runs), one consistent version.
    private var current: (catalog: ServedCatalog, rows: Tensor?) {
        lock.lock()
        defer { lock.unlock() }
        return (served, rows)
    }

    public var idSource: String { newIDs.source }
    public var config: RecommenderConfig { trainer.config }
    /// Whether the run is an item-token run (one decoder step, exact scores over every item).
    public var isItemToken: Bool {
        if case .itemToken = ranker { return true }
        return false
    }

    // MARK: requests

    /// Checks a /recommend request against the served catalog; throws `ServeError` naming the field.
    func validate(history: [String], count: Int, user: String?) throws -> (history: [Int], user: Int) {
        let catalog = catalog
        guard !history.isEmpty else { throw ServeError(400, "expected at least one item id", field: "history") }
        var indices: [Int] = []
        indices.reserveCapacity(history.count)
        for (i, id) in history.enumerated() {
            guard let index = catalog.catalog.index(of: id) else {
                throw ServeError(404, "item '\(id)' is not in the catalog", field: "history[\(i)]")
            }
            indices.append(index)
        }
        guard (1 ... catalog.count).contains(count) else {
            throw ServeError(400, "expected 1…\(catalog.count) (the catalog's size), found \(count)", field: "k")
        }
        let data = trainer.data
        var userIndex = 0
        if config.useUserIDs {
            guard let user else { throw ServeError(400, "this run's prompts hold user IDs; name a user of the run's data", field: "user") }
            guard let u = data.split.users.firstIndex(of: user) else { throw ServeError(404, "'\(user)' is not a user of the run's data", field: "user") }
            userIndex = u
        } else if user != nil {
            throw ServeError(400, "this run was trained without user IDs (its prompts name no user)", field: "user")
        }
        return (indices, userIndex)
    }

    func recommend(history: [Int], user: Int, count: Int) async throws -> [Recommendation] {
        try await withCheckedThrowingContinuation { continuation in
            submit(.rank(RankJob(history: history, user: user, count: count) { continuation.resume(with: $0) }))
        }
    }

    func add(_ items: [AddedItem]) async throws -> [(item: String, textualID: String)] {
        try await withCheckedThrowingContinuation { continuation in
            submit(.add(AddJob(items: items) { continuation.resume(with: $0) }))
        }
    }

    private func submit(_ job: Job) {
        condition.lock()
        if stopping {
            condition.unlock()
            let error = ServeError(503, "the server is shutting down", field: "")
            switch job {
            case let .rank(r): r.finish(.failure(error))
            case let .add(a): a.finish(.failure(error))
            }
            return
        }
        queue.append(job)
        condition.signal()
        condition.unlock()
    }

    // MARK: worker

    public func start() {
        let count = max(1, options.workers)
        if count > 1 {
            splitWas = Parallel.splitEnabled
            Parallel.splitEnabled = false
        }
        threads = count
        for n in 0 ..< count {
            let thread = Thread { [self] in
                work()
                finished.signal()
            }
            thread.name = "idgenrec-serve-worker-\(n)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Finishes the queued requests, then ends the workers.
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        for _ in 0 ..< threads { finished.wait() }
        threads = 0
        if let splitWas { Parallel.splitEnabled = splitWas }
        splitWas = nil
    }

    private func work() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty {
                condition.unlock()
                return
            }
            if case .rank = queue[0], busy == 0, queue.count < options.maxBatch, options.batchWindow > 0, !stopping {
                // An idle engine collects for a short window; under load, requests queue up while
                // the workers rank, and a batch forms without waiting.
                let deadline = Date(timeIntervalSinceNow: options.batchWindow)
                while queue.count < options.maxBatch, !stopping, condition.wait(until: deadline) {}
                if queue.isEmpty {
                    condition.unlock()
                    continue
                }
            }
            // Share the queue with the idle workers: each takes its part, up to maxBatch.
            let idle = max(1, threads - busy)
            let share = min(options.maxBatch, (queue.count + idle - 1) / idle)
            var ranks: [RankJob] = []
            var addition: AddJob?
            while !queue.isEmpty, ranks.count < share {
                if case let .rank(job) = queue[0] {
                    ranks.append(job)
                    queue.removeFirst()
                } else if ranks.isEmpty, case let .add(job) = queue[0] {
                    addition = job
                    queue.removeFirst()
                    break
                } else {
                    break
                }
            }
            busy += 1
            if !queue.isEmpty { condition.signal() }
            condition.unlock()
            if !ranks.isEmpty { rank(ranks) }
            if let addition {
                self.addition.lock()
                addition.finish(Result { try addItems(addition.items) })
                self.addition.unlock()
            }
            condition.lock()
            busy -= 1
            condition.unlock()
        }
    }

    /// Ranks a batch: one scoring pass (item-token runs) or one pass per beam width.
    private func rank(_ jobs: [RankJob]) {
        onBatch?(jobs.count)
        switch ranker {
        case let .beams(model, weights): search(jobs, model: model, weights: weights)
        case let .itemToken(scoring): score(jobs, scoring: scoring)
        }
    }

    /// Item-token runs: the batch's prompts in one encoder pass and one decoder step, exact
    /// top-k over every served item, as `ItemTokenRunner.recommend` ranks.
    private func score(_ jobs: [RankJob], scoring: ItemTokenServing) {
        let (catalog, rows) = current
        guard let rows else {
            for job in jobs { job.finish(.failure(ServeError(500, "no item rows", field: ""))) }
            return
        }
        let ranked = scoring.rank(histories: jobs.map(\.history), counts: jobs.map(\.count), catalog: catalog, rows: rows, data: trainer.data)
        for (job, items) in zip(jobs, ranked) {
            job.finish(.success(items.map { item in
                Recommendation(itemID: catalog.catalog.ids[item.index], textualID: catalog.textualIDs[item.index],
                               title: catalog.titles[item.index], score: item.score)
            }))
        }
    }

    /// Textual-ID runs: requests wanting the same beam width share one encoder and beam-search
    /// pass, the same search `RecommenderRunner.recommend` runs (template 0, beams =
    /// max(run's beams, k), trie over every served ID, no length penalty, no early stop).
    private func search(_ jobs: [RankJob], model: T5Model, weights: T5InferenceWeights) {
        let catalog = catalog
        let data = trainer.data
        let groups = Dictionary(grouping: jobs.indices) { max(config.numBeams, jobs[$0].count) }
        for (beams, members) in groups.sorted(by: { $0.key < $1.key }) {
            do {
                let inputs = members.map { i in
                    data.prompts.encode(history: Array(jobs[i].history.suffix(data.split.historyCap)), template: 0,
                                        itemTokens: catalog.itemTokens, userTokens: data.userTokens?[jobs[i].user]).tokens
                }
                var gen = GenerationConfig(maxNewTokens: catalog.longestID + 1)
                gen.numBeams = beams
                gen.numReturnSequences = beams
                gen.eosTokenId = data.eos
                gen.earlyStopping = .never
                gen.lengthPenalty = 0
                let results = try model.generate(inputs: inputs, config: gen, constraint: catalog.trie, batchSize: config.evaluationBatchSize,
                                                       weights: weights)
                for (i, result) in zip(members, results) {
                    var seen = Set<Int>()
                    let items = result.realSequences.compactMap { seq in
                        catalog.trie.index(of: seq.tokens).map { (index: $0, score: seq.score) }
                    }.filter { seen.insert($0.index).inserted }
                    jobs[i].finish(.success(items.prefix(jobs[i].count).map { item in
                        Recommendation(itemID: catalog.catalog.ids[item.index], textualID: catalog.textualIDs[item.index],
                                       title: catalog.titles[item.index], score: item.score)
                    }))
                }
            } catch {
                for i in members { jobs[i].finish(.failure(error)) }
            }
        }
    }

    /// Gives new items IDs, adds them to the trie, and writes `served-items.json` then `ids.tsv`
    /// (each atomically: a crash leaves the previous table or the new one, never a partial file;
    /// a text without a table row is ignored on restart).
    private func addItems(_ items: [AddedItem]) throws -> [(item: String, textualID: String)] {
        let (current, currentRows) = self.current
        for (i, item) in items.enumerated() where current.catalog.contains(item.id) {
            throw ServeError(409, "item '\(item.id)' exists already", field: "items[\(i)].id")
        }
        // Before any ID is assigned: a refused addition leaves the ID generator's statistics as they were.
        if case let .itemToken(scoring) = ranker, let refusal = scoring.noNewRows { throw refusal }
        let data = trainer.data
        let texts = items.map { ItemText(id: $0.id, fields: $0.fields.map { ($0.key, $0.value) }) }
        let ids = try newIDs.assign(texts, used: Set(current.textualIDs), usedTokens: Set(current.itemTokens), table: { try current.table() },
                                    tokenize: { data.tokenizer.encode($0) })
        let rows = zip(items, ids).map { item, id in (id: item.id, fields: item.fields, textualID: id, tokens: data.tokenizer.encode(id)) }
        let next = try current.adding(rows, eos: data.eos)
        var nextRows: Tensor?
        if case let .itemToken(scoring) = ranker, let currentRows {
            nextRows = Ops.concat([currentRows, try scoring.rows(of: Array(current.count ..< next.count), in: next)], axis: 0)
        }
        let table = try next.table()
        do {
            try AddedItemsFile.write(added + items, run: run)
            try table.write(to: RunFolder.idsURL(run))
        } catch {
            throw ServeError(500, "could not write the run's ID table: \(error)", field: "")
        }
        added += items
        lock.lock()
        served = next
        self.rows = nextRows
        lock.unlock()
        return zip(items, ids).map { ($0.id, $1) }
    }
}
