import Foundation
import Support
import TensorCore
import XCTest

/// `idgenrec train --scheme item-token`: the run records its scheme, and `evaluate`,
/// `recommend`, `bench rank` and `zeroshot` follow it without the flag (zero-shot refuses learned
/// rows); bad options are named.
final class ItemTokenCLITests: XCTestCase {
    func testItemTokenRunIsFollowedByEvaluateRecommendBenchAndZeroShot() throws {
        let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let base = ScratchSpace.root.appendingPathComponent("item-token-cli-\(UUID().uuidString)")
        let run = base.appendingPathComponent("run")
        let t = try CLI.run(["train", "--data", kitchen, "--sample-users", "40", "--preset", "tiny", "--epochs", "1", "--batch-size", "16",
                             "--validation-users", "10", "--test-users", "10", "--scheme", "item-token", "--item-rows", "learned", "--loss", "warp",
                             "--negatives", "20", "--out", run.path])
        XCTAssertEqual(t.status, 0, t.stderr)
        let manifest = try String(contentsOf: run.appendingPathComponent("run.json"), encoding: .utf8)
        XCTAssert(manifest.contains("\"scheme\" : \"item-token\"") || manifest.contains("\"scheme\":\"item-token\""), manifest)
        XCTAssert(FileManager.default.fileExists(atPath: run.appendingPathComponent("best/item_head.safetensors").path))

        let e = try CLI.run(["evaluate", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--users", "10"])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssert(e.stdout.contains("idgenrec-t5-item-token"), e.stdout)

        let items = try String(contentsOf: run.appendingPathComponent("ids.tsv"), encoding: .utf8).split(separator: "\n")
            .prefix(2).map { String($0.split(separator: "\t")[0]) }
        let r = try CLI.run(["recommend", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--history", items.joined(separator: ","), "-k", "5"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").count, 6, r.stdout) // header + 5 items

        let b = try CLI.run(["bench", "rank", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--users", "10",
                             "--dump", base.appendingPathComponent("dump").path])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssert(b.stdout.contains("\"scheme\" : \"item-token\""), b.stdout)

        // Zero-shot needs rows a new catalog can have: learned rows are refused by name.
        try assertRefused(["zeroshot", "--run", run.path, "--data", kitchen, "--users", "5"], mentioning: "learned item rows")
        // id-mean rows come from the target's IDs: zero-shot on another domain runs.
        let idMean = base.appendingPathComponent("id-mean")
        let t2 = try CLI.run(["train", "--data", kitchen, "--sample-users", "40", "--preset", "tiny", "--epochs", "1", "--batch-size", "16",
                              "--validation-users", "10", "--test-users", "10", "--scheme", "item-token", "--item-rows", "id-mean", "--out", idMean.path])
        XCTAssertEqual(t2.status, 0, t2.stderr)
        let pets = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
        let z2 = try CLI.run(["zeroshot", "--run", idMean.path, "--data", pets, "--users", "20"])
        XCTAssertEqual(z2.status, 0, z2.stderr)
        XCTAssert(z2.stdout.contains("| pets | 20 |") && z2.stdout.contains("MostPop R@10"), z2.stdout)
        // --seed draws the user sample (it used to be the run's seed whatever --seed said).
        var sampled: [Set<String>] = []
        for seed in ["1", "2"] {
            let json = base.appendingPathComponent("zs-seed\(seed).json")
            let z = try CLI.run(["zeroshot", "--run", idMean.path, "--data", pets, "--users", "6", "--seed", seed, "--json", json.path])
            XCTAssertEqual(z.status, 0, z.stderr)
            let ranks = try String(contentsOf: base.appendingPathComponent("zs-seed\(seed).pets.ranks.tsv"), encoding: .utf8)
            let users = ranks.split(separator: "\n").dropFirst().map { String($0.split(separator: "\t")[0]) }
            XCTAssertEqual(users.count, 6, ranks)
            sampled.append(Set(users))
        }
        XCTAssertNotEqual(sampled[0], sampled[1], "two --seed values drew the same 6 of 1,500 users")
        // Several targets in one call: one table with MostPop and chance columns, a JSON result per
        // target (`compare` reads it), ranks per target, and the in-domain ratio from --in-domain.
        let both = base.appendingPathComponent("zs-both.json")
        let zb = try CLI.run(["zeroshot", "--run", idMean.path, "--data", "\(pets),\(kitchen)", "--users", "8", "--json", both.path,
                              "--in-domain", idMean.path])
        XCTAssertEqual(zb.status, 0, zb.stderr)
        XCTAssert(zb.stdout.contains("| pets |") && zb.stdout.contains("| kitchen |") && zb.stdout.contains("MostPop R@10") && zb.stdout.contains("chance R@10"), zb.stdout)
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: both)) as! [[String: Any]]
        XCTAssertEqual(results.compactMap { $0["target"] as? String }, ["pets", "kitchen"])
        for r in results {
            XCTAssertNotNil((r["mostpop"] as? [String: Any])?["recall@10"], "\(r)")
            XCTAssertEqual((r["zero_shot"] as? [String: Any])?["users"] as? Int, 8, "\(r)")
            let share = r["history_share_at_10"] as? [String: Double]
            XCTAssert(share?["zero_shot"].map { (0 ... 1).contains($0) } ?? false, "\(r)")
            XCTAssert(share?["mostpop"].map { (0 ... 1).contains($0) } ?? false, "\(r)")
        }
        XCTAssert(zb.stdout.contains("of the model's top 10 are the user's own history items"), zb.stdout)
        // The run's own (kitchen) report is the in-domain reference for the kitchen target only.
        XCTAssertNil(results[0]["ratio_to_in_domain"] as? [String: Any])
        XCTAssertNotNil(results[1]["ratio_to_in_domain"] as? [String: Any], "\(results[1])")
        for target in ["pets", "kitchen"] {
            XCTAssert(FileManager.default.fileExists(atPath: base.appendingPathComponent("zs-both.\(target).ranks.tsv").path), target)
        }
        let compared = try CLI.run(["compare", both.path + "#pets", both.path + "#pets"])
        XCTAssertEqual(compared.status, 0, compared.stderr)
        try assertRefused(["zeroshot", "--run", idMean.path, "--data", "\(pets),\(kitchen)", "--item-embeddings", "a.safetensors"],
                          mentioning: "--item-embeddings: 1 file(s) for 2 --data target(s)")

        try assertRefused(["train", "--data", kitchen, "--sample-users", "40", "--scheme", "item-token", "--loss", "hinge",
                           "--out", base.appendingPathComponent("bad").path], mentioning: "--loss")
        // Content-reading rows without --item-embeddings need the encoder; a missing one is named.
        try assertRefused(["train", "--data", kitchen, "--sample-users", "40", "--scheme", "item-token", "--item-rows", "hybrid",
                           "--encoder", base.appendingPathComponent("no-encoder").path,
                           "--out", base.appendingPathComponent("bad2").path], mentioning: "--item-rows hybrid embeds the catalog")
        // Embeddings with rows that do not read them are refused, not ignored.
        try assertRefused(["train", "--data", kitchen, "--sample-users", "40", "--scheme", "item-token", "--item-rows", "learned", "--item-embeddings", "x.safetensors",
                           "--out", base.appendingPathComponent("bad3").path], mentioning: "--item-embeddings is read only by --item-rows content")
    }

