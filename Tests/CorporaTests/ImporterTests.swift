import Foundation
import XCTest
@testable import Corpora

final class ImporterTests: XCTestCase {
    let items = """
    X1 title: Travel Bag Dimensions: 10"L; Expanded Dimensions: 12"L; categories: Beauty, Bags
    X2 title: Kit; 12pc "FAIR" Set; brand: Acme; categories: Beauty, Makeup
    X3 title: Nail Polish: Red; price: 9.99
    X4 title: Never Bought

    """

    func testIDGenRecLayoutFieldsAndOrder() throws {
        let url = try Fixture.folder(text: ["item_plain_text.txt": items, "user_sequence.txt": "u1 X2 X1 X3\nu2 X3 X3 X1 X2\n\n"])
        let d = try DatasetImporter.load(url)
        XCTAssertEqual(d.report.format, .idgenrec)
        XCTAssertEqual(d.catalog.ids, ["X1", "X2", "X3", "X4"]) // file order, unused items kept
        XCTAssertEqual(d.catalog.fields[0], [TextField("title", "Travel Bag Dimensions: 10\"L; Expanded Dimensions: 12\"L"), TextField("categories", "Beauty, Bags")])
        XCTAssertEqual(d.catalog.text(of: "X2"), "title: Kit; 12pc \"FAIR\" Set; brand: Acme; categories: Beauty, Makeup")
        XCTAssertEqual(d.catalog.value("title", at: 2), "Nail Polish: Red")
        XCTAssertEqual(d.interactions.users, ["u1", "u2"])
        XCTAssertEqual(d.itemIDs(ofUser: 1), ["X3", "X3", "X1", "X2"])
        XCTAssertNil(d.interactions.timestamps)
        XCTAssertEqual(d.interactions.interactionCount, 7)
    }

    func testRecBoleSortsByTimeKeepingTiesInFileOrder() throws {
        let url = try Fixture.folder(text: [
            "toy.inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\nA\t2\t5\t30\nB\t1\t3\t10\nA\t1\t4\t10\nA\t3\t4\t10\nB\t3\t1\t5\n",
            "toy.item": "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n1\tToy Story\t1995\tAnimation Comedy\n2\tHeat\t\tAction\n3\tFargo\t1996\tCrime\n",
        ])
        let d = try DatasetImporter.load(url)
        XCTAssertEqual(d.report.format, .recbole)
        XCTAssertEqual(d.interactions.users, ["A", "B"])
        XCTAssertEqual(d.itemIDs(ofUser: 0), ["1", "3", "2"]) // time 10, 10 (file order), 30
        XCTAssertEqual(d.itemIDs(ofUser: 1), ["3", "1"])
        XCTAssertEqual(d.interactions.timestamps!, [[10, 10, 30], [5, 10]])
        XCTAssertEqual(d.catalog.text(of: "2"), "movie_title: Heat; class: Action") // empty year dropped
    }

    func testLCRecJSONKeepsFileOrderAndNumericIDsAsStrings() throws {
        let url = try Fixture.folder(text: [
            "Toy.inter.json": #"{"7": [10, 2, 10], "3": ["2", 10]}"#,
            "Toy.item.json": "{\n \"10\": {\"title\": \"Stapler\", \"description\": \"\", \"brand\": \"Swingline\", \"categories\": \"Office, Staplers\"},\n \"2\": {\"title\": \"Pens\", \"tags\": [\"blue\", \"gel\"]}\n}",
        ])
        let d = try DatasetImporter.load(url)
        XCTAssertEqual(d.report.format, .lcrec)
        XCTAssertEqual(d.catalog.ids, ["10", "2"])
        XCTAssertEqual(d.catalog.text(of: "10"), "title: Stapler; brand: Swingline; categories: Office, Staplers")
        XCTAssertEqual(d.catalog.text(of: "2"), "title: Pens; tags: blue, gel")
        XCTAssertEqual(d.interactions.users, ["7", "3"])
        XCTAssertEqual(d.itemIDs(ofUser: 0), ["10", "2", "10"])
    }

