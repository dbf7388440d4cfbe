import Foundation

/// Errors from file I/O helpers, each naming the file.
public enum FileError: Error, CustomStringConvertible {
    case writeFailed(path: String, reason: String)
    case readFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .writeFailed(path, reason): return "cannot write \(path): \(reason)"
        case let .readFailed(path, reason): return "cannot read \(path): \(reason)"
        }
    }
}

/// Atomic writes: data goes to a temporary file in the destination's folder, is flushed, then
/// renamed over the destination, so a killed run never leaves a half-written checkpoint.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw FileError.writeFailed(path: url.path, reason: "cannot create folder \(directory.path): \(error)")
        }
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw FileError.writeFailed(path: url.path, reason: "cannot create temporary file \(temporary.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw FileError.writeFailed(path: url.path, reason: "\(error)")
        }
        if rename(temporary.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw FileError.writeFailed(path: url.path, reason: "rename failed: \(reason)")
        }
    }

    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    /// Encodes `value` as pretty, key-sorted JSON and writes it atomically.
    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        try write(JSONOutput.encode(value), to: url)
    }
}

public enum JSONOutput {
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var data = try encoder.encode(value)
        data.append(0x0A)
        return data
    }

    public static func string<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FileError.readFailed(path: url.path, reason: "\(error.localizedDescription)")
        }
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            return try decoder.decode(type, from: data)
        } catch let error as DecodingError {
            throw FileError.readFailed(path: url.path, reason: describe(error))
        }
    }

    /// A decoding error as one line naming the key path and what was expected.
    public static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case let .keyNotFound(key, context):
            return "missing key '\(path(context.codingPath + [key]))'"
        case let .typeMismatch(type, context):
            return "key '\(path(context.codingPath))': expected \(type); \(context.debugDescription)"
        case let .valueNotFound(type, context):
            return "key '\(path(context.codingPath))': expected a \(type) value, found null"
        case let .dataCorrupted(context):
            return "invalid JSON at '\(path(context.codingPath))': \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
