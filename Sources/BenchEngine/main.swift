// `make bench-engine`: forward+backward of a transformer-block-shaped workload on the engine,
// next to the single-call sgemm peak measured in the same run and PyTorch (2 threads) on the
// same block via tools/bench_engine.py when a Python with torch is given.
//
// Usage: idgenrec-bench-engine [--python PATH] [--steps N]
import Autograd
import Foundation
import Support
import TensorCore

struct BlockConfig {
    let batch = 64, tokens = 128, heads = 4
    let dModel: Int
    var dFF: Int { 4 * dModel }
    var rows: Int { batch * tokens }
    /// Matrix-product FLOPs of one forward pass: q, k, v, o projections (4·2·d²), FFN (2·2·d·4d)
    /// per token, plus scores and context (2·2·T·d per token). Backward costs twice the forward.
    var forwardFlops: Double {
        let d = Double(dModel), t = Double(tokens)
        return Double(rows) * (8 * d * d + 4 * d * Double(dFF) + 4 * t * d)
    }
}

/// Pre-norm T5-style block: RMS norm, q/k/v/o without bias, attention with a learned
/// [1, H, T, T] position bias and a padding mask, residual, RMS norm, ReLU FFN, residual.
final class Block {
    let cfg: BlockConfig
    let norm1, norm2: Variable
    let q, k, v, o, wi, wo: Variable
    let positionBias: Variable // [1, H, T, T]
    let mask: Tensor // [B, 1, 1, T]

    init(_ cfg: BlockConfig, generator g: inout SeededGenerator) {
        self.cfg = cfg
        let d = cfg.dModel
        func p(_ shape: [Int], _ std: Float) -> Variable { .parameter(.normal(shape: shape, std: std, generator: &g)) }
        norm1 = .parameter(Tensor(shape: [d], repeating: 1)); norm2 = .parameter(Tensor(shape: [d], repeating: 1))
        q = p([d, d], 0.05); k = p([d, d], 0.05); v = p([d, d], 0.05); o = p([d, d], 0.05)
        wi = p([cfg.dFF, d], 0.05); wo = p([d, cfg.dFF], 0.05)
        positionBias = p([1, cfg.heads, cfg.tokens, cfg.tokens], 0.1)
        let m = Tensor(zeros: [cfg.batch, 1, 1, cfg.tokens])
        for b in 0 ..< cfg.batch { for t in (cfg.tokens - b % 16) ..< cfg.tokens { m[b, 0, 0, t] = -1e9 } }
        mask = m
    }

    var parameters: [Variable] { [norm1, norm2, q, k, v, o, wi, wo, positionBias] }

    func callAsFunction(_ x: Variable) -> Variable {
        let B = cfg.batch, T = cfg.tokens, H = cfg.heads, D = cfg.dModel / cfg.heads
        let h = rmsNorm(x, weight: norm1, eps: 1e-6) // [B·T, d]
        func heads(_ t: Variable) -> Variable { // [B·T, d] → [B·H, T, D]
            permute(t.reshaped([B, T, H, D]), [0, 2, 1, 3]).reshaped([B * H, T, D])
        }
        let qh = heads(linear(h, weight: q)), kh = heads(linear(h, weight: k)), vh = heads(linear(h, weight: v))
        let scores = matmul(qh, kh, transposeB: true).reshaped([B, H, T, T]) // T5: no 1/√d scaling
        let attn = softmax(scores + positionBias, mask: mask).reshaped([B * H, T, T])
        let ctx = permute(matmul(attn, vh).reshaped([B, H, T, D]), [0, 2, 1, 3]).reshaped([B * T, H * D])
        let x1 = x + linear(ctx, weight: o)
        let f = linear(relu(linear(rmsNorm(x1, weight: norm2, eps: 1e-6), weight: wi)), weight: wo)
        return x1 + f
    }
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

var python: String?
var steps = 10
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--python": python = args.next()
    case "--steps": steps = Int(args.next() ?? "") ?? steps
    default: FileHandle.standardError.write("unknown argument \(a)\n".data(using: .utf8)!); exit(2)
    }
}

Parallel.configure()
print(BLAS.backend.description)
let peak1 = BLAS.measuredPeak(split: false)
let peak2 = BLAS.measuredPeak(split: true)
print(String(format: "sgemm 1024³ single call, 1 thread: %.1f GFLOP/s; with our 2-way split: %.1f GFLOP/s", peak1, peak2))
fflush(stdout)

var results: [(d: Int, ms: Double, gflops: Double)] = []
for d in [128, 256] {
    let cfg = BlockConfig(dModel: d)
    var g = SeededGenerator(seed: 42)
    let block = Block(cfg, generator: &g)
    let x = Variable(.normal(shape: [cfg.rows, d], std: 1, generator: &g))
    let dOut = Tensor.normal(shape: [cfg.rows, d], std: 1, generator: &g)
    var times: [Double] = []
    for i in 0 ..< steps + 2 {
        for p in block.parameters { p.zeroGrad() }
        let t0 = now()
        block(x).backward(gradient: dOut)
        if i >= 2 { times.append(now() - t0) }
    }
    times.sort()
    let median = times[times.count / 2]
    let gflops = 3 * cfg.forwardFlops / median / 1e9
    results.append((d, median * 1000, gflops))
    print(String(format: "engine  d_model %3d (batch 64 × 128 tokens, FFN %d, 4 heads): %7.1f ms/step fwd+bwd, %6.1f GFLOP/s = %3.0f%% of split sgemm peak",
                 d, cfg.dFF, median * 1000, gflops, 100 * gflops / peak2))
    fflush(stdout)
}

if let python {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/bench_engine.py")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = [script.path, "--steps", "\(steps)"]
    let pipe = Pipe()
    process.standardOutput = pipe
    do {
        try process.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: out, as: UTF8.self)
        var torch: [Int: Double] = [:]
        for line in text.split(separator: "\n") {
            print(line)
            let parts = line.split(separator: " ")
            if parts.first == "RESULT", parts.count == 3, let d = Int(parts[1]), let ms = Double(parts[2]) { torch[d] = ms }
        }
        for r in results {
            if let t = torch[r.d] {
                print(String(format: "d_model %3d: engine %.1f ms vs PyTorch %.1f ms → %.2f× %@", r.d, r.ms, t, t / r.ms,
                             t > r.ms ? "faster" : "slower"))
            }
        }
    } catch {
        print("PyTorch comparison skipped: cannot run \(python): \(error)")
    }
} else {
    print("PyTorch comparison skipped: no Python with torch found (pass --python PATH)")
}