    func testAmazon2014GzipPythonLiterals() throws {
        let url = Fixture.folder.appendingPathComponent("amazon2014")
        let d = try DatasetImporter.load(url, options: ImportOptions(kCore: 0))
        XCTAssertEqual(d.report.format, .amazon)
        XCTAssertEqual(d.catalog.ids, ["A100", "A200", "A300", "A999"]) // meta order, only interacted items
        XCTAssertEqual(d.interactions.users, ["U1", "U2", "U3"])
        XCTAssertEqual(d.itemIDs(ofUser: 0), ["A200", "A300", "A100"])
        XCTAssertEqual(d.itemIDs(ofUser: 1), ["A100", "A200", "A300"]) // tie at 400 in file order
        XCTAssertEqual(d.catalog.text(of: "A100"), "title: Rose Lip Balm; brand: Burt's Bees; categories: Beauty, Skin Care, Lips | Gifts; price: 4.99; description: Soothing\nbalm \u{e9}t\u{e9}")
        XCTAssertEqual(d.catalog.text(of: "A200"), "title: Men's Face Wash; categories: Beauty, Skin Care")

        // Default 5-core would empty this tiny file; 2-core removes A999 and then U3.
        let core = try DatasetImporter.load(url, options: ImportOptions(kCore: 2))
        XCTAssertEqual(core.interactions.users, ["U1", "U2"])
        XCTAssertEqual(core.catalog.ids, ["A100", "A200", "A300"])
        XCTAssertEqual(core.report.kCoreRemovedUsers, 1)
        XCTAssertEqual(core.report.kCoreRemovedInteractions, 2)
        XCTAssertEqual(core.report.kCoreRemovedItems, 1)
        assertCorporaError(["no users"]) { _ = try DatasetImporter.load(url) }
    }

    func testAmazon2018JSONLines() throws {
        let d = try DatasetImporter.load(Fixture.folder.appendingPathComponent("amazon2018"), options: ImportOptions(kCore: 1))
        XCTAssertEqual(d.catalog.text(of: "B1"), "title: Ocean Puzzle; brand: Ravensburger; categories: Toys & Games, Puzzles; price: $12.99; description: A 500-piece puzzle., Ages 8+")
        XCTAssertEqual(d.catalog.text(of: "B2"), "title: Wooden Blocks \u{2013} Set of 50")
        XCTAssertEqual(d.itemIDs(ofUser: 1), ["B1", "B2"])
        XCTAssertEqual(d.interactions.timestamps![1], [1_514_764_600, 1_514_764_700])
    }

    func testKCoreIsIterative() {
        // Item 3 has 1 interaction; removing it leaves u2 with 1 item, which then leaves item 2 with 1.
        let data = Interactions(users: ["u0", "u1", "u2"], sequences: [[0, 1, 2], [0, 1, 2], [2, 3]])
        let out = KCore.filter(data, k: 2, itemCount: 4)
        XCTAssertEqual(out.users, ["u0", "u1"])
        XCTAssertEqual(out.sequences, [[0, 1, 2], [0, 1, 2]])
        let out3 = KCore.filter(data, k: 3, itemCount: 4)
        XCTAssertEqual(out3.users, [])
    }

    func testFormatDetectionAndOverride() throws {
        let url = try Fixture.folder(text: ["notes.txt": "hello"])
        assertCorporaError(["unknown dataset format", "user_sequence.txt"]) { _ = try DatasetImporter.load(url) }
        let both = try Fixture.folder(text: ["item_plain_text.txt": "a title: A\n", "user_sequence.txt": "u a\n",
                                             "x.inter": "user_id:token\titem_id:token\nu\ta\n", "x.item": "item_id:token\ttitle:token_seq\na\tA\n"])
        XCTAssertEqual(try DatasetImporter.load(both).report.format, .idgenrec)
        XCTAssertEqual(try DatasetImporter.load(both, options: ImportOptions(format: .recbole)).report.format, .recbole)
        assertCorporaError(["--format lcrec"]) { _ = try DatasetImporter.load(both, options: ImportOptions(format: .lcrec)) }
    }