    /// `--item-rows hybrid` (the default) without `--item-embeddings`: the catalog is embedded with the
    /// sentence encoder and kept in the run folder; the run records its rows, evaluates from its
    /// copy, and scores an unseen catalog zero-shot from that catalog's texts (content rows, no
    /// residuals), writing the target's embeddings under the run.
    func testHybridRowsEmbedTheCatalogAndGoZeroShot() throws {
        let encoder = CLI.packageRoot.appendingPathComponent("checkpoints/encoders/all-MiniLM-L6-v2")
        guard FileManager.default.fileExists(atPath: encoder.appendingPathComponent("model.safetensors").path) else {
            throw XCTSkip("sentence encoder not installed at \(encoder.path): run `make setup`")
        }
        let base = ScratchSpace.root.appendingPathComponent("item-token-hybrid-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let run = base.appendingPathComponent("run")
        let t = try CLI.run(["train", "--data", kitchen, "--sample-users", "40", "--preset", "tiny", "--epochs", "1", "--batch-size", "16",
                             "--validation-users", "10", "--test-users", "10", "--scheme", "item-token",
                             "--encoder", encoder.path, "--out", run.path])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssert(FileManager.default.fileExists(atPath: run.appendingPathComponent("item_embeddings.safetensors").path))
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("run.json"))) as! [String: Any]
        let settings = ((manifest["config"] as? [String: Any])?["itemToken"] as? [String: Any]) ?? [:]
        XCTAssertEqual(settings["rows"] as? String, "hybrid", "\(settings)")
        let head = try SafeTensors.load(run.appendingPathComponent("best/item_head.safetensors"))
        XCTAssertEqual(Set(head.keys), ["item_projection", "item_residual", "history_bias"], "hybrid rows and the default learned history bias")
        let e = try CLI.run(["evaluate", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--users", "10"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let pets = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
        let z = try CLI.run(["zeroshot", "--run", run.path, "--data", pets, "--users", "20", "--encoder", encoder.path])
        XCTAssertEqual(z.status, 0, z.stderr)
        XCTAssert(z.stdout.contains("| pets | 20 |") && z.stdout.contains("MostPop R@10"), z.stdout)
    }

    /// `--item-input add` (the default): recorded in run.json, followed by evaluate, recommend and --resume;
    /// refused on textual IDs and when it contradicts the run on resume. A resume without
    /// --epochs keeps the run's count (it used to extend a 1-epoch run to the default 10).
    func testItemInputIsRecordedFollowedAndChecked() throws {
        let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let base = ScratchSpace.root.appendingPathComponent("item-input-cli-\(UUID().uuidString)")
        let run = base.appendingPathComponent("run")
        let train = ["train", "--data", kitchen, "--sample-users", "40", "--preset", "tiny", "--batch-size", "16",
                     "--validation-users", "10", "--test-users", "10", "--out", run.path]
        let t = try CLI.run(train + ["--epochs", "1", "--scheme", "item-token", "--item-rows", "learned", "--weight-decay", "0.05"]) // add is the default
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssert(t.stderr.contains("input add"), t.stderr)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("run.json"))) as! [String: Any]
        let itemToken = (manifest["config"] as? [String: Any])?["itemToken"] as? [String: Any]
        XCTAssertEqual(itemToken?["input"] as? String, "add", "\(manifest)")
        XCTAssertEqual(itemToken?["historyBias"] as? Bool, true, "the CLI's default history bias is learned: \(manifest)")
        XCTAssert(t.stderr.contains("history bias learned"), t.stderr)
        XCTAssertEqual((manifest["config"] as? [String: Any])?["promptFraming"] as? String, "short", "item-token runs default to the short prompt: \(manifest)")
        XCTAssertEqual(((manifest["config"] as? [String: Any])?["weightDecay"] as? Double).map { Float($0) }, 0.05, "--weight-decay is recorded: \(manifest)")
        let metrics = try String(contentsOf: run.appendingPathComponent("metrics.json"), encoding: .utf8)
        XCTAssert(metrics.contains("\"item_input\" : \"add\"") || metrics.contains("\"item_input\":\"add\""), metrics)

