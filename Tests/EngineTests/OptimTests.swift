import Autograd
import Foundation
import Optim
import Support
import TensorCore
import TestSupport
import XCTest

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

private struct AdamWFixture: Decodable {
    struct Param: Decodable { let shape: [Int]; let values: [Float] }
    struct Group: Decodable { let names: [String]; let weight_decay: Float }
    struct Step: Decodable { let grads: [String: [Float]]; let total_norm: Float?; let params_after: [String: [Float]] }
    struct Case: Decodable {
        let name: String; let lr: Float; let beta1: Float; let beta2: Float; let eps: Float; let max_norm: Float?
        let groups: [Group]; let initial: [String: Param]; let steps: [Step]
    }
    struct Schedule: Decodable { let warmup: Int; let total: Int; let multipliers: [Float] }
    let torch_version: String
    let adamw_cases: [Case]
    let schedule: Schedule?
}

final class OptimTests: XCTestCase {
    private func load() throws -> AdamWFixture {
        try JSONDecoder().decode(AdamWFixture.self, from: Data(contentsOf: fixtures.appendingPathComponent("adamw.json")))
    }

    func testAdamWMatchesPyTorch() throws {
        let fx = try load()
        for c in fx.adamw_cases {
            var vars: [String: Variable] = [:]
            for (k, p) in c.initial { vars[k] = .parameter(Tensor(shape: p.shape, values: p.values), name: k) }
            let groups = c.groups.map { g in ParameterGroup(parameters: g.names.map { ($0, vars[$0]!) }, weightDecay: g.weight_decay) }
            let opt = AdamW(groups: groups, learningRate: c.lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps)
            for (s, step) in c.steps.enumerated() {
                opt.zeroGrad()
                for (k, g) in step.grads { vars[k]!.setGrad(Tensor(shape: vars[k]!.shape, values: g)) }
                if let maxNorm = c.max_norm {
                    let total = clipGradNorm(opt.allParameters, maxNorm: maxNorm)
                    XCTAssertEqual(total, step.total_norm!, accuracy: 1e-5 * step.total_norm!, "\(c.name) step \(s) norm")
                }
                opt.step()
                for (k, expected) in step.params_after {
                    let got = vars[k]!.value.scalars
                    for i in 0 ..< expected.count {
                        XCTAssertEqual(got[i], expected[i], accuracy: 2e-6 + 2e-6 * abs(expected[i]),
                                       "\(c.name) step \(s) \(k)[\(i)] (torch \(fx.torch_version))")
                    }
                }
            }
        }
    }

    func testScheduleMatchesTransformers() throws {
        guard let s = try load().schedule else { throw XCTSkip("fixture has no schedule (transformers absent when generated)") }
        let sched = LinearWarmupSchedule(baseLearningRate: 2, warmupSteps: s.warmup, totalSteps: s.total)
        for (step, m) in s.multipliers.enumerated() {
            XCTAssertEqual(sched.multiplier(step: step), m, accuracy: 1e-6, "step \(step)")
            XCTAssertEqual(sched.learningRate(step: step), 2 * m, accuracy: 2e-6)
        }
    }

    func testClipLeavesSmallGradientsAlone() {
        let p = Variable.parameter(Tensor(shape: [2], values: [0, 0]))
        p.setGrad(Tensor(shape: [2], values: [0.3, 0.4]))
        XCTAssertEqual(clipGradNorm([p], maxNorm: 1), 0.5, accuracy: 1e-7)
        XCTAssertEqual(p.grad!.scalars, [0.3, 0.4])
        XCTAssertEqual(clipGradNorm([p], maxNorm: 0.25), 0.5, accuracy: 1e-7)
        XCTAssertEqual(p.grad![flat: 0], 0.15, accuracy: 1e-6)
    }

    /// Two steps, save, two more; versus restore into a fresh optimizer and two steps: same.
    func testStateSaveRestoreResumesExactly() throws {
        let dir = ScratchSpace.root.appendingPathComponent("engine-optim-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        func make() -> (Variable, Variable, AdamW) {
            var g = SeededGenerator(seed: 3)
            let w = Variable.parameter(.normal(shape: [4, 3], std: 1, generator: &g), name: "w")
            let b = Variable.parameter(.normal(shape: [3], std: 1, generator: &g), name: "b")
            let opt = AdamW(groups: ParameterGroup.split([("w", w), ("b", b)], weightDecay: 0.1) { $0 == "b" }, learningRate: 0.01)
            return (w, b, opt)
        }
        func train(_ w: Variable, _ b: Variable, _ opt: AdamW, steps: Range<Int>) {
            for s in steps {
                opt.zeroGrad()
                let x = Variable(randn([5, 4], UInt64(100 + s)))
                sum(relu(matmul(x, w) + b)).backward()
                opt.step()
            }
        }
        let (w1, b1, o1) = make()
        train(w1, b1, o1, steps: 0 ..< 2)
        let base = dir.appendingPathComponent("opt")
        try o1.saveState(to: base)
        try ParameterIO.save([("w", w1), ("b", b1)], to: dir.appendingPathComponent("model.safetensors"))
        train(w1, b1, o1, steps: 2 ..< 4)

        let (w2, b2, o2) = make()
        try ParameterIO.load([("w", w2), ("b", b2)], from: dir.appendingPathComponent("model.safetensors"))
        try o2.loadState(from: base)
        XCTAssertEqual(o2.stepCount, 2)
        train(w2, b2, o2, steps: 2 ..< 4)
        XCTAssertEqual(w1.value.scalars, w2.value.scalars)
        XCTAssertEqual(b1.value.scalars, b2.value.scalars)

        // Restoring into an optimizer over different parameters fails with the file named.
        let other = AdamW(groups: [ParameterGroup(parameters: [("x", w2)], weightDecay: 0)], learningRate: 1)
        XCTAssertThrowsError(try other.loadState(from: base)) { XCTAssertTrue("\($0)".contains("opt.json")) }
    }

    /// End-to-end: a small regression trains down with AdamW + clipping + schedule.
    func testTrainingReducesLoss() {
        var g = SeededGenerator(seed: 11)
        let lin = Linear(inFeatures: 8, outFeatures: 3, bias: true, std: 0.1, generator: &g)
        let x = Tensor.normal(shape: [32, 8], std: 1, generator: &g)
        let targets = IntTensor(shape: [32], values: (0 ..< 32).map { Int32(($0 * 7) % 3) })
        let opt = AdamW(groups: [ParameterGroup(parameters: lin.namedParameters(), weightDecay: 0.01)], learningRate: 0.05)
        let sched = LinearWarmupSchedule(baseLearningRate: 0.05, warmupSteps: 5, totalSteps: 200)
        var first: Float = 0, last: Float = 0
        for step in 0 ..< 200 {
            opt.learningRate = sched.learningRate(step: step)
            opt.zeroGrad()
            let loss = crossEntropy(lin(Variable(x)), targets: targets)
            loss.backward()
            clipGradNorm(lin.parameters, maxNorm: 1)
            opt.step()
            if step == 0 { first = loss.value.item }
            last = loss.value.item
        }
        XCTAssertLessThan(last, first * 0.7, "loss \(first) → \(last)")
    }
}
