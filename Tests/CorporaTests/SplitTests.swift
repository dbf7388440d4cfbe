import Foundation
import XCTest
@testable import Corpora

final class SplitTests: XCTestCase {
    func testLeaveOneOutAndTrainingPrefixes() throws {
        let d = Fixture.domain([[0, 1, 2, 3, 4], [4, 3], [2, 2, 1]], items: 5)
        let split = try Split.leaveOneOut(d, historyCap: 2)
        XCTAssertEqual(split.users, ["u0", "u2"])
        XCTAssertEqual(split.excludedUsers, ["u1"])
        XCTAssertEqual(split.train, [[0, 1, 2], [2]])
        XCTAssertEqual(split.validation.map(\.target), [3, 2])
        XCTAssertEqual(split.test.map(\.target), [4, 1])
        XCTAssertEqual(split.validation[0].history, [0, 1, 2])
        XCTAssertEqual(split.test[0].history, [0, 1, 2, 3]) // test history includes the validation item
        XCTAssertEqual(split.test[1].userID, "u2")
        let samples = split.trainingSamples()
        XCTAssertEqual(samples, [TrainingSample(user: 0, history: [0], target: 1), TrainingSample(user: 0, history: [0, 1], target: 2)])
        let capped = try Split.leaveOneOut(Fixture.domain([[0, 1, 2, 3, 4, 0, 1]], items: 5), historyCap: 2).trainingSamples()
        XCTAssertEqual(capped.map(\.history), [[0], [0, 1], [1, 2], [2, 3]])
        XCTAssertEqual(capped.map(\.target), [1, 2, 3, 4])
        XCTAssertEqual(split.trainingItemCounts, [1, 1, 2, 0, 0])
        assertCorporaError(["history cap"]) { _ = try Split.leaveOneOut(d, historyCap: 0) }
    }

    // MARK: leak checks fire on planted leaks

    func testPlantedTestItemInTrainingIsCaught() throws {
        let d = Fixture.domain([[0, 1, 2, 3, 4], [1, 2, 3]], items: 5)
        var split = try Split.leaveOneOut(d)
        split.train[0].append(4) // the test item leaks into training
        assertCorporaError(["user \"u0\"", "training part"]) { try LeakChecks.checkSplit(split, against: d) }
        var shifted = try Split.leaveOneOut(d)
        shifted.test[1].history = [1, 2, 3] // history containing its own target
        assertCorporaError(["evaluation history"]) { try LeakChecks.checkSplit(shifted, against: d) }
        var swapped = try Split.leaveOneOut(d)
        swapped.validation[0].target = 4
        assertCorporaError(["last two items"]) { try LeakChecks.checkSplit(swapped, against: d) }
    }

    func testNonChronologicalTimestampsFail() {
        let d = Fixture.domain([[0, 1, 2], [2, 1, 0]], items: 3, timestamps: [[1, 2, 3], [5, 4, 6]])
        assertCorporaError(["user \"u1\" is not chronological", "item 2"]) { try LeakChecks.checkChronological(d.interactions, source: "toy") }
    }

    func testUserLevelInputsAndCountsMustComeFromTraining() throws {
        let d = Fixture.domain([[0, 1, 2, 3], [3, 3, 1, 0]], items: 4)
        let split = try Split.leaveOneOut(d)
        // A user ID built from the training items passes; one built from the whole sequence
        // (the original IDGenRec) is caught.
        XCTAssertNoThrow(try LeakChecks.checkTrainingInputs(split.train, split: split, what: "user IDs"))
        XCTAssertNoThrow(try LeakChecks.checkTrainingInputs([[1, 0], [3]], split: split, what: "user IDs"))
        assertCorporaError(["user IDs of user \"u0\" uses validation item"]) {
            try LeakChecks.checkTrainingInputs(d.interactions.sequences, split: split, what: "user IDs")
        }
        assertCorporaError(["uses validation item"]) { try LeakChecks.checkTrainingInputs([[0, 2], []], split: split, what: "text") }
        assertCorporaError(["uses non-training item"]) { try LeakChecks.checkTrainingInputs([[], [3, 3, 3]], split: split, what: "text") }
        var allCounts = [Int](repeating: 0, count: 4)
        for s in d.interactions.sequences { for i in s { allCounts[i] += 1 } }
        assertCorporaError(["vocabulary", "validation/test interactions"]) { try LeakChecks.checkCounts(allCounts, split: split, what: "vocabulary") }
        XCTAssertNoThrow(try LeakChecks.checkCounts(split.trainingItemCounts, split: split, what: "vocabulary"))
    }

    func testSortedByIDWarning() {
        var rng = SystemRandomNumberGenerator()
        let sorted = (0 ..< 40).map { _ in Array(Set((0 ..< 6).map { _ in Int.random(in: 0 ..< 30, using: &rng) })).sorted() }.filter { $0.count >= 3 }
        let ids = (0 ..< 30).map { String(format: "P%03d", $0) }
        let d = Fixture.domain(sorted, items: 30, ids: ids)
        XCTAssert(LeakChecks.importWarnings(d).contains { $0.contains("sorted by id") }, "\(LeakChecks.importWarnings(d))")
        // String order, not numeric: "10" sorts before "9".
        let numeric = Fixture.domain(Array(repeating: [0, 1, 2], count: 20), items: 3, ids: ["10", "100", "9"])
        XCTAssertEqual(LeakChecks.sortedByIDFraction(numeric).fraction, 0) // numeric ids compare as numbers: 10, 100, 9 is not sorted
        let shuffled = Fixture.domain((0 ..< 40).map { u in [(u * 7) % 30, (u * 7 + 13) % 30, (u * 7 + 5) % 30, (u * 7 + 2) % 30] }, items: 30, ids: ids)
        XCTAssertFalse(LeakChecks.importWarnings(shuffled).contains { $0.contains("sorted by id") })
    }

    func testSequentialIDLeakWarning() {
        // P5-style: ids 1, 2, 3 ... in order of first appearance.
        let sequences = (0 ..< 20).map { u in [u * 3, u * 3 + 1, u * 3 + 2, max(0, u * 3 - 1)] }
        let ids = (0 ..< 60).map { String($0 + 1) }
        let leaky = Fixture.domain(sequences, items: 60, ids: ids)
        XCTAssertEqual(LeakChecks.sequentialIDFraction(leaky)!, 1, accuracy: 1e-9)
        XCTAssert(LeakChecks.importWarnings(leaky).contains { $0.contains("sequential-ID leak") })
        var rng = SeededGeneratorForTests(seed: 3)
        let random = Fixture.domain(sequences, items: 60, ids: ids.shuffled(using: &rng))
        XCTAssertLessThan(LeakChecks.sequentialIDFraction(random)!, 0.2)
        XCTAssertFalse(LeakChecks.importWarnings(random).contains { $0.contains("sequential-ID leak") })
        XCTAssertNil(LeakChecks.sequentialIDFraction(Fixture.domain(sequences, items: 60)))
    }

    func testBeautySplitMatchesReferenceSampleCount() throws {
        let root = try Fixture.datasets()
        let d = try DatasetImporter.load(root.appendingPathComponent("beauty"))
        let split = try Split.leaveOneOut(d)
        XCTAssertEqual(split.users.count, 22363)
        // REFERENCE-RESULTS.md: 131,413 training samples per epoch (every prefix with a history).
        XCTAssertEqual(split.trainingSamples().count, 131_413)
    }
}

struct SeededGeneratorForTests: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
