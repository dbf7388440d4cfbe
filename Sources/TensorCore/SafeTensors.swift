import Foundation
import Support

/// Errors of the tensor core; each names the file and, where relevant, the key and shapes.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case corrupt(file: String, reason: String)
    case unsupportedDType(file: String, key: String, dtype: String)
    case missingTensor(key: String, file: String, expectedShape: [Int])
    case unexpectedTensor(key: String, file: String, shape: [Int])
    case shapeMismatch(key: String, file: String, expected: [Int], actual: [Int])
    case wrongKind(key: String, file: String, dtype: String, wanted: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read: \(reason)"
        case let .corrupt(file, reason): return "\(file): not a valid safetensors file: \(reason)"
        case let .unsupportedDType(file, key, dtype):
            return "\(file): tensor '\(key)' has dtype \(dtype); supported: F32, F16, BF16, F64, I64, I32"
        case let .missingTensor(key, file, shape): return "\(file): missing tensor '\(key)' (expected shape \(shape))"
        case let .unexpectedTensor(key, file, shape):
            return "\(file): unused tensor '\(key)' with shape \(shape) (no parameter of that name)"
        case let .shapeMismatch(key, file, expected, actual):
            return "\(file): tensor '\(key)' has shape \(actual), expected \(expected)"
        case let .wrongKind(key, file, dtype, wanted): return "\(file): tensor '\(key)' is \(dtype), wanted \(wanted)"
        }
    }
}

/// A parsed safetensors file (Hugging Face format: u64 little-endian header length, JSON header
/// `{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`, raw
/// little-endian data). The whole header is validated on open (offsets inside the data, sizes
/// consistent with dtype × shape), so reading a tensor afterwards cannot fail on bounds.
public struct SafeTensorsFile {
    public struct Entry: Equatable {
        public let dtype: String
        public let shape: [Int]
        let begin: Int
        let end: Int
    }

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    public var keys: [String] { entries.keys.sorted() }