        let e = try CLI.run(["evaluate", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--users", "10", "--json", base.appendingPathComponent("e.json").path])
        XCTAssertEqual(e.status, 0, e.stderr)
        let evaluated = try String(contentsOf: base.appendingPathComponent("e.json"), encoding: .utf8)
        XCTAssert(evaluated.contains("\"item_input\" : \"add\"") || evaluated.contains("\"item_input\":\"add\""), "evaluate follows the run: \(evaluated)")
        let item = try firstItem(run)
        let r = try CLI.run(["recommend", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--history", item, "-k", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)

        try assertRefused(train + ["--resume", "--item-input", "off"], mentioning: "--item-input off (the run's: add)")
        try assertRefused(train + ["--resume", "--prompt", "paper"], mentioning: "--prompt paper (the run's: short)")
        try assertRefused(train + ["--resume", "--weight-decay", "0.2"], mentioning: "--weight-decay 0.2 (the run's: 0.05)")
        // A flag given with its default value is a flag given: it contradicts the run too.
        try assertRefused(train + ["--resume", "--weight-decay", "0.01"], mentioning: "--weight-decay 0.01 (the run's: 0.05)")
        try assertRefused(["train", "--data", kitchen, "--sample-users", "40", "--scheme", "item-token", "--weight-decay=-1",
                           "--out", base.appendingPathComponent("wd").path], mentioning: "--weight-decay must be 0 or more")
        let again = try CLI.run(train + ["--resume", "--weight-decay", "0.05"])
        XCTAssertEqual(again.status, 0, again.stderr)
        let log = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("log.json"))) as! [[String: Any]]
        XCTAssertEqual(log.compactMap { $0["epoch"] as? Int }, [1], "a resume without --epochs keeps the run's 1 epoch")
        let extended = try CLI.run(train + ["--resume", "--epochs", "2"])
        XCTAssertEqual(extended.status, 0, extended.stderr)
        XCTAssert(extended.stderr.contains("resuming after epoch 1"), extended.stderr)

        // --label-smoothing: recorded, followed by resume, refused when it contradicts the run, with a
        // sampled loss, out of [0, 1) and on textual IDs.
        let smoothed = base.appendingPathComponent("smoothed")
        let smooth = ["train", "--data", kitchen, "--sample-users", "40", "--preset", "tiny", "--batch-size", "16",
                      "--validation-users", "10", "--test-users", "10", "--out", smoothed.path, "--epochs", "1"]
        let ls = try CLI.run(smooth + ["--scheme", "item-token", "--item-rows", "learned", "--label-smoothing", "0.1", "--item-input", "off",
                                       "--history-bias", "learned"])
        XCTAssertEqual(ls.status, 0, ls.stderr)
        XCTAssert(ls.stderr.contains("label smoothing 0.1") && ls.stderr.contains("history bias learned"), ls.stderr)
        let smoothedManifest = try JSONSerialization.jsonObject(with: Data(contentsOf: smoothed.appendingPathComponent("run.json"))) as! [String: Any]
        let smoothedSettings = (smoothedManifest["config"] as? [String: Any])?["itemToken"] as? [String: Any]
        XCTAssertEqual((smoothedSettings?["labelSmoothing"] as? Double).map { Float($0) }, 0.1, "\(smoothedManifest)")
        let smoothedMetrics = try String(contentsOf: smoothed.appendingPathComponent("metrics.json"), encoding: .utf8)
        XCTAssert(smoothedMetrics.contains("\"label_smoothing\" : \"0.1\"") || smoothedMetrics.contains("\"label_smoothing\":\"0.1\""), smoothedMetrics)
        XCTAssertEqual(smoothedSettings?["historyBias"] as? Bool, true, "\(smoothedManifest)")
        XCTAssert(smoothedMetrics.contains("(learned)"), "the report gives the learned bias: \(smoothedMetrics)")
        // evaluate and recommend follow the bias (input off: the spans are still built, for it).
        let be = try CLI.run(["evaluate", "--run", smoothed.path, "--data", kitchen, "--sample-users", "40", "--users", "10"])
        XCTAssertEqual(be.status, 0, be.stderr)
        let br = try CLI.run(["recommend", "--run", smoothed.path, "--data", kitchen, "--sample-users", "40", "--history", try firstItem(smoothed), "-k", "3"])
        XCTAssertEqual(br.status, 0, br.stderr)
        try assertRefused(smooth + ["--resume", "--history-bias", "off"], mentioning: "--history-bias off (the run's: learned)")
        try assertRefused(["train", "--data", kitchen, "--sample-users", "40", "--scheme", "item-token", "--history-bias", "yes",
                           "--out", base.appendingPathComponent("hb-bad").path], mentioning: "--history-bias: expected learned or off")
        try assertRefused(["train", "--data", kitchen, "--sample-users", "40", "--history-bias", "learned",
                           "--out", base.appendingPathComponent("hb-textual").path], mentioning: "--history-bias")
        try assertRefused(smooth + ["--resume", "--label-smoothing", "0.2"], mentioning: "--label-smoothing 0.2 (the run's: 0.1)")
        try assertRefused(smooth + ["--resume", "--epochs", "2", "--label-smoothing", "0"], mentioning: "--label-smoothing 0.0 (the run's: 0.1)")
        let smoothedAgain = try CLI.run(smooth + ["--resume", "--epochs", "2", "--label-smoothing", "0.1"])
        XCTAssertEqual(smoothedAgain.status, 0, smoothedAgain.stderr)
        XCTAssert(smoothedAgain.stderr.contains("label smoothing 0.1") && smoothedAgain.stderr.contains("history bias learned"),
                  "a resume keeps the run's smoothing and bias: \(smoothedAgain.stderr)")
        try assertRefused(["train", "--data", kitchen, "--sample-users", "40", "--scheme", "item-token", "--loss", "warp", "--label-smoothing", "0.1",
                           "--out", base.appendingPathComponent("ls-warp").path], mentioning: "--label-smoothing applies to --loss ce only")
        try assertRefused(["train", "--data", kitchen, "--sample-users", "40", "--scheme", "item-token", "--label-smoothing", "1",
                           "--out", base.appendingPathComponent("ls-1").path], mentioning: "--label-smoothing must be in [0, 1)")
        try assertRefused(["train", "--data", kitchen, "--sample-users", "40", "--label-smoothing", "0.1",
                           "--out", base.appendingPathComponent("ls-textual").path], mentioning: "--label-smoothing")

        try assertRefused(["train", "--data", kitchen, "--sample-users", "40", "--item-input", "add", "--out", base.appendingPathComponent("t").path], mentioning: "--item-input")
        try assertRefused(["train", "--data", kitchen, "--sample-users", "40", "--scheme", "item-token", "--item-input", "both",
                           "--out", base.appendingPathComponent("b").path], mentioning: "--item-input: expected one of off, add, replace")
    }

    /// `--item-input replace` end to end: recorded; the prompt is one marker per history item
    /// (under three quarters of `add`'s tokens per sample on the same data); evaluate, recommend and zeroshot
    /// (id-mean rows on another catalog) follow the run; a contradicting resume is refused.
    func testItemInputReplaceIsRecordedFollowedAndShortensThePrompt() throws {
        let kitchen = CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path
        let pets = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
        let base = ScratchSpace.root.appendingPathComponent("item-input-replace-\(UUID().uuidString)")
        func train(_ input: String) throws -> (args: [String], run: URL) {
            let run = base.appendingPathComponent(input)
            let args = ["train", "--data", kitchen, "--sample-users", "40", "--preset", "tiny", "--batch-size", "16", "--epochs", "1",
                        "--validation-users", "10", "--test-users", "10", "--out", run.path, "--scheme", "item-token", "--item-rows", "id-mean"]
            let t = try CLI.run(args + ["--item-input", input])
            XCTAssertEqual(t.status, 0, t.stderr)
            XCTAssert(t.stderr.contains("input \(input)"), t.stderr)
            return (args, run)
        }
        func tokensPerSample(_ run: URL) throws -> Double {
            let log = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("log.json"))) as! [[String: Any]]
            let e = try XCTUnwrap(log.first)
            return try XCTUnwrap(e["tokensPerSecond"] as? Double) * XCTUnwrap(e["seconds"] as? Double) / Double(try XCTUnwrap(e["samples"] as? Int))
        }
        let (args, run) = try train("replace")
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("run.json"))) as! [String: Any]
        XCTAssertEqual(((manifest["config"] as? [String: Any])?["itemToken"] as? [String: Any])?["input"] as? String, "replace", "\(manifest)")
        // --history-bias off: not recorded (the library's default), not in the log line.
        let off = base.appendingPathComponent("add-no-bias")
        let o = try CLI.run(["train", "--data", kitchen, "--sample-users", "40", "--preset", "tiny", "--batch-size", "16", "--epochs", "1",
                             "--validation-users", "10", "--test-users", "10", "--out", off.path, "--scheme", "item-token", "--item-rows", "id-mean",
                             "--history-bias", "off"])
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertFalse(o.stderr.contains("history bias"), o.stderr)
        let offManifest = try JSONSerialization.jsonObject(with: Data(contentsOf: off.appendingPathComponent("run.json"))) as! [String: Any]
        XCTAssertNil(((offManifest["config"] as? [String: Any])?["itemToken"] as? [String: Any])?["historyBias"], "\(offManifest)")
        let (_, add) = try train("add")
        let (replaceTokens, addTokens) = (try tokensPerSample(run), try tokensPerSample(add))
        XCTAssertLessThan(replaceTokens, 0.75 * addTokens, "one token per history item and no separators: \(replaceTokens) against \(addTokens)")

        let e = try CLI.run(["evaluate", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--users", "10", "--json", base.appendingPathComponent("e.json").path])
        XCTAssertEqual(e.status, 0, e.stderr)
        let evaluated = try String(contentsOf: base.appendingPathComponent("e.json"), encoding: .utf8)
        XCTAssert(evaluated.contains("\"item_input\" : \"replace\"") || evaluated.contains("\"item_input\":\"replace\""), evaluated)
        let r = try CLI.run(["recommend", "--run", run.path, "--data", kitchen, "--sample-users", "40", "--history", try firstItem(run), "-k", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let z = try CLI.run(["zeroshot", "--run", run.path, "--data", pets, "--users", "10", "--json", base.appendingPathComponent("z.json").path])
        XCTAssertEqual(z.status, 0, z.stderr)
        XCTAssert(z.stderr.contains("input replace") && z.stderr.contains("no IDs in prompts"), z.stderr)
        try assertRefused(args + ["--resume", "--item-input", "add"], mentioning: "--item-input add (the run's: replace)")
    }

    func firstItem(_ run: URL) throws -> String {
        let ids = try String(contentsOf: run.appendingPathComponent("ids.tsv"), encoding: .utf8)
        return String(ids.split(separator: "\n")[0].split(separator: "\t")[0])
    }
}

/// `train --scheme item-token` on a table of semantic codes (`ids generate --scheme semantic`
/// with the committed tiny-bert encoder: random weights, so the codes mean nothing and only the
/// structure is checked): the prompts carry the history's codes, the item head scores every
/// catalog item; evaluate and recommend follow the run; zero-shot is refused by name (it would
/// need the target coded with the run's quantiser). Then `--resume` follows the run and refuses
/// contradicting flags.
final class ItemTokenSemanticCLITests: XCTestCase {
    static let pets = CLI.packageRoot.appendingPathComponent("corpora/synthetic/pets").path
    static let tinyBert = CLI.packageRoot.appendingPathComponent("Tests/TextEncoderTests/Fixtures/tiny-bert").path

    func testItemTokenOnSemanticCodesTrainsEvaluatesRecommendsAndResumes() throws {
        let base = ScratchSpace.root.appendingPathComponent("item-token-semantic-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        let table = base.appendingPathComponent("codes.tsv").path
        let g = try CLI.run(["ids", "generate", "--scheme", "semantic", "--data", Self.pets, "--out", table, "--encoder", Self.tinyBert,
                             "--codebook-size", "16", "--seed", "3", "--quantiser", "rkmeans"])
        XCTAssertEqual(g.status, 0, g.stderr)
        let rows = try String(contentsOf: URL(fileURLWithPath: table), encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        let codeOf = Dictionary(uniqueKeysWithValues: rows.map { ($0[0], $0[1]) })

        let run = base.appendingPathComponent("run")
        let common = ["--data", Self.pets, "--sample-users", "40"]
        let train = ["train"] + common + ["--ids", table, "--scheme", "item-token", "--item-rows", "learned", "--preset", "tiny", "--batch-size", "16",
                                          "--validation-users", "10", "--test-users", "10", "--out", run.path]
        let t = try CLI.run(train + ["--epochs", "1"])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssert(t.stdout.contains("idgenrec-t5-item-token"), t.stdout)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("run.json"))) as! [String: Any]
        let config = manifest["config"] as! [String: Any]
        XCTAssertEqual(config["scheme"] as? String, "item-token")
        XCTAssertEqual((config["codes"] as? [String: Any])?["codebookSize"] as? Int, 16)

        let e = try CLI.run(["evaluate", "--run", run.path] + common + ["--users", "10"])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssert(e.stdout.contains("idgenrec-t5-item-token") && e.stdout.contains("recall@10"), e.stdout)

        let history = rows.prefix(3).map { $0[0] }
        let r = try CLI.run(["recommend", "--run", run.path] + common + ["--history", history.joined(separator: ","), "-k", "7"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: "\t").map(String.init) }
        XCTAssertEqual(lines.count, 7, r.stdout)
        XCTAssertEqual(lines.map { $0[0] }, (1 ... 7).map(String.init), r.stdout)
        XCTAssertEqual(Set(lines.map { $0[1] }).count, 7, "no item twice: \(r.stdout)")
        for line in lines {
            XCTAssertEqual(codeOf[line[1]], line[2], "a catalog item with its code: \(line)")
        }

        try assertRefused(["zeroshot", "--run", run.path, "--data", CLI.packageRoot.appendingPathComponent("corpora/synthetic/kitchen").path, "--users", "5"], mentioning: "semantic codes is not supported")

        // --resume follows the run (no --scheme) and refuses flags that contradict it.
        try assertRefused(train + ["--epochs", "2", "--resume", "--loss", "warp"], mentioning: "--loss warp (the run's: ce)")
        let badScheme = try CLI.run(["train"] + common + ["--ids", table, "--scheme", "textual-id", "--preset", "tiny", "--epochs", "2", "--out", run.path, "--resume"])
        XCTAssertNotEqual(badScheme.status, 0)
        XCTAssert(badScheme.stderr.contains("--scheme textual-id (the run's: item-token)"), badScheme.stderr)
        try assertRefused(train + ["--epochs", "2", "--resume", "--lr", "0.01"], mentioning: "--lr 0.01")
        let resumed = try CLI.run(["train"] + common + ["--ids", table, "--preset", "tiny", "--batch-size", "16", "--validation-users", "10",
                                                        "--test-users", "10", "--epochs", "2", "--out", run.path, "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssert(resumed.stderr.contains("resuming after epoch 1"), resumed.stderr)
        XCTAssert(resumed.stdout.contains("idgenrec-t5-item-token"), resumed.stdout)
        let log = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("log.json"))) as! [[String: Any]]
        XCTAssertEqual(log.compactMap { $0["epoch"] as? Int }, [1, 2])
    }
}

/// The command fails and its error names `text`.
func assertRefused(_ arguments: [String], mentioning text: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let r = try CLI.run(arguments)
    XCTAssertNotEqual(r.status, 0, "\(arguments) succeeded", file: file, line: line)
    XCTAssert(r.stderr.contains(text), r.stderr, file: file, line: line)
}
