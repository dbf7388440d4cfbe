import ArgumentParser
import Autograd
import Corpora
import Decoding
import Foundation
import Optim
import Recommender
import Support
import T5
import TensorCore

/// `idgenrec bench train|generate`: T5 speed on random tokens, comparable with
/// `tools/bench_t5.py` (same config files, same AdamW, same timing rules; `make bench-t5`).
/// `idgenrec bench rank`: test-set ranking speed of a trained run, comparable with
/// `tools/bench_rank.py` (Hugging Face `generate` on the same prompts and trie; `make bench-rank`).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time T5 training steps or generation on random tokens, or a run's test-set ranking.",
        subcommands: [BenchTrain.self, BenchGenerate.self, BenchRank.self]
    )
}

struct BenchCommon: ParsableArguments {
    @Option(help: "Hugging Face T5 config.json (random weights are drawn from it).")
    var config: String
    @Option(help: "Batch size.")
    var batch: Int = 64
    @Option(help: "Source (encoder) length in tokens.")
    var sourceLength: Int = 128
    @Option(help: "Untimed runs first.")
    var warmup: Int = 3
    @Option(help: "Worker threads: 2 (default) or 1.")
    var threads: Int = 2
    @Option(help: "Seed of the weights and the random tokens.")
    var seed: UInt64 = 0
    @Option(help: "Also write the result as JSON to this file.")
    var json: String?

    func validate() throws {
        guard threads == 1 || threads == 2 else { throw ValidationError("--threads must be 1 or 2") }
        guard batch > 0, sourceLength > 0, warmup >= 0 else { throw ValidationError("--batch and --source-length must be positive") }
    }

    func setUp() throws -> (T5Model, SeededGenerator) {
        Parallel.splitEnabled = threads == 2
        Log.info(BLAS.backend.description)
        let cfg = try T5Config.load(URL(fileURLWithPath: config))
        var g = SeededGenerator(seed: seed)
        let model = try T5Model(config: cfg, generator: &g)
        return (model, g)
    }

    /// Random ids in 3..<vocab (0 pad, 1 eos, 2 unk excluded), as the Python reference.
    static func randomTokens(_ g: inout SeededGenerator, rows: Int, length: Int, vocab: Int) -> [[Int32]] {
        (0 ..< rows).map { _ in (0 ..< length).map { _ in Int32(3 + Int(g.next() % UInt64(vocab - 3))) } }
    }

    func emit(_ result: [String: Any]) throws {
        var r = result
        r["config"] = URL(fileURLWithPath: config).lastPathComponent
        r["threads"] = threads
        r["implementation"] = "swift"
        let blas = BLAS.backend
        r["blas_kernel"] = blas.kernel
        r["blas_config"] = blas.configuration
        r["openblas_coretype"] = blas.forcedCoreType ?? NSNull()
        r["openblas_l2_size"] = blas.l2Size ?? NSNull()
        let data = try JSONSerialization.data(withJSONObject: r, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
        if let json { try AtomicFile.write(data + Data("\n".utf8), to: URL(fileURLWithPath: json)) }
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func parameterCount(_ model: T5Model) -> Int { model.namedParameters().reduce(0) { $0 + $1.parameter.value.count } }

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "AdamW training steps (zero_grad, forward with dropout, backward, step); median ms per step.")
    @OptionGroup var common: BenchCommon
    @Option(help: "Target (decoder) length in tokens.")
    var targetLength: Int = 8
    @Option(help: "Timed steps.")
    var steps: Int = 20

    func run() throws {
        let (model, seeded) = try common.setUp()
        var g = seeded
        let vocab = model.config.vocab_size
        let opt = AdamW(groups: [ParameterGroup(parameters: model.namedParameters(), weightDecay: 0.01)],
                        learningRate: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-6)
        var dropout = g.fork()
        var times: [Double] = []
        var lastLoss: Float = 0
        let progress = ProgressLine("bench train", total: common.warmup + steps, unit: "step")
        for step in 0 ..< common.warmup + steps {
            // A fresh random batch each step, built outside the timed region.
            let batch = Seq2SeqBatch(
                sources: BenchCommon.randomTokens(&g, rows: common.batch, length: common.sourceLength, vocab: vocab),
                targets: BenchCommon.randomTokens(&g, rows: common.batch, length: targetLength, vocab: vocab))
            let t0 = DispatchTime.now().uptimeNanoseconds
            opt.zeroGrad()
            let loss = model.loss(batch, dropout: &dropout)
            loss.backward()
            opt.step()
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            lastLoss = loss.value.item
            if step >= common.warmup { times.append(dt) }
            progress.advance()
        }
        progress.finish()
        let med = median(times)
        let tokens = Double(common.batch * (common.sourceLength + targetLength))
        try common.emit([
            "mode": "train", "ms_per_step": med * 1e3, "tokens_per_second": tokens / med,
            "input_tokens_per_second": Double(common.batch * common.sourceLength) / med,
            "ms_per_step_min": times.min()! * 1e3, "ms_per_step_max": times.max()! * 1e3,
            "final_loss": Double(lastLoss), "steps": steps, "warmup": common.warmup, "batch": common.batch,
            "source_length": common.sourceLength, "target_length": targetLength,
            "parameters": parameterCount(model), "dropout_rate": Double(model.config.dropout_rate),
        ])
    }

    func validate() throws {
        guard steps > 0, targetLength > 0 else { throw ValidationError("--steps and --target-length must be positive") }
    }
}

struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Batched generation (encoder + KV-cached decoder + search); median ms per batch.")
    @OptionGroup var common: BenchCommon
    @Option(help: "Tokens generated per input.")
    var maxNewTokens: Int = 8
    @Option(help: "Beams (1 = greedy).")
    var numBeams: Int = 1
    @Option(help: "Timed generate calls.")
    var repeats: Int = 10
    @Flag(help: "Let eos end sequences early (by default exactly --max-new-tokens are generated, as the Python reference does).")
    var allowEarlyEos = false

