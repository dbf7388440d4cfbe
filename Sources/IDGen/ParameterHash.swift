import Autograd
import Foundation
import T5
import Support

/// A content hash of a model's parameters (names, shapes and values), recorded with ID tables
/// so a table can be traced to the generator that wrote it.
public enum ParameterHash {
    public static func of(_ model: T5Model) throws -> String {
        var data = Data()
        for (name, p) in model.namedParameters() {
            data.append(contentsOf: Array(name.utf8))
            for d in p.value.shape { withUnsafeBytes(of: Int64(d).littleEndian) { data.append(contentsOf: $0) } }
            data.append(UnsafeBufferPointer(start: p.value.pointer, count: p.value.count))
        }
        return SHA256.hexDigest(data)
    }
}
