import CZlib
import Foundation

/// Reading input files: whole-file bytes (gzip inflated when the name ends in `.gz`), split into
/// numbered lines, each validated as UTF-8.
enum TextFile {
    /// The bytes of `url`; `.gz` files are inflated with zlib (multi-member gzip works too).
    static func bytes(_ url: URL) throws -> [UInt8] {
        let name = url.lastPathComponent
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CorporaError.badFile(file: url.path, reason: "file not found")
        }
        if name.hasSuffix(".gz") { return try gunzip(url) }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CorporaError.badFile(file: url.path, reason: "cannot read (permissions?)")
        }
        return [UInt8](data)
    }

    static func gunzip(_ url: URL) throws -> [UInt8] {
        guard let file = gzopen(url.path, "rb") else {
            throw CorporaError.badFile(file: url.path, reason: "cannot open for gzip reading")
        }
        defer { gzclose(file) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "unknown zlib error"
                throw CorporaError.badFile(file: url.path, reason: "corrupt gzip data: \(message)")
            }
            if n == 0 { break }
            out.append(contentsOf: buffer[0 ..< Int(n)])
        }
        return out
    }

    /// One line: its 1-based number and text (without the line break), or nil text when the
    /// bytes are not valid UTF-8.
    struct Line {
        var number: Int
        var text: String?
        var isBlank: Bool { text.map { $0.allSatisfy(\.isWhitespace) } ?? false }
    }

    /// Splits `bytes` into lines (LF or CRLF). Throws for an empty file.
    static func lines(_ bytes: [UInt8], file: String) throws -> [Line] {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            throw CorporaError.badFile(file: file, reason: "file is empty")
        }
        var lines: [Line] = []
        var start = 0
        var number = 1
        bytes.withUnsafeBufferPointer { buffer in
            func emit(_ end: Int) {
                var e = end
                if e > start, buffer[e - 1] == 0x0D { e -= 1 }
                let slice = UnsafeBufferPointer(rebasing: buffer[start ..< e])
                lines.append(Line(number: number, text: String(validating: slice, as: UTF8.self)))
            }
            for i in 0 ..< buffer.count where buffer[i] == 0x0A {
                emit(i)
                start = i + 1
                number += 1
            }
            if start < buffer.count { emit(buffer.count) }
        }
        return lines
    }

    /// The whole file as one string, or an error naming the line of the first invalid byte.
    static func string(_ bytes: [UInt8], file: String) throws -> String {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            throw CorporaError.badFile(file: file, reason: "file is empty")
        }
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        for line in try lines(bytes, file: file) where line.text == nil {
            throw CorporaError.badLine(file: file, line: line.number, reason: "invalid UTF-8 bytes")
        }
        throw CorporaError.badFile(file: file, reason: "invalid UTF-8 bytes")
    }
}