    func run() throws {
        let (model, seeded) = try common.setUp()
        var g = seeded
        var config = GenerationConfig(maxNewTokens: maxNewTokens, numBeams: numBeams)
        if !allowEarlyEos { config.minNewTokens = maxNewTokens }
        var times: [Double] = []
        var generated = 0
        for rep in 0 ..< common.warmup + repeats {
            let inputs = BenchCommon.randomTokens(&g, rows: common.batch, length: common.sourceLength, vocab: model.config.vocab_size)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let results = try generate(model, inputs: inputs, config: config, batchSize: common.batch)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            generated = results.map { $0.sequences[0].tokens.count }.max() ?? 0
            if rep >= common.warmup { times.append(dt) }
        }
        try common.emit([
            "mode": "generate", "ms_per_batch": median(times) * 1e3, "ms_per_batch_min": times.min()! * 1e3,
            "ms_per_batch_max": times.max()! * 1e3, "generated_tokens": generated, "repeats": repeats,
            "warmup": common.warmup, "batch": common.batch, "source_length": common.sourceLength,
            "max_new_tokens": maxNewTokens, "num_beams": numBeams, "parameters": parameterCount(model),
        ])
    }

    func validate() throws {
        guard maxNewTokens > 0, numBeams > 0, repeats > 0 else {
            throw ValidationError("--max-new-tokens, --num-beams and --repeats must be positive")
        }
    }
}

