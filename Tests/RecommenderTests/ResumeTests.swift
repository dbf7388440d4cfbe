import Corpora
import Foundation
import IDGen
import Support
import T5
import Tokenizer
import XCTest
@testable import Recommender

final class ResumeTests: XCTestCase {
    /// The recommender tests' toy domain: `items` items, `users` users with a learnable stride pattern.
    static func toyDomain(items count: Int = 20, users userCount: Int = 16) -> Domain {
        let words = ["soap", "rose", "cream", "mint", "oil", "brush", "comb", "argan", "shampoo", "lotion"]
        var items: [(id: String, fields: [TextField])] = []
        for i in 0 ..< count { items.append((id: "i\(i)", fields: [TextField("title", "\(words[i % 10]) \(words[(i * 3 + 1) % 10]) \(i)")])) }
        var users: [String] = [], sequences: [[Int]] = []
        for u in 0 ..< userCount {
            users.append("u\(u)")
            sequences.append((0 ..< 5).map { (u + 3 * $0) % count }) // a learnable stride pattern
        }
        return Domain(name: "toy", catalog: Catalog(items: items), interactions: Interactions(users: users, sequences: sequences),
                      report: ImportReport(format: .idgenrec, files: []))
    }

    /// The tiny, fast settings the toy-domain runs share.
    static func toyConfig(epochs: Int = 2) -> RecommenderConfig {
        var config = RecommenderConfig()
        config.preset = .tiny
        config.epochs = epochs
        config.batchSize = 8
        config.validationUsers = 8
        config.vocabularySize = 600
        config.numBeams = 4
        return config
    }

    func runner(_ folder: URL, domain: Domain, epochs: Int, resume: Bool, userIDs: Bool = false) throws -> RecommenderRunner {
        var config = Self.toyConfig(epochs: epochs)
        config.useUserIDs = userIDs
        let ids = try IDGeneration.keywords(catalog: domain.catalog, words: 2).table
        let r = try RecommenderPipeline.open(folder: folder, inputs: .init(dataPath: "toy", domain: domain, ids: ids, idsSource: "keywords"),
                                             config: config, resume: resume)
        r.verbose = false
        return r
    }

    /// A run stopped after epoch 1 and resumed gives bit-identical weights and log to one that ran
    /// 2 epochs straight; every recommendation is a catalog item, none repeated.
    func testResumeEqualsUninterruptedRun() throws {
        let domain = Self.toyDomain()
        let base = ScratchSpace.root.appendingPathComponent("resume-\(UUID().uuidString)")
        let straight = try runner(base.appendingPathComponent("a"), domain: domain, epochs: 2, resume: false)
        let a = try straight.train(resume: false)

        let first = try runner(base.appendingPathComponent("b"), domain: domain, epochs: 2, resume: false)
        try first.train(resume: false, stopAfter: 1) // as if killed after epoch 1
        let second = try runner(base.appendingPathComponent("b"), domain: domain, epochs: 2, resume: true)
        let b = try second.train(resume: true)

        XCTAssertEqual(a.log.map(\.loss), b.log.map(\.loss))
        XCTAssertEqual(a.globalStep, b.globalStep)
        for (p, q) in zip(straight.model.namedParameters(), second.model.namedParameters()) {
            XCTAssert(p.parameter.value.scalars == q.parameter.value.scalars, "\(p.name) differs after resume")
        }
        let targets = Array(straight.trainer.data.split.test.prefix(6))
        for list in try straight.trainer.rank(model: straight.model, targets: targets) {
            XCTAssertEqual(Set(list).count, list.count)
            XCTAssert(list.allSatisfy { (0 ..< domain.catalog.count).contains($0) })
            // Beam search under a trie can return fewer than `beams` items when the kept prefixes
            // hold fewer complete IDs (HF behaves the same); never more, never none.
            XCTAssert((1 ... 4).contains(list.count), "\(list)")
        }
        // A second open without --resume refuses to overwrite the run.
        XCTAssertThrowsError(try runner(base.appendingPathComponent("a"), domain: domain, epochs: 2, resume: false))
    }

    /// `train --user-ids`: every user's ID is made of words of its training items' IDs only (no
    /// validation or test item reaches it), it is in every prompt of that user, it is saved in
    /// the run folder and reloaded for evaluation and resume, and a run that lost the file says so.
    func testUserIDsComeFromTrainingItemsAndReachEveryPrompt() throws {
        let domain = Self.toyDomain()
        let folder = ScratchSpace.root.appendingPathComponent("userids-\(UUID().uuidString)")
        let run = try runner(folder, domain: domain, epochs: 1, resume: false, userIDs: true)
        try run.train(resume: false)
        let data = run.trainer.data, split = data.split
        let stored = try UserIDs.read(RunFolder.userIDsURL(folder), users: split.users)
        XCTAssertEqual(Set(stored).count, split.users.count, "user IDs are unique")
        let userTokens = try XCTUnwrap(data.userTokens)
        for u in split.users.indices {
            let trainingWords = Set(split.train[u].flatMap { data.ids.textualIDs[$0].split(separator: " ").map(String.init) })
            for word in stored[u].split(separator: " ").map(String.init) {
                XCTAssert(trainingWords.contains(word) || Int(word) != nil, "user \(u): '\(word)' of '\(stored[u])' is not a training word")
            }
            XCTAssertEqual(userTokens[u], data.tokenizer.encode(stored[u]))
            let prompt = data.prompt(history: split.test[u].history, template: 0, user: u).tokens
            let n = userTokens[u].count
            XCTAssert((0 ... (prompt.count - n)).contains { Array(prompt[$0 ..< ($0 + n)]) == userTokens[u] }, "user \(u): its ID is in its prompt")
        }
        let loaded = try RecommenderPipeline.load(folder: folder, domain: domain, dataPath: "toy")
        XCTAssertEqual(loaded.trainer.data.userTokens, userTokens)
        let resumed = try runner(folder, domain: domain, epochs: 2, resume: true, userIDs: true)
        XCTAssertEqual(resumed.trainer.data.userTokens, userTokens)

        try FileManager.default.removeItem(at: RunFolder.userIDsURL(folder))
        XCTAssertThrowsError(try RecommenderPipeline.load(folder: folder, domain: domain, dataPath: "toy")) { error in
            XCTAssert("\(error)".contains("user_ids.tsv"), "\(error)")
        }
    }
}
