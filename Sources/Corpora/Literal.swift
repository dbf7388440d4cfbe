/// A parsed JSON or Python-literal value. Objects keep their key order (catalog order comes
/// from the file). One parser reads JSON (LC-Rec files, Amazon 2018 lines) and the Python dict
/// literals of the Amazon 2014 dumps (single quotes, True/False/None).
indirect enum Literal: Equatable {
    case string(String)
    case number(String)
    case bool(Bool)
    case null
    case array([Literal])
    case object([(key: String, value: Literal)])

    static func == (a: Literal, b: Literal) -> Bool {
        switch (a, b) {
        case let (.string(x), .string(y)), let (.number(x), .number(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    subscript(key: String) -> Literal? {
        if case let .object(pairs) = self { return pairs.first { $0.key == key }?.value }
        return nil
    }

    /// Text for a catalog field: strings as is, numbers as written, lists flattened and joined
    /// with ", " (nested lists such as Amazon 2014 category paths are joined with " | ").
    var text: String {
        switch self {
        case let .string(s): return s
        case let .number(n): return n
        case let .bool(b): return b ? "true" : "false"
        case .null: return ""
        case let .array(items):
            let nested = items.contains { if case .array = $0 { return true } else { return false } }
            return items.map(\.text).filter { !$0.isEmpty }.joined(separator: nested ? " | " : ", ")
        case let .object(pairs):
            return pairs.map { "\($0.key): \($0.value.text)" }.joined(separator: ", ")
        }
    }

    /// A scalar id: strings as is, integers as written.
    var idString: String? {
        switch self {
        case let .string(s): return s
        case let .number(n): return n
        default: return nil
        }
    }
}

/// Recursive-descent parser over UTF-8 bytes. Errors give the 1-based line of the problem.
struct LiteralParser {
    struct Failure: Error {
        var line: Int
        var reason: String
    }

    private let bytes: [UInt8]
    private var position = 0
    private var line: Int
    /// Duplicate keys in an object are reported (with their line) rather than silently merged.
    private(set) var duplicateKey: (key: String, line: Int)?

    init(_ bytes: [UInt8], firstLine: Int = 1) {
        self.bytes = bytes
        line = firstLine
    }

    /// Parses exactly one value followed only by whitespace.
    static func parse(_ bytes: [UInt8], firstLine: Int = 1) throws -> Literal {
        var parser = LiteralParser(bytes, firstLine: firstLine)
        let value = try parser.value()
        parser.skipSpace()
        if parser.position < bytes.count { throw parser.fail("unexpected text after the value") }
        return value
    }

    /// Parses a top-level object, reporting the line where each key starts; duplicate keys are
    /// all returned so the caller can report them. Used for LC-Rec files where each key is a user or an item.
    static func parseTopObject(_ bytes: [UInt8]) throws -> [(key: String, line: Int, value: Literal)] {
        var parser = LiteralParser(bytes)
        parser.skipSpace()
        guard parser.peek() == UInt8(ascii: "{") else { throw parser.fail("expected a JSON object `{...}`") }
        parser.position += 1
        var out: [(key: String, line: Int, value: Literal)] = []
        parser.skipSpace()
        if parser.peek() == UInt8(ascii: "}") { parser.position += 1; return out }
        while true {
            parser.skipSpace()
            let keyLine = parser.line
            guard let quote = parser.peek(), quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
                throw parser.fail("expected a quoted key")
            }
            let key = try parser.string()
            parser.skipSpace()
            guard parser.peek() == UInt8(ascii: ":") else { throw parser.fail("expected ':' after key") }
            parser.position += 1
            let v = try parser.value()
            out.append((key, keyLine, v))
            parser.skipSpace()
            if parser.peek() == UInt8(ascii: ",") { parser.position += 1; continue }
            if parser.peek() == UInt8(ascii: "}") { parser.position += 1; break }
            throw parser.fail("expected ',' or '}'")
        }
        parser.skipSpace()
        if parser.position < bytes.count { throw parser.fail("unexpected text after the object") }
        return out
    }

    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private func fail(_ reason: String) -> Failure {
        let near = position < bytes.count ? " near '\(String(decoding: bytes[position ..< min(bytes.count, position + 20)], as: UTF8.self))'" : " at end of input"
        return Failure(line: line, reason: reason + near)
    }

    private mutating func skipSpace() {
        while position < bytes.count {
            let b = bytes[position]
            if b == 0x0A { line += 1 } else if b != 0x20, b != 0x09, b != 0x0D { return }
            position += 1
        }
    }

    private mutating func value() throws -> Literal {
        skipSpace()
        guard let b = peek() else { throw fail("expected a value") }
        switch b {
        case UInt8(ascii: "{"):
            position += 1
            var pairs: [(key: String, value: Literal)] = []
            skipSpace()
            if peek() == UInt8(ascii: "}") { position += 1; return .object(pairs) }
            while true {
                skipSpace()
                guard let q = peek(), q == UInt8(ascii: "\"") || q == UInt8(ascii: "'") else { throw fail("expected a quoted key") }
                let keyLine = line
                let key = try string()
                if duplicateKey == nil, pairs.contains(where: { $0.key == key }) { duplicateKey = (key, keyLine) }
                skipSpace()
                guard peek() == UInt8(ascii: ":") else { throw fail("expected ':' after key") }
                position += 1
                pairs.append((key, try value()))
                skipSpace()
                if peek() == UInt8(ascii: ",") {
                    position += 1
                    skipSpace()
                    if peek() == UInt8(ascii: "}") { position += 1; return .object(pairs) } // Python trailing comma
                    continue
                }
                if peek() == UInt8(ascii: "}") { position += 1; return .object(pairs) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["), UInt8(ascii: "("):
            let close = b == UInt8(ascii: "[") ? UInt8(ascii: "]") : UInt8(ascii: ")")
            position += 1
            var items: [Literal] = []
            skipSpace()
            if peek() == close { position += 1; return .array(items) }
            while true {
                items.append(try value())
                skipSpace()
                if peek() == UInt8(ascii: ",") {
                    position += 1
                    skipSpace()
                    if peek() == close { position += 1; return .array(items) }
                    continue
                }
                if peek() == close { position += 1; return .array(items) }
                throw fail("expected ',' or '\(Character(UnicodeScalar(close)))'")
            }
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "0") ... UInt8(ascii: "9"):
            let start = position
            position += 1
            while let c = peek(), (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") {
                position += 1
            }
            return .number(String(decoding: bytes[start ..< position], as: UTF8.self))
        case UInt8(ascii: "u") where position + 1 < bytes.count && (bytes[position + 1] == UInt8(ascii: "'") || bytes[position + 1] == UInt8(ascii: "\"")),
             UInt8(ascii: "b") where position + 1 < bytes.count && (bytes[position + 1] == UInt8(ascii: "'") || bytes[position + 1] == UInt8(ascii: "\"")):
            position += 1 // Python 2 u'...' / b'...' prefixes
            return .string(try string())
        default:
            for (word, result) in [("true", Literal.bool(true)), ("false", .bool(false)), ("null", .null),
                                   ("True", .bool(true)), ("False", .bool(false)), ("None", .null)] {
                let w = Array(word.utf8)
                if position + w.count <= bytes.count, Array(bytes[position ..< position + w.count]) == w {
                    position += w.count
                    return result
                }
            }
            throw fail("expected a value")
        }
    }

    /// A single- or double-quoted string with JSON and Python escapes (\n, \t, \uXXXX with
    /// surrogate pairs, \xXX, \', \").
    private mutating func string() throws -> String {
        let quote = bytes[position]
        position += 1
        var out: [UInt8] = []
        while true {
            guard let b = peek() else { throw fail("unterminated string") }
            position += 1
            if b == quote { break }
            if b == 0x0A { line += 1 }
            if b != UInt8(ascii: "\\") { out.append(b); continue }
            guard let e = peek() else { throw fail("unterminated escape") }
            position += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"), UInt8(ascii: "x"):
                let digits = e == UInt8(ascii: "u") ? 4 : 2
                var code = try hex(digits)
                if e == UInt8(ascii: "u"), (0xD800 ..< 0xDC00).contains(code),
                   peek() == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") {
                    position += 2
                    let low = try hex(4)
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                let scalar = UnicodeScalar(code) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            case 0x0A: line += 1 // Python line continuation inside a string
            default: out.append(e) // \\ \" \' \/
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func hex(_ n: Int) throws -> UInt32 {
        guard position + n <= bytes.count else { throw fail("truncated escape") }
        var v: UInt32 = 0
        for _ in 0 ..< n {
            let c = bytes[position]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0") ... UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a") ... UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A") ... UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw fail("bad hex digit in escape")
            }
            v = v * 16 + UInt32(d)
            position += 1
        }
        return v
    }
}