/// Test-set ranking of a trained run (beam search under the ID trie, template-0 prompts) on a
/// seeded sample of users, timed, with everything `tools/bench_rank.py` needs to run Hugging
/// Face `generate` on the same inputs written to `--dump`.
struct BenchRank: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rank",
        abstract: "Users/s of a run's test-set ranking (beam search under the ID trie); dumps prompts, trie and ranks for tools/bench_rank.py.")

    @Option(name: .customLong("run"), help: "Run folder (best/ or last/, spiece.model, ids.tsv, run.json).") var runFolder: String
    @Option(name: .long, help: "Dataset folder (the run's).") var data: String
    @OptionGroup var dataset: DatasetOptions
    @Option(name: .long, help: "Seeded random sample of test users (all when the split has fewer).") var users: Int = 200
    @Option(name: .long, help: "Seed of the user sample.") var seed: UInt64 = 0
    @Option(name: .long, help: "Prompts per generate batch.") var batchSize: Int = 32
    @Option(name: .long, help: "Beams = items returned per user.") var beams: Int = 10
    @Option(help: "Worker threads: 2 (default) or 1.") var threads: Int = 2
    @Option(name: .long, help: "Folder for prompts.json, items.json, generation.json, swift_ranks.json.") var dump: String
    @Option(name: .long, help: "Write the timing as JSON to this file.") var json: String?

    func validate() throws {
        guard threads == 1 || threads == 2 else { throw ValidationError("--threads must be 1 or 2") }
        guard users > 0, batchSize > 0, beams > 0 else { throw ValidationError("--users, --batch-size and --beams must be positive") }
    }

    /// `prompts.json`: one encoder input per sampled user, in sample order.
    struct Prompts: Codable {
        var users: [String]
        var targets: [Int]
        var prompts: [[Int32]]
    }

    /// `items.json`: every catalog item's ID tokens + eos, in catalog order (the trie's sequences).
    struct Items: Codable {
        var items: [String]
        /// Each item's textual ID, whose tokens (plus eos) are `sequences`: lets a reference
        /// check that a Hugging Face tokenizer loaded from the run folder tokenises alike.
        var textual_ids: [String]
        var sequences: [[Int32]]
    }

    /// `generation.json`: the search, in Hugging Face `generate` argument names.
    struct Generation: Codable {
        var model_folder: String
        var num_beams: Int
        var num_return_sequences: Int
        var max_new_tokens: Int
        var eos_token_id: Int32
        var pad_token_id: Int32
        var decoder_start_token_id: Int32
        var early_stopping: EarlyStopping
        var length_penalty: Double
        var batch_size: Int
    }

    /// `swift_ranks.json`: per user the top catalog indices and their scores, best first.
    struct Ranks: Codable {
        var users: [String]
        var items: [[Int]]
        var scores: [[Float]]
    }

    func run() throws {
        try runReportingErrors {
            Parallel.splitEnabled = threads == 2
            Log.info(BLAS.backend.description)
            let (domain, _) = try dataset.load(data)
            let folder = URL(fileURLWithPath: runFolder)
            if RecommenderPipeline.isItemTokenRun(folder) {
                try benchItemToken(folder: folder, domain: domain)
                return
            }
            let runner = try RecommenderPipeline.load(folder: folder, domain: domain, dataPath: data)
            if let content = runner.trainer.config.itemContent {
                throw ValidationErrorMessage(message: "\(folder.path) was trained with --item-content \(content.mode.rawValue); bench rank times and dumps id-only prompts and does not support it yet (time idgenrec evaluate instead)")
            }
            var config = runner.trainer.config
            config.evaluationBatchSize = batchSize
            config.numBeams = beams
            let trainer = RecommenderTrainer(config: config, data: runner.trainer.data)
            let model = runner.model
            let data = trainer.data
            let targets = Evaluator.sample(data.split.targets(.test), count: users, seed: seed)
            guard !targets.isEmpty else { throw ValidationErrorMessage(message: "\(self.data) has no test users") }
            let inputs = trainer.rankingInputs(targets)
            let gen = trainer.rankingGenerationConfig

            let out = URL(fileURLWithPath: dump)
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            try AtomicFile.writeJSON(Prompts(users: targets.map(\.userID), targets: targets.map(\.target), prompts: inputs),
                                     to: out.appendingPathComponent("prompts.json"))
            try AtomicFile.writeJSON(Items(items: domain.catalog.ids, textual_ids: data.ids.textualIDs, sequences: data.itemTokens.map { $0 + [data.eos] }),
                                     to: out.appendingPathComponent("items.json"))
            try AtomicFile.writeJSON(Generation(model_folder: RunFolder.evaluatedModelURL(folder).standardizedFileURL.path, num_beams: gen.numBeams,
                                                num_return_sequences: gen.numReturnSequences, max_new_tokens: gen.maxNewTokens,
                                                eos_token_id: gen.eosTokenId, pad_token_id: gen.padTokenId,
                                                decoder_start_token_id: gen.decoderStartTokenId, early_stopping: gen.earlyStopping,
                                                length_penalty: gen.lengthPenalty, batch_size: batchSize),
                                     to: out.appendingPathComponent("generation.json"))

            // One untimed batch first (buffer pools, page faults), then every user, wall time.
            // Matrix FLOPs are counted (FlopCounter) during the timed pass; the peak is measured
            // in the same process with the same thread count.
            let ranked: [[RecommenderTrainer.RankedItem]]
            let seconds: Double
            let flops: Int
            ((ranked, seconds), flops) = try GradMode.withoutGradients {
                _ = try trainer.rankWithScores(model: model, targets: Array(targets.prefix(batchSize)))
                return try FlopCounter.measure {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let r = try trainer.rankWithScores(model: model, targets: targets)
                    return (r, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                }
            }
            let peak = BLAS.measuredPeak(split: threads == 2)
            let gflopPerUser = Double(flops) / 1e9 / Double(targets.count)
            try AtomicFile.writeJSON(Ranks(users: targets.map(\.userID), items: ranked.map { $0.map(\.index) }, scores: ranked.map { $0.map(\.score) }),
                                     to: out.appendingPathComponent("swift_ranks.json"))

            let hits = zip(targets, ranked).filter { t, r in r.contains { $0.index == t.target } }.count
            let result: [String: Any] = [
                "implementation": "swift", "users": targets.count, "seconds": seconds,
                "users_per_second": Double(targets.count) / seconds, "batch_size": batchSize, "num_beams": gen.numBeams,
                "max_new_tokens": gen.maxNewTokens, "threads": threads, "items": domain.catalog.count,
                "mean_prompt_tokens": Double(inputs.map(\.count).reduce(0, +)) / Double(inputs.count),
                "recall_at_beams": Double(hits) / Double(targets.count), "parameters": parameterCount(model),
                "run": runFolder, "data": self.data, "seed": Int(seed), "load_average": Self.loadAverage() as Any,
                "matrix_gflop_per_user": gflopPerUser, "achieved_gflops": Double(flops) / 1e9 / seconds,
                "peak_gflops": peak, "users_per_second_at_peak": peak / gflopPerUser,
                "blas_kernel": BLAS.backend.kernel, "blas_config": BLAS.backend.configuration,
                "openblas_coretype": BLAS.backend.forcedCoreType ?? NSNull(), "openblas_l2_size": BLAS.backend.l2Size ?? NSNull(),
            ]
            let json = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: json, as: UTF8.self))
            if let path = self.json { try AtomicFile.write(json + Data("\n".utf8), to: URL(fileURLWithPath: path)) }
        }
    }

    /// The 1-minute load average (Linux /proc/loadavg), recorded because timings on a shared
    /// machine mean little without it; nil elsewhere.
    static func loadAverage() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }
}
