import ArgumentParser
import Corpora
import Foundation
import Support
import TensorCore
import TextEncoder

/// `idgenrec embed`: sentence-encoder embeddings of every item's text (docs/encoder.md).
///
///     idgenrec embed --data DIR --out FILE            # [items, dim] F32 safetensors, catalog order
///     idgenrec embed --data DIR --neighbours ITEM     # the ten nearest items by cosine, with titles
///
/// The item text is `Catalog.text(at:)` (`key: value; key: value`), the text the ID generator
/// reads. A file at --out made from the same item ids, texts and encoder is reused; one made from
/// anything else is refused (stale) unless --rebuild.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed every item's text with the sentence encoder; or show an item's nearest neighbours.")

    @Option(help: "Dataset folder (any supported format).")
    var data: String
    @OptionGroup var dataset: DatasetOptions
    @Option(help: "Sentence-transformers BERT folder (default: $\(EncoderFolder.environmentVariable), else \(EncoderFolder.defaultRelativePath), installed by `make setup`).")
    var encoder: String?
    @Option(help: "Embeddings file to write (or reuse when up to date): safetensors, one F32 tensor [items, dim].")
    var out: String?
    @Flag(help: "Recompute even when --out is up to date, and replace a stale --out.")
    var rebuild = false
    @Option(name: .customLong("neighbours"), help: "Print the ten nearest items to this item id by cosine (uses --out as a cache when given).")
    var neighbours: String?
    @Option(help: "How many neighbours to print.")
    var count = 10
    @Option(help: "Tokens per packed batch (default: SentenceEncoder's, 2048).")
    var batchTokens: Int?
    @Option(help: "Also write the timing (texts, tokens, seconds, tokens/s, share of the sgemm peak, BLAS kernel) as JSON here.")
    var json: String?
    @Option(help: "Also write the item texts embedded (JSON list, catalog order), for tools/bench_encoder.py.")
    var textsOut: String?
    @Flag(help: "No progress line.")
    var quiet = false

    func validate() throws {
        guard out != nil || neighbours != nil else { throw ValidationError("give --out FILE, --neighbours ITEM, or both") }
        guard count > 0 else { throw ValidationError("--count must be positive") }
        if let batchTokens, batchTokens < 1 { throw ValidationError("--batch-tokens must be positive") }
    }

    func run() throws {
        Parallel.configure()
        let domain = try dataset.load(data).domain
        let catalog = domain.catalog
        if let neighbours, catalog.index(of: neighbours) == nil {
            throw ValidationErrorMessage(message: "--neighbours: no item '\(neighbours)' in \(data) (\(catalog.count) items)")
        }
        let ids = catalog.ids
        let texts = (0 ..< catalog.count).map { catalog.text(at: $0) }
        if let textsOut { try AtomicFile.write(try JSONEncoder().encode(texts), to: URL(fileURLWithPath: textsOut)) }

        let folderURL = EncoderFolder.resolve(explicit: encoder)
        let model = try SentenceEncoder(folder: folderURL)
        if let batchTokens { model.tokensPerBatch = batchTokens }
        let encoderHash = try model.folder.contentHash()
        Log.info("encoder \(folderURL.path) (dimension \(model.dimension), max \(model.folder.maxSequenceLength) tokens, "
            + "pooling \(model.folder.pooling.modes.map(\.rawValue).joined(separator: "+"))\(model.folder.normalize ? ", normalised" : ""), "
            + "sha256 \(encoderHash.prefix(12))); \(BLAS.backend)")

        var embeddings: ItemEmbeddings?
        if let out, !rebuild, FileManager.default.fileExists(atPath: out) {
            do {
                embeddings = try ItemEmbeddings.load(URL(fileURLWithPath: out), ids: ids, texts: texts, encoderHash: encoderHash)
                Log.info("\(out): up to date (\(ids.count) items), reused")
            } catch let error as EncoderError {
                guard case .staleCache = error else { throw error }
                throw ValidationErrorMessage(message: "\(error); pass --rebuild to replace it")
            }
        }
        if embeddings == nil {
            let computed = try compute(model, ids: ids, texts: texts, encoderHash: encoderHash)
            embeddings = computed
            if let out {
                try computed.save(to: URL(fileURLWithPath: out))
                Log.info("wrote \(out): [\(ids.count), \(computed.dimension)] F32, catalog order")
            }
        }
        if let neighbours, let embeddings, let index = catalog.index(of: neighbours) {
            print("\(neighbours)\t\(title(catalog, index))")
            for (rank, n) in embeddings.neighbours(of: index, count: count).enumerated() {
                print(String(format: "%2d  %.4f  ", rank + 1, n.cosine) + "\(catalog.ids[n.index])\t\(title(catalog, n.index))")
            }
        }
    }

    private func title(_ catalog: Catalog, _ index: Int) -> String {
        catalog.value("title", at: index) ?? catalog.text(at: index)
    }

    /// Embeds all texts with a progress line; writes the timing JSON when asked.
    private func compute(_ model: SentenceEncoder, ids: [String], texts: [String], encoderHash: String) throws -> ItemEmbeddings {
        let start = Date()
        let tokenIDs = texts.map(model.tokenIDs)
        let tokenizeSeconds = Date().timeIntervalSince(start)
        let tokens = tokenIDs.reduce(0) { $0 + $1.count }
        let line = ProgressLine("embed", total: texts.count, unit: "texts", enabled: !quiet)
        var done = 0
        let encodeStart = Date()
        let (vectors, flops) = FlopCounter.measure {
            model.encode(tokenIDs: tokenIDs) { n, batchTokens in
                done += batchTokens
                line.advance(by: n, "\(ProgressLine.formatRate(Double(done) / max(line.elapsed, 1e-9))) tokens/s")
            }
        }
        let encodeSeconds = Date().timeIntervalSince(encodeStart)
        line.finish("\(ProgressLine.formatRate(Double(tokens) / encodeSeconds)) tokens/s")
        if let json {
            let peak = BLAS.measuredPeak(split: Parallel.splitEnabled)
            let gflops = Double(flops) / encodeSeconds / 1e9
            let result: [String: Any] = [
                "implementation": "swift", "texts": texts.count, "tokens": tokens, "max_length": tokenIDs.map(\.count).max() ?? 0,
                "tokenize_seconds": tokenizeSeconds, "encode_seconds": encodeSeconds, "seconds": tokenizeSeconds + encodeSeconds,
                "tokens_per_second": Double(tokens) / (tokenizeSeconds + encodeSeconds),
                "matrix_gflop": Double(flops) / 1e9, "achieved_gflops": gflops, "peak_gflops": peak,
                "tokens_per_batch": model.tokensPerBatch, "threads": Parallel.splitEnabled ? 2 : 1,
                "encoder": model.folder.url.path, "encoder_sha256": encoderHash,
                "blas_kernel": BLAS.backend.kernel, "blas_config": BLAS.backend.configuration,
                "openblas_coretype": BLAS.backend.forcedCoreType ?? NSNull(), "openblas_l2_size": BLAS.backend.l2Size ?? NSNull(),
                "load_average": BenchRank.loadAverage() as Any,
            ]
            let data = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(data + Data("\n".utf8), to: URL(fileURLWithPath: json))
        }
        return ItemEmbeddings(itemIDs: ids, vectors: vectors, encoderHash: encoderHash,
                              textsHash: ItemEmbeddings.textsHash(ids: ids, texts: texts))
    }
}