    // MARK: bad input: strict errors name file and line; lenient mode counts skips

    func checkBad(_ files: [String: [UInt8]], file: String, line: Int, reason: String, skipReason: String?, count: Int = 1) throws {
        let url = try Fixture.folder(files)
        assertCorporaError([file + ":\(line):", reason]) { _ = try DatasetImporter.load(url) }
        if let skipReason {
            let d = try DatasetImporter.load(url, options: ImportOptions(lenient: true))
            XCTAssertEqual(d.report.skipped[skipReason], count, "\(d.report.skipped)")
            XCTAssert(d.report.skipExamples.contains { $0.contains("\(file):\(line):") }, "\(d.report.skipExamples)")
        }
    }

    let goodItems = Array("a title: A\nb title: B\nc title: C\n".utf8)

    func testMalformedLine() throws {
        try checkBad(["item_plain_text.txt": goodItems, "user_sequence.txt": Array("u1 a b c\nu2\nu3 c b\n".utf8)],
                     file: "user_sequence.txt", line: 2, reason: "expected `user_id item_id", skipReason: "malformed line")
        try checkBad(["item_plain_text.txt": Array("a title: A\nb Big Title\n".utf8), "user_sequence.txt": Array("u1 a\n".utf8)],
                     file: "item_plain_text.txt", line: 2, reason: "expected `item_id key: value", skipReason: "malformed line")
        try checkBad(["x.inter": Array("user_id:token\titem_id:token\ttimestamp:float\nu\ta\t1\nu\tb\tyesterday\n".utf8),
                      "x.item": Array("item_id:token\ttitle:token_seq\na\tA\nb\tB\n".utf8)],
                     file: "x.inter", line: 3, reason: "is not a number", skipReason: "malformed line")
        try checkBad(["x.inter.json": Array("{\"u\": [\"a\",\n \"b\" \"c\"]}".utf8), "x.item.json": Array("{\"a\": {\"title\": \"A\"}}".utf8)],
                     file: "x.inter.json", line: 2, reason: "expected ','", skipReason: nil)
    }

    func testUnknownItemInSequence() throws {
        try checkBad(["item_plain_text.txt": goodItems, "user_sequence.txt": Array("u1 a b\nu2 a zz c\n".utf8)],
                     file: "user_sequence.txt", line: 2, reason: "item \"zz\" of user \"u2\" is not in the catalog", skipReason: "unknown item")
        let d = try DatasetImporter.load(try Fixture.folder(["item_plain_text.txt": goodItems, "user_sequence.txt": Array("u1 a b\nu2 a zz c\n".utf8)]),
                                         options: ImportOptions(lenient: true))
        XCTAssertEqual(d.itemIDs(ofUser: 1), ["a", "c"])
    }

    func testItemWithoutText() throws {
        try checkBad(["item_plain_text.txt": Array("a title: A\nb\nc title:   \n".utf8), "user_sequence.txt": Array("u1 a\n".utf8)],
                     file: "item_plain_text.txt", line: 2, reason: "has no text", skipReason: "item without text", count: 2)
        try checkBad(["x.inter.json": Array("{\"u\": [\"a\"]}".utf8), "x.item.json": Array("{\"a\": {\"title\": \"A\"},\n\"b\": {\"title\": \"\", \"brand\": \"\"}}".utf8)],
                     file: "x.item.json", line: 2, reason: "item \"b\" has no text", skipReason: "item without text")
    }

    func testDuplicateUserLine() throws {
        try checkBad(["item_plain_text.txt": goodItems, "user_sequence.txt": Array("u1 a b\nu2 c\nu1 c\n".utf8)],
                     file: "user_sequence.txt", line: 3, reason: "user \"u1\" appears again (first at line 1)", skipReason: "duplicate user")
        try checkBad(["x.inter.json": Array("{\"u\": [\"a\"],\n\"u\": [\"a\"]}".utf8), "x.item.json": Array("{\"a\": {\"title\": \"A\"}}".utf8)],
                     file: "x.inter.json", line: 2, reason: "appears again", skipReason: "duplicate user")
    }

