import Autograd
import Corpora
import Foundation
@testable import IDGen
import Support
import TensorCore
import TestSupport
import XCTest

/// Semantic-ID quantisers (issue 19): balanced residual k-means, RQ-VAE, co-occurrence fusion,
/// collision codes and the saved quantiser. Synthetic embeddings; structural properties only (no
/// exact codes of a trained model: they may differ between BLAS kernels).
final class SemanticQuantiserTests: XCTestCase {
    /// `n` unit rows of dimension `dim` around `clusters` random centres.
    static func embeddings(n: Int = 600, dim: Int = 16, clusters: Int = 12, seed: UInt64 = 1) -> Tensor {
        var g = SeededGenerator(seed: seed)
        let centres = Tensor.normal(shape: [clusters, dim], std: 1, generator: &g)
        let x = Tensor(uninitialized: [n, dim])
        for i in 0 ..< n {
            let c = Int(g.next() % UInt64(clusters))
            for j in 0 ..< dim { x.pointer[i * dim + j] = centres.pointer[c * dim + j] + 0.3 * g.nextGaussian() }
        }
        withExtendedLifetime(centres) {}
        SemanticQuantiser.normaliseRows(x)
        return x
    }

    static func settings(_ kind: SemanticQuantiserSettings.Kind, k: Int = 8, seed: UInt64 = 3) -> SemanticQuantiserSettings {
        var s = SemanticQuantiserSettings(kind: kind)
        s.codebookSize = k
        s.disambiguationSize = 64
        s.seed = seed
        s.kmeansIterations = 5
        s.hidden = [24, 12]
        s.latent = 6
        s.epochs = 6
        s.batchSize = 64
        s.initRows = 256
        return s
    }

    static func ids(_ n: Int) -> [String] { (0 ..< n).map { "item\($0)" } }

    func testResidualKMeansIsDeterministicPerSeedAndBalanced() throws {
        let x = Self.embeddings()
        let s = Self.settings(.rkmeans)
        let a = try SemanticQuantiserTraining.train(embeddings: x, settings: s)
        let b = try SemanticQuantiserTraining.train(embeddings: x, settings: s)
        XCTAssertEqual(a.codes, b.codes, "same seed, same codes")
        XCTAssertEqual(a.quantiser.codebooks, b.quantiser.codebooks)
        let capacity = Int((600.0 / 8 * 1.1).rounded(.up))
        for level in 0 ..< 3 {
            var counts = [Int](repeating: 0, count: 8)
            for c in a.codes { counts[c[level]] += 1 }
            XCTAssertLessThanOrEqual(counts.max()!, capacity, "level \(level) respects the balance bound: \(counts)")
            XCTAssertEqual(counts.filter { $0 > 0 }.count, 8, "level \(level) uses every code: \(counts)")
        }
        let table = try SemanticCodeAssignment.assign(itemIDs: Self.ids(600), codes: a.codes, layout: s.layout)
        let report = try SemanticCodeReport.measure(table, layout: s.layout)
        XCTAssertLessThanOrEqual(report.levels[0].largestShare, Double(capacity) / 600 + 1e-9)
        XCTAssertGreaterThan(report.levels[0].perplexity, 7, "a balanced level is near uniform")
    }

    /// The balanced assignment never exceeds its capacity even when every row prefers one centre.
    func testBalancedAssignmentRespectsCapacity() {
        let dist = Tensor(uninitialized: [10, 3])
        for i in 0 ..< 10 { dist.pointer[i * 3] = Float(i) * 0.01; dist.pointer[i * 3 + 1] = 1 + Float(i); dist.pointer[i * 3 + 2] = 2 }
        let out = KMeans.assign(dist, capacity: 4)
        XCTAssertEqual(out.filter { $0 == 0 }.count, 4)
        XCTAssertEqual(Array(out.prefix(4)), [0, 0, 0, 0], "closest rows keep their nearest centre")
        XCTAssertEqual(Array(out[4 ..< 8]), [2, 2, 2, 2], "the next rows take their nearest centre with room")
        XCTAssertEqual(Array(out[8...]), [1, 1])
    }

