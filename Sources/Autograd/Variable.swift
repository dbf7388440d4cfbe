import TensorCore

/// A node of the autograd graph: a value, its gradient, and (for op results) how to send the
/// gradient to its inputs.
///
/// Leaves are created by the user (`Variable(_:requiresGrad:)`, parameters); op results record
/// their inputs and a backward closure only when gradient recording is on (`GradMode`) and some
/// input requires a gradient. `backward()` walks the graph in reverse topological order
/// (iteratively, no recursion), *adds* into every input's gradient (a value used twice gets
/// both contributions), then releases the graph and the intermediate gradients.
public final class Variable {
    /// Forward value. Reference semantics (see `Tensor`): optimizers update it in place.
    public let value: Tensor
    public let requiresGrad: Bool
    /// Optional name (parameters carry their Hugging Face key here).
    public var name: String

    var gradBuffer: Tensor?
    var gradValid = false
    var parents: [Variable] = []
    /// Receives this node's gradient and accumulates into the parents' gradients.
    var backwardFn: ((Tensor) -> Void)?

    public init(_ value: Tensor, requiresGrad: Bool = false, name: String = "") {
        self.value = value
        self.requiresGrad = requiresGrad
        self.name = name
    }

    /// A trainable leaf (requires a gradient).
    public static func parameter(_ value: Tensor, name: String = "") -> Variable {
        Variable(value, requiresGrad: true, name: name)
    }

    public var shape: [Int] { value.shape }
    public var isLeaf: Bool { backwardFn == nil }

    /// The accumulated gradient, or nil when none was computed since the last `zeroGrad()`.
    /// The buffer is reused across steps: copy it if you keep it.
    public var grad: Tensor? { gradValid ? gradBuffer : nil }

    /// Marks the gradient as zero without freeing its buffer (the next backward overwrites
    /// instead of adding, so no memset is needed).
    public func zeroGrad() { gradValid = false }

    /// Sets the gradient explicitly (e.g. after clipping it elsewhere).
    public func setGrad(_ g: Tensor) {
        precondition(g.count == value.count, "setGrad: \(g.shape) for \(value.shape)")
        withGradBuffer { buf, accumulate in
            _ = accumulate
            buf.assign(g)
        }
    }

    /// Gives the gradient buffer (allocated on first use, same shape as the value) and whether
    /// the writer must add (`true`) or may overwrite (`false`); the gradient is valid afterwards.
    public func withGradBuffer(_ body: (Tensor, Bool) -> Void) {
        if gradBuffer == nil { gradBuffer = Tensor(uninitialized: value.shape) }
        body(gradBuffer!, gradValid)
        gradValid = true
    }

    /// Adds `g` (same element count) into the gradient.
    public func accumulateGrad(_ g: Tensor) {
        precondition(g.count == value.count, "gradient \(g.shape) for value \(value.shape)")
        withGradBuffer { buf, acc in Kernels.copyOrAdd(g.pointer, buf.pointer, g.count, accumulate: acc) }
    }

    /// Reverse-mode pass from this node. A scalar (one-element) node is seeded with 1;
    /// otherwise pass `gradient` (same shape). Leaf gradients accumulate across calls until
    /// `zeroGrad()`; the graph below this node is released afterwards.
    public func backward(gradient: Tensor? = nil) {
        if let gradient {
            precondition(gradient.count == value.count, "backward: seed \(gradient.shape) for \(value.shape)")
            accumulateGrad(gradient)
        } else {
            precondition(value.count == 1, "backward() without a seed needs a scalar, got \(value.shape)")
            withGradBuffer { buf, acc in buf.pointer[0] = acc ? buf.pointer[0] + 1 : 1 }
        }
        // Iterative post-order DFS → topological order (inputs before users).
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Variable, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            if !visited.insert(ObjectIdentifier(node)).inserted { continue }
            stack.append((node, true))
            for p in node.parents where p.backwardFn != nil && !visited.contains(ObjectIdentifier(p)) {
                stack.append((p, false))
            }
        }
        for node in order.reversed() {
            guard let fn = node.backwardFn else { continue }
            if node.gradValid, let g = node.gradBuffer { fn(g) }
            // Free the graph and intermediate gradients as soon as they are consumed.
            node.backwardFn = nil
            node.parents = []
            node.gradBuffer = nil
            node.gradValid = false
        }
    }

    /// Detached copy of the value as a leaf (no graph).
    public func detached() -> Variable { Variable(value) }
}

/// Whether ops record the graph. Recording is on by default; `GradMode.withoutGradients`
/// runs a forward pass without any graph (inference). Process-wide flag, like PyTorch's
/// `torch.no_grad()`: forward passes that record are expected to run on one thread (ops use
/// their own threads internally).
public enum GradMode {
    nonisolated(unsafe) public private(set) static var isEnabled = true

    public static func withoutGradients<T>(_ body: () throws -> T) rethrows -> T {
        let saved = isEnabled
        isEnabled = false
        defer { isEnabled = saved }
        return try body()
    }
}

/// Builds an op result: records `parents` and `backward` only when some parent needs a
/// gradient and recording is on.
@inline(__always)
func record(_ value: Tensor, _ parents: [Variable], _ backward: @escaping (Tensor) -> Void) -> Variable {
    var needs = false
    if GradMode.isEnabled { for p in parents where p.requiresGrad { needs = true; break } }
    let v = Variable(value, requiresGrad: needs)
    if needs {
        v.parents = parents
        v.backwardFn = backward
    }
    return v
}