    func testNonUTF8Bytes() throws {
        var bad = Array("a title: A\n".utf8)
        bad += [0x62, 0x20] + Array("title: B".utf8) + [0xC3, 0x28] + [0x0A]
        try checkBad(["item_plain_text.txt": bad, "user_sequence.txt": Array("u1 a\n".utf8)],
                     file: "item_plain_text.txt", line: 2, reason: "invalid UTF-8", skipReason: "invalid UTF-8")
        try checkBad(["x.inter.json": Array("{\"u\": [\"a\"]}".utf8), "x.item.json": Array("{\"a\":\n {\"title\": \"A".utf8) + [0xFF] + Array("\"}}".utf8)],
                     file: "x.item.json", line: 2, reason: "invalid UTF-8", skipReason: nil)
    }

    func testEmptyFile() throws {
        let url = try Fixture.folder(["item_plain_text.txt": goodItems, "user_sequence.txt": Array(" \n\n".utf8)])
        for options in [ImportOptions(), ImportOptions(lenient: true)] {
            assertCorporaError(["user_sequence.txt: file is empty"]) { _ = try DatasetImporter.load(url, options: options) }
        }
        let json = try Fixture.folder(["x.inter.json": [], "x.item.json": Array("{}".utf8)])
        assertCorporaError(["x.inter.json: file is empty"]) { _ = try DatasetImporter.load(json) }
    }

    // MARK: real data (skipped when ../shared/datasets is absent)

    func testRealDatasetCounts() throws {
        let root = try Fixture.datasets()
        let expected: [(String, Int, Int, Int)] = [("beauty", 22363, 12101, 198_502), ("office", 4905, 2420, 53258), ("ml-100k", 943, 1682, 100_000),
                                                   ("pretrain/steam", 10369, 3593, 126_824)]
        for (name, users, items, interactions) in expected {
            let d = try DatasetImporter.load(root.appendingPathComponent(name))
            XCTAssertEqual(d.interactions.userCount, users, name)
            XCTAssertEqual(d.catalog.count, items, name)
            XCTAssertEqual(d.interactions.interactionCount, interactions, name)
            XCTAssertEqual(d.report.totalSkipped, 0, name)
        }
        let beauty = try DatasetImporter.load(root.appendingPathComponent("beauty"))
        XCTAssertEqual(beauty.catalog.value("title", at: 0), "WAWO 15 Color Professionl Makeup Eyeshadow Camouflage Facial Concealer Neutral Palette")
        XCTAssertEqual(beauty.catalog.fields.map { $0.map(\.key) }.filter { $0 != ["title", "categories"] }.count, 0)
        // Office ids were numbered in interaction order: the sequential-id leak check must fire.
        let office = try DatasetImporter.load(root.appendingPathComponent("office"))
        XCTAssert(office.report.warnings.contains { $0.contains("sequential-ID leak") }, "\(office.report.warnings)")
        for domain in ["amazon2014-clothing", "amazon2014-health", "amazon2014-electronic", "amazon2018-game"] {
            XCTAssert(FileManager.default.fileExists(atPath: root.appendingPathComponent("pretrain/\(domain)/\(domain).inter").path), domain)
        }
    }

    func testAllPretrainDomainsImport() throws {
        guard ProcessInfo.processInfo.environment["IDGENREC_LONG_TESTS"] == "1" else {
            throw XCTSkip("long test: set IDGENREC_LONG_TESTS=1 (make test-long) to import every pretrain domain")
        }
        let root = try Fixture.datasets()
        let expected = ["amazon2014-clothing": (39230, 22948, 277_534), "amazon2014-health": (38329, 18427, 343_831),
                        "amazon2014-electronic": (28566, 15743, 241_198), "amazon2018-game": (50597, 16874, 453_637)]
        for (name, counts) in expected {
            let d = try DatasetImporter.load(root.appendingPathComponent("pretrain/\(name)"))
            XCTAssertEqual(d.interactions.userCount, counts.0, name)
            XCTAssertEqual(d.catalog.count, counts.1, name)
            XCTAssertEqual(d.interactions.interactionCount, counts.2, name)
        }
    }
}
