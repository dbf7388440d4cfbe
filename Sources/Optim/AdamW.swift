import Autograd
import Foundation
import Support
import TensorCore

/// Errors of the optimizers (state files).
public enum OptimError: Error, CustomStringConvertible {
    case stateMismatch(file: String, reason: String)

    public var description: String {
        switch self {
        case let .stateMismatch(file, reason): return "\(file): optimizer state does not match the parameters: \(reason)"
        }
    }
}

/// A named set of parameters sharing weight decay (PyTorch parameter group).
public struct ParameterGroup {
    public var parameters: [(name: String, parameter: Variable)]
    public var weightDecay: Float

    public init(parameters: [(name: String, parameter: Variable)], weightDecay: Float) {
        self.parameters = parameters
        self.weightDecay = weightDecay
    }

    /// The usual two groups: decay for weights, none for names matching `noDecay` (e.g. biases
    /// and norm weights: `{ $0.hasSuffix("bias") || $0.contains("layer_norm") }`).
    public static func split(_ parameters: [(name: String, parameter: Variable)], weightDecay: Float,
                             noDecay: (String) -> Bool) -> [ParameterGroup] {
        [ParameterGroup(parameters: parameters.filter { !noDecay($0.name) }, weightDecay: weightDecay),
         ParameterGroup(parameters: parameters.filter { noDecay($0.name) }, weightDecay: 0)]
    }
}

/// `torch.optim.AdamW` (amsgrad off, maximize off): per parameter, with t its own step count,
///   p ← p·(1 − lr·wd);  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
///   p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps).
/// Parameters whose gradient is nil (no `backward` reached them since `zeroGrad`) are skipped
/// and their step count does not advance, as in PyTorch.
public final class AdamW {
    public struct Hyperparameters: Codable, Equatable {
        public var learningRate: Float
        public var beta1: Float
        public var beta2: Float
        public var eps: Float
    }

    public private(set) var groups: [ParameterGroup]
    public var learningRate: Float
    public let beta1: Float, beta2: Float, eps: Float
    /// Optimizer state per parameter, same order as the groups' parameters.
    private var m: [Tensor] = [], v: [Tensor] = [], steps: [Int] = []
    private var flat: [(name: String, parameter: Variable, weightDecay: Float)] = []

    public init(groups: [ParameterGroup], learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        self.groups = groups
        self.learningRate = learningRate
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
        var seen = Set<ObjectIdentifier>()
        for g in groups {
            for (name, p) in g.parameters {
                // Tied parameters appear once (PyTorch dedups shared tensors the same way).
                if !seen.insert(ObjectIdentifier(p)).inserted { continue }
                flat.append((name, p, g.weightDecay))
                m.append(Tensor(zeros: p.shape))
                v.append(Tensor(zeros: p.shape))
                steps.append(0)
            }
        }
    }

    /// Number of steps taken by the first parameter that was ever updated (0 before any).
    public var stepCount: Int { steps.max() ?? 0 }

    public func step() {
        for (i, entry) in flat.enumerated() {
            guard let g = entry.parameter.grad else { continue }
            steps[i] += 1
            let t = Float(steps[i])
            let bc1 = 1 - powf(beta1, t), bc2 = 1 - powf(beta2, t)
            Kernels.adamW(param: entry.parameter.value.pointer, grad: g.pointer, m: m[i].pointer, v: v[i].pointer,
                          n: g.count, lr: learningRate, beta1: beta1, beta2: beta2, eps: eps,
                          weightDecay: entry.weightDecay, biasCorrection1: bc1, biasCorrection2: bc2)
        }
    }

    /// Marks every parameter's gradient as zero (buffers are kept for reuse).
    public func zeroGrad() { for e in flat { e.parameter.zeroGrad() } }

    public var allParameters: [Variable] { flat.map(\.parameter) }

    private struct StateJSON: Codable {
        var format: String
        var hyperparameters: Hyperparameters
        var names: [String]
        var steps: [Int]
        var weightDecays: [Float]
    }

