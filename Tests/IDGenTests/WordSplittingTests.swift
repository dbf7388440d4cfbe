import Support
import XCTest
@testable import IDGen

/// `IDNormalizer.words` has an ASCII fast path; it must split and fold exactly as the
/// definition (every scalar through its Unicode properties) on any text.
final class WordSplittingTests: XCTestCase {
    func testFastPathEqualsTheDefinitionOnRandomText() {
        let pieces = ["a", "Z", "q", "0", "9", " ", "-", "_", "'", ".", ",", "/", "\t", "\n", "&", "(", "É", "é", "e\u{301}",
                      "ß", "İ", "ΟΔΟΣ", "Σ", "ς", "ǅ", "Ⅻ", "½", "１２", "ｶ", "中文", "ि", "\u{903}", "🙂", "\u{200B}", "ﬁ",
                      "Straße", "ÆØÅ", "ǈ", "ŉ", "x\u{308}", "٣", "ABC", "McDonald's"]
        var g = SeededGenerator(seed: 11)
        for _ in 0 ..< 3000 {
            let n = Int(g.next() % 12)
            let text = (0 ..< n).map { _ in pieces[Int(g.next() % UInt64(pieces.count))] }.joined()
            for fold in [true, false] {
                XCTAssertEqual(IDNormalizer.words(text, fold: fold), wordsReference(text, fold: fold), "\(text.debugDescription) fold \(fold)")
            }
        }
    }

    func testExamples() {
        XCTAssertEqual(IDNormalizer.words("OpenX Dual-Blade 2.5oz (ÉCLAIR)", fold: true), ["openx", "dual", "blade", "2", "5oz", "éclair"])
        XCTAssertEqual(IDNormalizer.words("OpenX Dual-Blade", fold: false), ["OpenX", "Dual", "Blade"])
    }
}

/// The definition of `IDNormalizer.words` (every scalar through its Unicode properties): the
/// oracle for its ASCII fast path.
func wordsReference(_ text: String, fold: Bool) -> [String] {
    var words: [String] = []
    var current = String.UnicodeScalarView()
    func flush() {
        if !current.isEmpty {
            let word = String(current)
            words.append(fold ? word.lowercased() : word)
            current.removeAll(keepingCapacity: true)
        }
    }
    for scalar in text.unicodeScalars {
        let p = scalar.properties
        if p.isAlphabetic || p.numericType != nil || p.generalCategory == .nonspacingMark || p.generalCategory == .spacingMark {
            current.append(scalar)
        } else {
            flush()
        }
    }
    flush()
    return words
}
