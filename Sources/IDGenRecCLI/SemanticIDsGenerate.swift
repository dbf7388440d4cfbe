import Corpora
import Foundation
import IDGen
import Support
import TensorCore
import TextEncoder

/// `ids generate --scheme semantic`: TIGER-style codes from the items' sentence-encoder
/// embeddings (docs/ids.md, "Semantic IDs of the TIGER kind").
extension IDsCommand.Generate {
    /// Defaults chosen by the measurements in docs/ids.md.
    static let defaultQuantiser = SemanticQuantiserSettings.Kind.rqvae
    static let defaultCooccurrence = true

    func generateSemanticCodes() throws {
        let outURL = URL(fileURLWithPath: out)
        if let quantiser, SemanticQuantiserSettings.Kind(rawValue: quantiser) == nil {
            throw ValidationErrorMessage(message: "--quantiser: expected 'rkmeans' or 'rqvae', found '\(quantiser)'")
        }
        if let cooccurrence, !["on", "off"].contains(cooccurrence) {
            throw ValidationErrorMessage(message: "--cooccurrence: expected 'on' or 'off', found '\(cooccurrence)'")
        }
        let (domain, _) = try dataset.load(data)
        let catalog = domain.catalog
        let loaded = try LoadedEncoder(explicit: encoder,
                                       missingHint: "--scheme semantic quantises the items' sentence-encoder embeddings: install it with `make setup` or pass --encoder")
        let vectors = try loaded.itemEmbeddings(catalog, cache: URL(fileURLWithPath: embeddings ?? out + ".embeddings.safetensors")).vectors
        // Co-occurring pairs from the training part of each sequence only (chronological
        // leave-one-out: each user's last two items are never seen here).
        let split = try Split.leaveOneOut(domain)
        let fusionOptions: CooccurrenceFusionOptions = {
            var o = CooccurrenceFusionOptions()
            o.seed = seed
            if let fusionEpochs { o.epochs = fusionEpochs }
            if let fusionLearningRate { o.learningRate = fusionLearningRate }
            if let fusionContentWeight { o.contentWeight = fusionContentWeight }
            return o
        }()
        if (cooccurrence ?? (Self.defaultCooccurrence ? "on" : "off")) != "on", fusionEpochs != nil || fusionLearningRate != nil || fusionContentWeight != nil {
            throw ValidationErrorMessage(message: "--fusion-epochs, --fusion-learning-rate and --fusion-content-weight only apply with --cooccurrence on")
        }
        let pairs = try CooccurrenceFusion.pairs(split: split, window: fusionOptions.window)

        let started = Date()
        let table: IDTable, quantiserModel: SemanticQuantiser
        var trained: SemanticQuantiserTraining.Result?
        var kept = 0
        if let existing {
            let given = [("--quantiser", quantiser != nil), ("--levels", levels != nil), ("--codebook-size", codebookSize != nil),
                         ("--cooccurrence", cooccurrence != nil), ("--fusion-epochs", fusionEpochs != nil),
                         ("--fusion-learning-rate", fusionLearningRate != nil), ("--fusion-content-weight", fusionContentWeight != nil)].filter(\.1).map(\.0)
            if !given.isEmpty {
                throw ValidationErrorMessage(message: "\(given.joined(separator: ", ")): with --existing the quantiser saved beside \(existing) is reused as it is")
            }
            let oldURL = URL(fileURLWithPath: existing)
            let old = try IDTable.read(oldURL)
            let quantiserURL = SemanticQuantiser.url(besideTable: oldURL)
            guard FileManager.default.fileExists(atPath: quantiserURL.path) else {
                throw ValidationErrorMessage(message: "--existing \(existing): no quantiser at \(quantiserURL.path) (a semantic table keeps its quantiser beside it; a textual table cannot be extended with --scheme semantic)")
            }
            quantiserModel = try SemanticQuantiser.load(from: quantiserURL)
            table = try SemanticCodeAssignment.extend(existing: old, itemIDs: catalog.ids, embeddings: vectors, quantiser: quantiserModel)
            kept = old.count
            Log.info("kept \(old.count) IDs of \(existing); quantised \(catalog.count - old.count) new items with its quantiser")
        } else {
            var settings = SemanticQuantiserSettings(kind: Self.defaultQuantiser)
            if let quantiser {
                guard let kind = SemanticQuantiserSettings.Kind(rawValue: quantiser) else {
                    throw ValidationErrorMessage(message: "--quantiser: expected 'rkmeans' or 'rqvae', found '\(quantiser)'")
                }
                settings.kind = kind
            }
            settings.seed = seed
            if let levels {
                guard (1 ... 25).contains(levels) else { throw ValidationErrorMessage(message: "--levels: expected 1…25, found \(levels)") }
                settings.levels = levels
            }
            if let codebookSize {
                guard codebookSize >= 2 else { throw ValidationErrorMessage(message: "--codebook-size: expected at least 2, found \(codebookSize)") }
                settings.codebookSize = codebookSize
            }
            guard catalog.count >= 2 else {
                throw ValidationErrorMessage(message: "--scheme semantic needs at least 2 items (\(data) has \(catalog.count))")
            }
            if catalog.count < settings.codebookSize {
                // Tiny catalogs: k-means cannot make more codes than items.
                Log.info("note: \(catalog.count) items < \(settings.codebookSize) codes per level; codebook size clamped to \(catalog.count)")
                settings.codebookSize = catalog.count
            }
            let fuse: Bool
            switch cooccurrence ?? (Self.defaultCooccurrence ? "on" : "off") {
            case "on": fuse = true
            case "off": fuse = false
            case let other: throw ValidationErrorMessage(message: "--cooccurrence: expected 'on' or 'off', found '\(other)'")
            }
            Log.info("training a \(settings.kind.rawValue) quantiser: \(settings.levels) levels × \(settings.codebookSize) codes on \(catalog.count) items (dimension \(vectors.shape[1]))"
                + (fuse ? ", co-occurrence fusion on \(pairs.count) training pairs" : ""))
            let result = try SemanticQuantiserTraining.train(embeddings: vectors, settings: settings,
                                                             fusion: fuse ? (fusionOptions, pairs) : nil, progress: true)
            trained = result
            quantiserModel = result.quantiser
            table = try SemanticCodeAssignment.assign(itemIDs: catalog.ids, codes: result.codes, layout: settings.layout)
        }
        let seconds = Date().timeIntervalSince(started)
        var codeReport = try SemanticCodeReport.measure(table, layout: quantiserModel.layout, pairs: pairs, catalogIDs: catalog.ids)
        codeReport.trainingSeconds = trained?.seconds
        codeReport.reconstructionLoss = trained?.reconstructionLoss
        codeReport.quantisationLoss = trained?.quantisationLoss

        try table.write(to: outURL)
        try quantiserModel.save(to: SemanticQuantiser.url(besideTable: outURL))
        var options = IDOptions()
        options.seed = seed
        var report = AssignmentReport()
        report.entries = table.count
        report.kept = kept
        report.assigned = table.count - kept
        report.seconds = seconds
        report.entriesPerSecond = Double(table.count - kept) / max(seconds, 1e-9)
        report.meanWords = Double(quantiserModel.layout.totalLevels)
        report.maximumWords = quantiserModel.layout.totalLevels
        var metadata = IDTableMetadata(data: data, items: table.count, generator: "semantic-codes", generatorHash: loaded.hash, tokenizerHash: nil,
                                       options: options, report: report, examples: IDGeneration.examples(table, catalog: catalog))
        metadata.codes = quantiserModel.layout
        metadata.quantiser = quantiserModel.settings
        metadata.cooccurrence = quantiserModel.fusion
        metadata.codeReport = codeReport
        try AtomicFile.writeJSON(metadata, to: outURL.appendingPathExtension("json"))
        print(String(format: "%d items (%d kept from an existing table), %@ quantiser, %.1f s", table.count, kept,
                     quantiserModel.kind.rawValue, seconds))
        print(codeReport.summary)
        for row in metadata.examples { print("  \(row[0])\t\(row[1])\t\(row[2].prefix(70))") }
        print("wrote \(out), \(out).json and \(SemanticQuantiser.url(besideTable: outURL).path)")
    }
}