    /// Saves m and v (`<path>.safetensors`, keys `<name>.exp_avg` / `<name>.exp_avg_sq`) and
    /// the step counts and hyperparameters (`<path>.json`), both written atomically.
    public func saveState(to base: URL) throws {
        var tensors: [String: Tensor] = [:]
        for (i, e) in flat.enumerated() {
            tensors[e.name + ".exp_avg"] = m[i]
            tensors[e.name + ".exp_avg_sq"] = v[i]
        }
        try SafeTensors.save(tensors, metadata: ["format": "idgenrec-adamw-1"], to: base.appendingPathExtension("safetensors"))
        let json = StateJSON(format: "idgenrec-adamw-1",
                             hyperparameters: .init(learningRate: learningRate, beta1: beta1, beta2: beta2, eps: eps),
                             names: flat.map(\.name), steps: steps, weightDecays: flat.map(\.weightDecay))
        try AtomicFile.writeJSON(json, to: base.appendingPathExtension("json"))
    }

    /// Restores state saved by `saveState` for the same parameter names and shapes (strict).
    /// The learning rate is restored too (schedules usually overwrite it each step).
    public func loadState(from base: URL) throws {
        let jsonURL = base.appendingPathExtension("json")
        let state = try JSONOutput.decode(StateJSON.self, from: jsonURL)
        guard state.names == flat.map(\.name) else {
            let missing = Set(flat.map(\.name)).subtracting(state.names).sorted().prefix(3)
            let extra = Set(state.names).subtracting(flat.map(\.name)).sorted().prefix(3)
            throw OptimError.stateMismatch(file: jsonURL.path,
                                           reason: "parameter names differ (missing \(Array(missing)), unexpected \(Array(extra)))")
        }
        var expected: [String: [Int]] = [:]
        for e in flat {
            expected[e.name + ".exp_avg"] = e.parameter.shape
            expected[e.name + ".exp_avg_sq"] = e.parameter.shape
        }
        let tensors = try SafeTensors.load(base.appendingPathExtension("safetensors"), expecting: expected)
        for (i, e) in flat.enumerated() {
            m[i].assign(tensors[e.name + ".exp_avg"]!)
            v[i].assign(tensors[e.name + ".exp_avg_sq"]!)
        }
        steps = state.steps
        learningRate = state.hyperparameters.learningRate
    }
}

/// `torch.nn.utils.clip_grad_norm_` (L2): total = ‖all gradients‖₂; when total > maxNorm every
/// gradient is scaled by maxNorm / (total + 1e-6). Returns the total norm before clipping.
/// Norms accumulate in Double.
@discardableResult
public func clipGradNorm(_ parameters: [Variable], maxNorm: Float) -> Float {
    var seen = Set<ObjectIdentifier>()
    var grads: [Tensor] = []
    for p in parameters where seen.insert(ObjectIdentifier(p)).inserted {
        if let g = p.grad { grads.append(g) }
    }
    var total: Double = 0
    for g in grads {
        var i = 0
        while i < g.count {
            let n = min(4096, g.count - i)
            total += Double(Kernels.sumSquares(g.pointer + i, n))
            i += n
        }
    }
    let norm = Float(total.squareRoot())
    let coef = maxNorm / (norm + 1e-6)
    if coef < 1 {
        for g in grads { Kernels.axpy(coef, g.pointer, g.pointer, g.count, accumulate: false) }
    }
    return norm
}

/// Hugging Face `get_linear_schedule_with_warmup`: the multiplier rises linearly from 0 to 1
/// over `warmupSteps`, then falls linearly to 0 at `totalSteps`.
public struct LinearWarmupSchedule: Codable, Equatable {
    public var baseLearningRate: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(baseLearningRate: Float, warmupSteps: Int, totalSteps: Int) {
        self.baseLearningRate = baseLearningRate
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// Multiplier for `step` (the number of optimizer steps already taken, as HF's LambdaLR).
    public func multiplier(step: Int) -> Float {
        if step < warmupSteps { return Float(step) / Float(max(1, warmupSteps)) }
        return max(0, Float(totalSteps - step) / Float(max(1, totalSteps - warmupSteps)))
    }

    public func learningRate(step: Int) -> Float { baseLearningRate * multiplier(step: step) }
}