    func testCollisionCodesCountUpInItemOrderAndIDsAreUnique() throws {
        let layout = SemanticCodeLayout(levels: 2, codebookSize: 4, disambiguationSize: 3)
        let codes = [[1, 2], [0, 0], [1, 2], [1, 2], [3, 3]]
        let table = try SemanticCodeAssignment.assign(itemIDs: Self.ids(5), codes: codes, layout: layout)
        XCTAssertEqual(table.textualIDs, ["<a_1><b_2><c_0>", "<a_0><b_0><c_0>", "<a_1><b_2><c_1>", "<a_1><b_2><c_2>", "<a_3><b_3><c_0>"])
        let report = try SemanticCodeReport.measure(table, layout: layout, pairs: [(0, 2), (1, 4)])
        XCTAssertEqual(report.largestCollisionGroup, 3)
        XCTAssertEqual(report.collisionShare, 2.0 / 5, accuracy: 1e-12)
        XCTAssertEqual(report.pairsSharingFirstCode!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(report.levels[0].codesUsed, 3)
        // One more item in the full group: a clear error.
        XCTAssertThrowsError(try SemanticCodeAssignment.assign(itemIDs: Self.ids(6), codes: codes + [[1, 2]], layout: layout)) { error in
            XCTAssert("\(error)".contains("share the codes [1, 2]") && "\(error)".contains("item5"), "\(error)")
        }
    }

    func testExtendKeepsExistingIDsAndGivesNewItemsTheSmallestFreeCollisionCode() throws {
        let x = Self.embeddings()
        let s = Self.settings(.rkmeans)
        let head = RQVAE.rows(x, 0 ..< 500)
        let trained = try SemanticQuantiserTraining.train(embeddings: head, settings: s)
        let old = try SemanticCodeAssignment.assign(itemIDs: Array(Self.ids(600).prefix(500)), codes: trained.codes, layout: s.layout)
        let all = try SemanticCodeAssignment.extend(existing: old, itemIDs: Self.ids(600), embeddings: x, quantiser: trained.quantiser)
        XCTAssertEqual(all.count, 600)
        for (item, id) in zip(old.itemIDs, old.textualIDs) { XCTAssertEqual(all.textualID(of: item), id) }
        let newCodes = try trained.quantiser.quantise(RQVAE.rows(x, 500 ..< 600))
        var taken: [[Int]: Set<Int>] = [:]
        for id in old.textualIDs { let c = s.layout.codes(of: id)!; taken[Array(c.prefix(3)), default: []].insert(c[3]) }
        for (k, item) in Self.ids(600).suffix(100).enumerated() {
            let c = s.layout.codes(of: all.textualID(of: item)!)!
            XCTAssertEqual(Array(c.prefix(3)), newCodes[k], "new items get the quantiser's codes")
            var free = 0
            while taken[newCodes[k], default: []].contains(free) { free += 1 }
            XCTAssertEqual(c[3], free, "smallest free collision code")
            taken[newCodes[k], default: []].insert(free)
        }
        // Nothing new: the table is the old one.
        XCTAssertEqual(try SemanticCodeAssignment.extend(existing: old, itemIDs: old.itemIDs, embeddings: head, quantiser: trained.quantiser), old)
    }

    func testSaveAndLoadGiveTheSameCodes() throws {
        let x = Self.embeddings()
        for kind in SemanticQuantiserSettings.Kind.allCases {
            let pairs = (0 ..< 200).map { ($0, $0 + 1) }
            var fusion = CooccurrenceFusionOptions()
            fusion.epochs = 1
            fusion.batchSize = 32
            let trained = try SemanticQuantiserTraining.train(embeddings: x, settings: Self.settings(kind), fusion: (fusion, pairs))
            let url = ScratchSpace.root.appendingPathComponent("q-\(UUID().uuidString).safetensors")
            try trained.quantiser.save(to: url)
            let loaded = try SemanticQuantiser.load(from: url)
            XCTAssertEqual(loaded.settings, trained.quantiser.settings)
            XCTAssertEqual(loaded.fusion, fusion)
            XCTAssertEqual(loaded.layout, Self.settings(kind).layout)
            XCTAssertEqual(try loaded.quantise(x), try trained.quantiser.quantise(x), "\(kind)")
            if kind == .rqvae { XCTAssertEqual(try trained.quantiser.quantise(x), trained.codes, "RQ-VAE table codes are the quantiser's") }
        }
    }

    func testRQVAEIsDeterministicPerSeedAndUsesItsCodebooks() throws {
        let x = Self.embeddings()
        let s = Self.settings(.rqvae)
        let a = try SemanticQuantiserTraining.train(embeddings: x, settings: s)
        let b = try SemanticQuantiserTraining.train(embeddings: x, settings: s)
        XCTAssertEqual(a.codes, b.codes)
        XCTAssert(a.codes.allSatisfy { $0.count == 3 && $0.allSatisfy { (0 ..< 8).contains($0) } })
        let table = try SemanticCodeAssignment.assign(itemIDs: Self.ids(600), codes: a.codes, layout: s.layout)
        let report = try SemanticCodeReport.measure(table, layout: s.layout)
        XCTAssertGreaterThanOrEqual(report.levels[0].codesUsed, 4, "\(report.summary)")
        XCTAssert(a.reconstructionLoss!.isFinite && a.quantisationLoss!.isFinite)
    }

    func testBadInputIsAClearError() throws {
        let x = Self.embeddings()
        let trained = try SemanticQuantiserTraining.train(embeddings: x, settings: Self.settings(.rkmeans))
        XCTAssertThrowsError(try trained.quantiser.quantise(Tensor(zeros: [3, 8]))) { error in
            XCTAssert("\(error)".contains("dimension 8") && "\(error)".contains("trained on 16"), "\(error)")
        }
        XCTAssertThrowsError(try SemanticQuantiserTraining.train(embeddings: RQVAE.rows(x, 0 ..< 5), settings: Self.settings(.rkmeans))) { error in
            XCTAssert("\(error)".contains("5 items but 8 codes"), "\(error)")
        }
        let textual = try IDTable(itemIDs: ["item0"], textualIDs: ["red shampoo"])
        XCTAssertThrowsError(try SemanticCodeAssignment.extend(existing: textual, itemIDs: Self.ids(600), embeddings: x, quantiser: trained.quantiser)) { error in
            XCTAssert("\(error)".contains("not a semantic ID"), "\(error)")
        }
        let garbage = ScratchSpace.root.appendingPathComponent("garbage-\(UUID().uuidString).safetensors")
        try Data("not a safetensors file".utf8).write(to: garbage)
        XCTAssertThrowsError(try SemanticQuantiser.load(from: garbage)) { error in XCTAssert("\(error)".contains(garbage.path), "\(error)") }
        let notQuantiser = ScratchSpace.root.appendingPathComponent("plain-\(UUID().uuidString).safetensors")
        try SafeTensors.save(["w": Tensor(zeros: [2])], to: notQuantiser)
        XCTAssertThrowsError(try SemanticQuantiser.load(from: notQuantiser)) { error in XCTAssert("\(error)".contains("not a semantic quantiser"), "\(error)") }
        let malformed = ScratchSpace.root.appendingPathComponent("bad-\(UUID().uuidString).tsv")
        try "item0\t<a_1><b_2>\nitem1\n".write(to: malformed, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try IDTable.read(malformed)) { error in XCTAssert("\(error)".contains(":2:"), "\(error)") }
    }

    // MARK: Leak freedom

    /// Changing every user's last two items (validation and test) leaves the pairs, the fused
    /// projection and the codes unchanged.
    func testHeldOutItemsDoNotInfluenceTheQuantiser() throws {
        let n = 120
        let catalog = Catalog(items: (0 ..< n).map { (id: "i\($0)", fields: [TextField("title", "item \($0)")]) })
        var g = SeededGenerator(seed: 5)
        let sequences = (0 ..< 80).map { _ in (0 ..< 6).map { _ in Int(g.next() % UInt64(n)) } }
        func domain(_ seqs: [[Int]]) -> Domain {
            Domain(name: "toy", catalog: catalog, interactions: Interactions(users: (0 ..< seqs.count).map { "u\($0)" }, sequences: seqs),
                   report: ImportReport(format: .idgenrec, files: []))
        }
        let changed = sequences.map { s in Array(s.prefix(4)) + [(s[4] + 17) % n, (s[5] + 31) % n] }
        let x = Self.embeddings(n: n, dim: 12, clusters: 6)
        var fusion = CooccurrenceFusionOptions()
        fusion.batchSize = 16
        fusion.epochs = 3
        var results: [[[Int]]] = [], projections: [[Float]] = []
        for seqs in [sequences, changed] {
            let split = try Split.leaveOneOut(domain(seqs))
            let pairs = try CooccurrenceFusion.pairs(split: split)
            XCTAssert(pairs.allSatisfy { p in split.train.contains { t in zip(t, t.dropFirst()).contains { Set([$0, $1]) == Set([p.0, p.1]) } } })
            let trained = try SemanticQuantiserTraining.train(embeddings: x, settings: Self.settings(.rkmeans), fusion: (fusion, pairs))
            results.append(trained.codes)
            projections.append(trained.quantiser.projection!)
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(projections[0], projections[1])
        XCTAssertNotEqual(projections[0], [Float](repeating: 0, count: 144), "the projection was trained")
        // Whole sequences (the test item included) are refused.
        let split = try Split.leaveOneOut(domain(sequences))
        XCTAssertThrowsError(try LeakChecks.checkTrainingInputs(sequences, split: split, what: "co-occurrence pairs"))
    }

    /// Fusion pulls co-occurring items together: more training pairs share their first code.
    func testFusionMakesCoOccurringItemsShareFirstCodesMoreOften() throws {
        let x = Self.embeddings(n: 400, dim: 16, clusters: 40, seed: 9)
        var g = SeededGenerator(seed: 2)
        let pairs = (0 ..< 300).map { _ -> (Int, Int) in
            let a = Int(g.next() % 200)
            return (a, 200 + a) // random partners: content says nothing about them
        }
        var fusion = CooccurrenceFusionOptions()
        fusion.batchSize = 64
        fusion.epochs = 30
        fusion.learningRate = 1e-2
        fusion.contentWeight = 0.1
        let s = Self.settings(.rkmeans, k: 8)
        func share(_ codes: [[Int]]) -> Double { Double(pairs.filter { codes[$0.0][0] == codes[$0.1][0] }.count) / Double(pairs.count) }
        let plain = try SemanticQuantiserTraining.train(embeddings: x, settings: s)
        let fused = try SemanticQuantiserTraining.train(embeddings: x, settings: s, fusion: (fusion, pairs))
        XCTAssertGreaterThan(share(fused.codes), share(plain.codes) + 0.1, "fused \(share(fused.codes)), plain \(share(plain.codes))")
    }

    // MARK: Gradient checks

    func testRQVAELossGradients() {
        var g = SeededGenerator(seed: 11)
        let x = Tensor.normal(shape: [5, 6], std: 1, generator: &g)
        let shapes = [[4, 6], [4], [3, 4], [3], [4, 3], [4], [6, 4], [6], [5, 3], [5, 3]]
        let inputs = shapes.map { Tensor.normal(shape: $0, std: 0.7, generator: &g) }
        // Codes fixed at the nearest ones for the unperturbed parameters (the choice is piecewise constant).
        func parts(_ v: [Variable]) -> ([RQVAE.Layer], [RQVAE.Layer], [Variable]) {
            ([RQVAE.Layer(weight: v[0], bias: v[1]), RQVAE.Layer(weight: v[2], bias: v[3])],
             [RQVAE.Layer(weight: v[4], bias: v[5]), RQVAE.Layer(weight: v[6], bias: v[7])], [v[8], v[9]])
        }
        let (e, d, c) = parts(inputs.map { Variable($0) })
        let base = RQVAE.forward(x: Variable(x), encoder: e, decoder: d, codebooks: c, beta: 0.25)
        // Stop-gradient values held at the unperturbed pass: the backward pass treats them as constants.
        GradCheck().check("rqvae loss", inputs: inputs) { v in
            let (e, d, c) = parts(v)
            return RQVAE.forward(x: Variable(x), encoder: e, decoder: d, codebooks: c, beta: 0.25, codes: base.codes, stopped: base.stopped).loss
        }
        // The straight-through estimator: the decoder's input is Σe, its gradient reaches the encoder.
        let z = RQVAE.mlp(Variable(x), e).value
        let sum = base.stopped.codeVectors.reduce(Tensor(zeros: z.shape)) { Ops.add($0, $1) }
        for (a, b) in zip(Ops.add(z, base.stopped.shift!).scalars, sum.scalars) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testFusionLossGradients() {
        var g = SeededGenerator(seed: 12)
        let a = Tensor.normal(shape: [4, 5], std: 0.5, generator: &g), b = Tensor.normal(shape: [4, 5], std: 0.5, generator: &g)
        GradCheck().check("fusion loss", inputs: [Tensor.normal(shape: [5, 5], std: 0.2, generator: &g), a, b]) { v in
            CooccurrenceFusion.loss(a: v[1], b: v[2], projection: v[0], temperature: 0.5, contentWeight: 0.7)
        }
    }
}
