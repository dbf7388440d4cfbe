import Autograd
import Foundation
import Support
import TensorCore
import TestSupport
import XCTest

final class SafeTensorsTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = ScratchSpace.root.appendingPathComponent("engine-st-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func testRoundTripFloatsIntsAndMetadata() throws {
        let url = dir.appendingPathComponent("a.safetensors")
        let t = ["x.weight": randn([3, 4], 1), "s": Tensor(scalar: 2), "empty": Tensor(zeros: [0, 3])]
        let ids = IntTensor(shape: [2, 2], values: [1, -100, 7, 3] as [Int32])
        try SafeTensors.save(t, integers: ["ids": ids], metadata: ["format": "pt"], to: url)
        let file = try SafeTensorsFile(url: url)
        XCTAssertEqual(file.keys, ["empty", "ids", "s", "x.weight"])
        XCTAssertEqual(file.metadata, ["format": "pt"])
        for (k, v) in t {
            let back = try file.tensor(k)
            XCTAssertEqual(back.shape, v.shape)
            XCTAssertEqual(back.scalars, v.scalars)
        }
        XCTAssertEqual(try file.intTensor("ids"), ids)
        XCTAssertThrowsError(try file.intTensor("s"))
        XCTAssertThrowsError(try file.tensor("ids"))
        // Header length is a multiple of 8, as the Python package writes it.
        let data = try Data(contentsOf: url)
        XCTAssertEqual(Int(data[0]) % 8, 0)
    }

    func testReadsFileWrittenByPythonPackage() throws {
        struct Expected: Decodable {
            struct T: Decodable { let shape: [Int]; let values: [Double] }
            let metadata: [String: String]; let tensors: [String: T]
        }
        let exp = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixtures.appendingPathComponent("python_safetensors.json")))
        let file = try SafeTensorsFile(url: fixtures.appendingPathComponent("python.safetensors"))
        XCTAssertEqual(file.metadata, exp.metadata)
        XCTAssertEqual(Set(file.keys), Set(exp.tensors.keys))
        for (k, e) in exp.tensors {
            if k.hasPrefix("ids") {
                let t = try file.intTensor(k)
                XCTAssertEqual(t.shape, e.shape, k)
                XCTAssertEqual(t.values.map(Double.init), e.values, k)
            } else {
                let t = try file.tensor(k)
                XCTAssertEqual(t.shape, e.shape, k)
                for (i, v) in e.values.enumerated() { XCTAssertEqual(Double(t.pointer[i]), v, accuracy: abs(v) * 1e-7, "\(k)[\(i)]") }
            }
        }
    }

    func testStrictLoadingNamesKeyFileAndShapes() throws {
        let url = dir.appendingPathComponent("m.safetensors")
        try SafeTensors.save(["a": randn([2, 3], 1), "b": randn([4], 2)], to: url)
        XCTAssertThrowsError(try SafeTensors.load(url, expecting: ["a": [2, 3], "b": [4], "c": [1]])) {
            XCTAssertEqual($0 as? TensorError, .missingTensor(key: "c", file: url.path, expectedShape: [1]))
            XCTAssertTrue("\($0)".contains("m.safetensors"))
        }
        XCTAssertThrowsError(try SafeTensors.load(url, expecting: ["a": [3, 2], "b": [4]])) {
            XCTAssertEqual($0 as? TensorError, .shapeMismatch(key: "a", file: url.path, expected: [3, 2], actual: [2, 3]))
        }
        XCTAssertThrowsError(try SafeTensors.load(url, expecting: ["a": [2, 3]])) {
            XCTAssertEqual($0 as? TensorError, .unexpectedTensor(key: "b", file: url.path, shape: [4]))
        }
        XCTAssertEqual(try SafeTensors.load(url, expecting: ["a": [2, 3], "b": [4]]).count, 2)
        // Module-level strict loading.
        let p = Variable.parameter(Tensor(zeros: [2, 3]))
        XCTAssertThrowsError(try ParameterIO.load([("a", p)], from: url))
        try ParameterIO.load([("a", p)], from: url, ignoring: ["b"])
        XCTAssertEqual(p.value.scalars, randn([2, 3], 1).scalars)
    }

    private func write(_ bytes: [UInt8], _ name: String) -> URL {
        let url = dir.appendingPathComponent(name)
        FileManager.default.createFile(atPath: url.path, contents: Data(bytes))
        return url
    }

    private func file(header: String, data: Int) -> [UInt8] {
        var b = [UInt8]()
        let h = Array(header.utf8)
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { b.append(contentsOf: $0) }
        return b + h + [UInt8](repeating: 0, count: data)
    }

    func testCorruptFilesThrowWithFileName() throws {
        let good = dir.appendingPathComponent("good.safetensors")
        try SafeTensors.save(["a": randn([4, 4], 1)], to: good)
        let bytes = [UInt8](try Data(contentsOf: good))
        let cases: [(String, [UInt8])] = [
            ("empty", []),
            ("short", [1, 2, 3]),
            ("truncated-data", Array(bytes.dropLast(5))),
            ("truncated-header", Array(bytes.prefix(20))),
            ("huge-header-length", [255, 255, 255, 255, 255, 255, 255, 255] + Array(bytes.dropFirst(8))),
            ("not-json", file(header: "{not json", data: 0)),
            ("not-object", file(header: "[1, 2]", data: 0)),
            ("bad-dtype", file(header: #"{"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}}"#, data: 1)),
            ("size-lie", file(header: #"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}}"#, data: 16)),
            ("offset-outside", file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, data: 8)),
            ("negative-shape", file(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: 4)),
            ("float-shape", file(header: #"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: 4)),
            ("overflow-shape", file(header: #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, data: 4)),
            ("missing-fields", file(header: #"{"a":{"dtype":"F32"}}"#, data: 0)),
            ("bad-metadata", file(header: #"{"__metadata__":{"k":1}}"#, data: 0)),
        ]
        for (name, content) in cases {
            let url = write(content, "\(name).safetensors")
            XCTAssertThrowsError(try SafeTensors.load(url), name) { error in
                XCTAssertTrue("\(error)".contains("\(name).safetensors"), "\(name): \(error)")
            }
        }
        XCTAssertThrowsError(try SafeTensors.load(dir.appendingPathComponent("absent.safetensors"))) {
            XCTAssertTrue("\($0)".contains("absent.safetensors"))
        }
    }
}
