@testable import IDGen
import XCTest

/// The token layout of semantic IDs (`<a_17><b_203><c_5><d_0>`) that tables, the vocabulary and
/// the recommender share.
final class SemanticCodeLayoutTests: XCTestCase {
    func testIDsRoundTripThroughTokens() throws {
        let layout = SemanticCodeLayout(levels: 3, codebookSize: 256, disambiguationSize: 8)
        let id = try layout.id(codes: [17, 203, 5, 0])
        XCTAssertEqual(id, "<a_17><b_203><c_5><d_0>")
        XCTAssertEqual(layout.codes(of: id), [17, 203, 5, 0])
        XCTAssertEqual(SemanticCodeLayout.parse("<a_1><b_2>"), [1, 2])
    }

    func testOutOfRangeAndMalformedIDsAreRejected() {
        let layout = SemanticCodeLayout(levels: 2, codebookSize: 4, disambiguationSize: 2)
        XCTAssertThrowsError(try layout.id(codes: [1, 2]))          // 2 codes, 3 levels
        XCTAssertThrowsError(try layout.id(codes: [1, 4, 0]))       // 4 is outside 0..<4
        XCTAssertThrowsError(try layout.id(codes: [1, 2, 2]))       // collision level has 2 codes
        XCTAssertNil(layout.codes(of: "<a_1><b_2><c_2>"))
        XCTAssertNil(layout.codes(of: "<a_1><b_2>"))
        for bad in ["", "a_1", "<a_1", "<b_1><a_2>", "<a_01>", "<a_-1>", "<a_1> <b_2>", "<a_x>", "<a_1>x"] {
            XCTAssertNil(SemanticCodeLayout.parse(bad), bad)
        }
    }

    func testAllTokensCoverEveryLevelOnce() throws {
        let layout = SemanticCodeLayout(levels: 3, codebookSize: 5, disambiguationSize: 3)
        let tokens = layout.allTokens
        XCTAssertEqual(tokens.count, 3 * 5 + 3)
        XCTAssertEqual(Set(tokens).count, tokens.count)
        XCTAssertEqual(tokens.first, "<a_0>")
        XCTAssertEqual(tokens.last, "<d_2>")
        XCTAssertEqual(SemanticCodeLayout(levels: 2, codebookSize: 3, disambiguationSize: 0).totalLevels, 2)
        XCTAssertThrowsError(try SemanticCodeLayout(levels: 0).validate())
    }
}
