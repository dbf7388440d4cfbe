import Foundation
import XCTest
@testable import Corpora

final class SyntheticTests: XCTestCase {
    /// A small sequence model over item text: P(next category path | last category path) from
    /// training transitions × (1 + 4 × the user's history items of the same brand) × (1 + those
    /// of the same colour, the last part of the title) × √popularity. If it beats MostPop, the corpus has learnable, text-visible structure.
    func textSequenceRanking(_ split: Split, _ catalog: Catalog) -> Ranking {
        let category = (0 ..< catalog.count).map { catalog.value("categories", at: $0) ?? "" }
        let brand = (0 ..< catalog.count).map { catalog.value("brand", at: $0) ?? "" }
        let color = (0 ..< catalog.count).map { String(catalog.value("title", at: $0)?.split(separator: ",").last ?? "") }
        var transitions: [String: [String: Double]] = [:]
        for items in split.train { for (a, b) in zip(items, items.dropFirst()) { transitions[category[a], default: [:]][category[b], default: 0] += 1 } }
        let pop = split.trainingItemCounts.map(Double.init)
        let total = pop.reduce(0, +) + 1
        return .scores { t in
            let last = t.history.last.map { category[$0] } ?? ""
            let row = transitions[last] ?? [:]
            let rowTotal = row.values.reduce(0, +) + 1
            var brandCount: [String: Double] = [:], colorCount: [String: Double] = [:]
            for i in t.history {
                brandCount[brand[i], default: 0] += 1
                colorCount[color[i], default: 0] += 1
            }
            return (0 ..< catalog.count).map { i in
                let pType = ((row[category[i]] ?? 0) + 0.1) / rowTotal
                return Float(pType * (1 + 4 * (brandCount[brand[i]] ?? 0)) * (1 + (colorCount[color[i]] ?? 0)) * ((pop[i] + 1) / total).squareRoot())
            }
        }
    }

    func testSmallCorpusIsDeterministicAndLearnable() throws {
        let config = SyntheticCorpus.Config()
        let a = try SyntheticCorpus.generate(config)
        let b = try SyntheticCorpus.generate(config)
        XCTAssertGreaterThanOrEqual(a.count, 3)
        XCTAssertEqual(a.map { $0.interactions }, b.map { $0.interactions })
        XCTAssertEqual(a.map { $0.catalog }, b.map { $0.catalog })
        var other = config
        other.seed = 8
        XCTAssertNotEqual(try SyntheticCorpus.generate(other).map { $0.interactions }, a.map { $0.interactions })
        let allIDs = a.flatMap { $0.catalog.ids }
        XCTAssertEqual(Set(allIDs).count, allIDs.count, "item ids unique across domains")
        for d in a {
            XCTAssertEqual(d.catalog.count, config.itemsPerDomain)
            XCTAssert(d.interactions.sequences.allSatisfy { $0.count >= 5 })
            XCTAssertEqual(d.catalog.fields[0].map(\.key), ["title", "brand", "categories", "price", "description"])
            XCTAssertEqual(LeakChecks.importWarnings(d), [])
            let split = try Split.leaveOneOut(d)
            let e = Evaluator(split: split, catalog: d.catalog)
            let pop = try e.evaluate(model: "mostpop", part: .test, ranking: try MostPop(split: split).ranking, data: d.name).report
            let seq = try e.evaluate(model: "transition", part: .test, ranking: textSequenceRanking(split, d.catalog), data: d.name).report
            print(String(format: "%@: MostPop R@10 %.4f N@10 %.4f, text sequence model R@10 %.4f N@10 %.4f", d.name, pop.metrics["recall@10"]!, pop.metrics["ndcg@10"]!, seq.metrics["recall@10"]!, seq.metrics["ndcg@10"]!))
            XCTAssertGreaterThan(seq.metrics["recall@10"]!, 1.5 * pop.metrics["recall@10"]!, "\(d.name): \(seq.metrics) vs \(pop.metrics)")
        }
    }

    func testBundledCorpusIsTheGeneratorsOutput() throws {
        let folder = Fixture.packageRoot.appendingPathComponent("corpora/synthetic")
        let config = try JSONDecoder().decode(SyntheticCorpus.Config.self, from: Data(contentsOf: folder.appendingPathComponent("config.json")))
        let domains = try SyntheticCorpus.generate(config)
        var total = 0
        for d in domains {
            let loaded = try DatasetImporter.load(folder.appendingPathComponent(d.name))
            XCTAssertEqual(loaded.catalog, d.catalog, d.name)
            XCTAssertEqual(loaded.interactions, d.interactions, d.name)
            XCTAssertEqual(loaded.report.warnings, [], d.name)
            for f in ["user_sequence.txt", "item_plain_text.txt"] {
                total += try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent("\(d.name)/\(f)").path)[.size] as! Int
            }
        }
        XCTAssertGreaterThanOrEqual(domains.count, 3)
        XCTAssertGreaterThanOrEqual(domains.reduce(0) { $0 + $1.catalog.count }, 2000)
        XCTAssertLessThan(total, 5_000_000)
    }
}