    static let byteWidth: [String: Int] = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4]

    public init(url: URL) throws {
        let bytes: Data
        do { bytes = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw TensorError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        try self.init(data: bytes, path: url.path)
    }

    public init(data: Data, path: String) throws {
        self.path = path
        self.data = data
        func corrupt(_ reason: String) -> TensorError { .corrupt(file: path, reason: reason) }
        guard data.count >= 8 else { throw corrupt("file has \(data.count) bytes, shorter than the 8-byte header length") }
        var n: UInt64 = 0
        for i in 0 ..< 8 { n |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
        guard n <= UInt64(data.count - 8) else { throw corrupt("header length \(n) exceeds the file size \(data.count)") }
        let headerLength = Int(n)
        dataStart = 8 + headerLength
        let headerBytes = data.subdata(in: data.startIndex + 8 ..< data.startIndex + dataStart)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerBytes) } catch {
            throw corrupt("header is not JSON: \(error.localizedDescription)")
        }
        guard let header = json as? [String: Any] else { throw corrupt("header is not a JSON object") }
        let dataSize = data.count - dataStart
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (key, value) in header {
            if key == "__metadata__" {
                guard let m = value as? [String: Any] else { throw corrupt("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw corrupt("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any], let offsetsAny = info["data_offsets"] as? [Any]
            else { throw corrupt("entry '\(key)' lacks dtype, shape or data_offsets") }
            func integer(_ v: Any) -> Int? {
                guard let num = v as? NSNumber else { return nil }
                let i = num.int64Value
                guard num.doubleValue == Double(i) else { return nil }
                return i >= 0 && i < (1 << 48) ? Int(i) : nil
            }
            let shape = shapeAny.compactMap(integer)
            guard shape.count == shapeAny.count else { throw corrupt("entry '\(key)' has an invalid shape \(shapeAny)") }
            let offsets = offsetsAny.compactMap(integer)
            guard offsets.count == 2, offsets[0] <= offsets[1], offsets[1] <= dataSize else {
                throw corrupt("entry '\(key)' has data_offsets \(offsetsAny) outside the \(dataSize) data bytes")
            }
            guard let width = SafeTensorsFile.byteWidth[dtype] else {
                throw TensorError.unsupportedDType(file: path, key: key, dtype: dtype)
            }
            var elements = 1
            for d in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow, product < (1 << 40) else { throw corrupt("entry '\(key)' shape \(shape) is too large") }
                elements = product
            }
            guard offsets[1] - offsets[0] == elements * width else {
                throw corrupt("entry '\(key)': \(dtype) \(shape) needs \(elements * width) bytes, data_offsets span \(offsets[1] - offsets[0])")
            }
            entries[key] = Entry(dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
        }
        self.entries = entries
        self.metadata = metadata
    }

    /// A floating-point tensor (F32, F16, BF16 or F64 converted to Float).
    public func tensor(_ key: String) throws -> Tensor {
        guard let e = entries[key] else { throw TensorError.missingTensor(key: key, file: path, expectedShape: []) }
        let out = Tensor(uninitialized: e.shape)
        let dst = out.pointer
        let count = out.count
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let src = raw.baseAddress! + dataStart + e.begin
            switch e.dtype {
            case "F32":
                for i in 0 ..< count { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case "F64":
                for i in 0 ..< count { dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
            case "BF16":
                for i in 0 ..< count {
                    dst[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                }
            case "F16":
                for i in 0 ..< count { dst[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            default: break
            }
        }
        if !["F32", "F64", "BF16", "F16"].contains(e.dtype) {
            throw TensorError.wrongKind(key: key, file: path, dtype: e.dtype, wanted: "a float tensor (F32/F16/BF16/F64)")
        }
        return out
    }

    /// An integer tensor (I64 or I32; values must fit in Int32).
    public func intTensor(_ key: String) throws -> IntTensor {
        guard let e = entries[key] else { throw TensorError.missingTensor(key: key, file: path, expectedShape: []) }
        let count = Tensor.elementCount(e.shape)
        var values = [Int32](repeating: 0, count: count)
        var overflow = false
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let src = raw.baseAddress! + dataStart + e.begin
            if e.dtype == "I64" {
                for i in 0 ..< count {
                    let v = Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                    if v < Int64(Int32.min) || v > Int64(Int32.max) { overflow = true }
                    values[i] = Int32(truncatingIfNeeded: v)
                }
            } else if e.dtype == "I32" {
                for i in 0 ..< count { values[i] = Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
            }
        }
        guard e.dtype == "I64" || e.dtype == "I32" else {
            throw TensorError.wrongKind(key: key, file: path, dtype: e.dtype, wanted: "an integer tensor (I64/I32)")
        }
        if overflow { throw TensorError.corrupt(file: path, reason: "tensor '\(key)' has I64 values outside Int32") }
        return IntTensor(shape: e.shape, values: values)
    }
}

private func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    var exponent = Int((h >> 10) & 0x1F)
    var mantissa = UInt32(h & 0x3FF)
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    if exponent == 0 {
        if mantissa == 0 { return Float(bitPattern: sign) }
        while mantissa & 0x400 == 0 { mantissa <<= 1; exponent -= 1 }
        exponent += 1
        mantissa &= 0x3FF
    }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
}

/// Reading and writing named tensors as safetensors.
public enum SafeTensors {
    /// Writes F32 tensors (and optional I64 integer tensors) atomically, keys sorted, header
    /// padded with spaces to 8 bytes as the Python package does.
    public static func save(_ tensors: [String: Tensor], integers: [String: IntTensor] = [:],
                            metadata: [String: String] = [:], to url: URL) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var order: [(String, Bool)] = []
        for key in Set(tensors.keys).union(integers.keys).sorted() {
            precondition(!(tensors[key] != nil && integers[key] != nil), "key '\(key)' is both float and integer")
            if let t = tensors[key] {
                header[key] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]]
                offset += 4 * t.count
                order.append((key, true))
            } else if let t = integers[key] {
                header[key] = ["dtype": "I64", "shape": t.shape, "data_offsets": [offset, offset + 8 * t.count]]
                offset += 8 * t.count
                order.append((key, false))
            }
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for (key, isFloat) in order {
            if isFloat {
                let t = tensors[key]!
                // x86 and ARM are little-endian: the buffer is already in file order.
                out.append(Data(bytes: t.pointer, count: 4 * t.count))
            } else {
                let values = integers[key]!.values.map { Int64($0).littleEndian }
                values.withUnsafeBytes { out.append(contentsOf: $0) }
            }
        }
        try AtomicFile.write(out, to: url)
    }

    /// All float tensors of a file (integer entries are an error: use `SafeTensorsFile`).
    public static func load(_ url: URL) throws -> [String: Tensor] {
        let file = try SafeTensorsFile(url: url)
        var result: [String: Tensor] = [:]
        for key in file.keys { result[key] = try file.tensor(key) }
        return result
    }

    /// Strict load: exactly the `expected` keys with exactly these shapes; anything missing,
    /// unused or mis-shaped is an error naming the key, the file and both shapes.
    public static func load(_ url: URL, expecting expected: [String: [Int]]) throws -> [String: Tensor] {
        let file = try SafeTensorsFile(url: url)
        for key in expected.keys.sorted() {
            guard let e = file.entries[key] else {
                throw TensorError.missingTensor(key: key, file: url.path, expectedShape: expected[key]!)
            }
            if e.shape != expected[key]! {
                throw TensorError.shapeMismatch(key: key, file: url.path, expected: expected[key]!, actual: e.shape)
            }
        }
        for key in file.keys where expected[key] == nil {
            throw TensorError.unexpectedTensor(key: key, file: url.path, shape: file.entries[key]!.shape)
        }
        var result: [String: Tensor] = [:]
        for key in expected.keys { result[key] = try file.tensor(key) }
        return result
    }
}
