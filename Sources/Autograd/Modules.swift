import Foundation
import Support
import TensorCore

/// Anything that owns parameters. Names are Hugging Face style dotted keys relative to the
/// module ("weight", "layer.0.SelfAttention.q.weight"); parents prefix their children's names
/// with `prefixed(_:_:)`, so a whole model lists exactly the keys of its HF checkpoint.
public protocol Module: AnyObject {
    func namedParameters() -> [(name: String, parameter: Variable)]
}

extension Module {
    public var parameters: [Variable] { namedParameters().map(\.parameter) }
}

/// Prefixes a child's parameter names: `prefixed("encoder.block.0", child)`.
public func prefixed(_ prefix: String, _ module: Module) -> [(name: String, parameter: Variable)] {
    module.namedParameters().map { (prefix.isEmpty ? $0.name : prefix + "." + $0.name, $0.parameter) }
}

/// nn.Linear with the HF weight layout: weight [out, in], optional bias [out].
public final class Linear: Module {
    public let weight: Variable // [out, in]
    public let bias: Variable? // [out]

    /// Weights ~ N(0, std²) (T5 initialises each projection with its own std), bias zero.
    public init(inFeatures: Int, outFeatures: Int, bias: Bool, std: Float, generator: inout SeededGenerator) {
        weight = .parameter(.normal(shape: [outFeatures, inFeatures], std: std, generator: &generator), name: "weight")
        self.bias = bias ? .parameter(Tensor(zeros: [outFeatures]), name: "bias") : nil
    }

    public func namedParameters() -> [(name: String, parameter: Variable)] {
        var p: [(name: String, parameter: Variable)] = [("weight", weight)]
        if let bias { p.append(("bias", bias)) }
        return p
    }

    public func callAsFunction(_ x: Variable) -> Variable { linear(x, weight: weight, bias: bias) }
    /// Graph-free forward for inference.
    public func callAsFunction(_ x: Tensor) -> Tensor { Ops.linear(x, weight: weight.value, bias: bias?.value) }
}

/// Embedding table [vocab, d].
public final class Embedding: Module {
    public let weight: Variable // [vocab, d]

    public init(vocabulary: Int, dimension: Int, std: Float, generator: inout SeededGenerator) {
        weight = .parameter(.normal(shape: [vocabulary, dimension], std: std, generator: &generator), name: "weight")
    }

    public func namedParameters() -> [(name: String, parameter: Variable)] { [("weight", weight)] }
    public func callAsFunction(_ ids: IntTensor) -> Variable { embedding(weight, indices: ids) }
    public func callAsFunction(_ ids: IntTensor) -> Tensor { Ops.embedding(weight.value, indices: ids) }
}

/// T5LayerNorm: RMS norm with a weight (initialised to 1), no bias, no mean.
public final class RMSNorm: Module {
    public let weight: Variable // [d]
    public let eps: Float

    public init(dimension: Int, eps: Float = 1e-6) {
        weight = .parameter(Tensor(shape: [dimension], repeating: 1), name: "weight")
        self.eps = eps
    }

    public func namedParameters() -> [(name: String, parameter: Variable)] { [("weight", weight)] }
    public func callAsFunction(_ x: Variable) -> Variable { rmsNorm(x, weight: weight, eps: eps) }
    public func callAsFunction(_ x: Tensor) -> Tensor { Ops.rmsNorm(x, weight: weight.value, eps: eps) }
}

/// nn.LayerNorm (weight 1, bias 0).
public final class LayerNorm: Module {
    public let weight: Variable // [d]
    public let bias: Variable // [d]
    public let eps: Float

    public init(dimension: Int, eps: Float = 1e-5) {
        weight = .parameter(Tensor(shape: [dimension], repeating: 1), name: "weight")
        bias = .parameter(Tensor(zeros: [dimension]), name: "bias")
        self.eps = eps
    }

    public func namedParameters() -> [(name: String, parameter: Variable)] { [("weight", weight), ("bias", bias)] }
    public func callAsFunction(_ x: Variable) -> Variable { layerNorm(x, weight: weight, bias: bias, eps: eps) }
    public func callAsFunction(_ x: Tensor) -> Tensor { Ops.layerNorm(x, weight: weight.value, bias: bias.value, eps: eps) }
}

/// Saving and strictly loading named parameters as safetensors (Hugging Face keys).
public enum ParameterIO {
    /// Writes every parameter's value under its name (atomic write).
    public static func save(_ parameters: [(name: String, parameter: Variable)], metadata: [String: String] = [:],
                            to url: URL) throws {
        var tensors: [String: Tensor] = [:]
        for (name, p) in parameters {
            precondition(tensors[name] == nil, "duplicate parameter name '\(name)'")
            tensors[name] = p.value
        }
        try SafeTensors.save(tensors, metadata: metadata, to: url)
    }

    /// Copies the file's tensors into the parameters in place. Strict: a missing, unused or
    /// mis-shaped tensor throws `TensorError` naming the key, file and shapes. Parameters that
    /// share one Variable under two names (tied embeddings) are loaded once per name.
    /// `ignoring` lists file keys that may be present without a parameter (e.g. HF's tied
    /// `lm_head.weight`).
    public static func load(_ parameters: [(name: String, parameter: Variable)], from url: URL,
                            ignoring: Set<String> = []) throws {
        let file = try SafeTensorsFile(url: url)
        var expected: [String: Variable] = [:]
        for (name, p) in parameters { expected[name] = p }
        for name in expected.keys.sorted() {
            let p = expected[name]!
            guard let entry = file.entries[name] else {
                throw TensorError.missingTensor(key: name, file: url.path, expectedShape: p.shape)
            }
            guard entry.shape == p.shape else {
                throw TensorError.shapeMismatch(key: name, file: url.path, expected: p.shape, actual: entry.shape)
            }
        }
        for key in file.keys where expected[key] == nil && !ignoring.contains(key) {
            throw TensorError.unexpectedTensor(key: key, file: url.path, shape: file.entries[key]!.shape)
        }
        for (name, p) in expected { p.value.assign(try file.tensor(name)) }
    }
}
