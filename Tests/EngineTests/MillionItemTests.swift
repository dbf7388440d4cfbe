import Autograd
import Foundation
import Optim
import Support
import TensorCore
import XCTest

/// Long (IDGENREC_LONG_TESTS=1): a synthetic catalog of 1,000,000 items (generated here, never
/// committed). 256 queries with a planted positive each; a learned item table [1M, 32] trains
/// against them with each sampled loss (1,000 uniform negatives + in-batch positives per step of
/// 64 queries), and the planted items' full-catalog ranks must fall far below chance. Prints the
/// time per step of each loss next to one full-softmax CE step over the whole catalog.
final class MillionItemTests: XCTestCase {
    func testSampledLossesTrainOnAMillionItems() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["IDGENREC_LONG_TESTS"] == "1", "long test: IDGENREC_LONG_TESTS=1")
        let items = 1_000_000, d = 32, queries = 256, batch = 64, negatives = 1000
        var g = SeededGenerator(seed: 1)
        let q = Tensor.normal(shape: [queries, d], std: 1, generator: &g) // fixed query vectors
        let positives = (0 ..< queries).map { _ in Int(g.next() % UInt64(items)) }
        func meanRank(_ table: Tensor) -> Double {
            let scores = Ops.linear(q, weight: table) // [queries, items]
            var total = 0.0
            for r in 0 ..< queries {
                let row = scores.pointer + r * items, s = row[positives[r]]
                var better = 0
                for i in 0 ..< items where row[i] > s { better += 1 }
                total += Double(better + 1)
            }
            return total / Double(queries)
        }
        // One full-softmax CE step over the catalog, for the time it takes.
        do {
            let table = Variable.parameter(Tensor.normal(shape: [items, d], std: 0.1, generator: &g))
            let t0 = Date()
            let logits = linear(Variable(Ops.slice(q, axis: 0, range: 0 ..< batch)), weight: table) // [64, 1M]
            let loss = crossEntropy(logits, targets: IntTensor(shape: [batch], values: positives.prefix(batch).map(Int32.init)))
            loss.backward()
            print(String(format: "1M items: full-softmax CE forward+backward of one batch of %d: %.3f s (logits %.0f MB)", batch,
                         Date().timeIntervalSince(t0), Double(batch * items * 4) / 1e6))
        }
        for name in ["sampled-softmax", "warp", "lambdarank"] {
            let table = Variable.parameter(Tensor.normal(shape: [items, d], std: 0.1, generator: &g))
            let before = meanRank(table.value)
            // Plain SGD on the touched rows only (a dense AdamW over 32M floats would dominate the step).
            var rng = SeededGenerator(seed: 2)
            let t0 = Date()
            let steps = 200
            for step in 0 ..< steps {
                let start = (step * batch) % queries
                let rows = Array(start ..< start + batch)
                let targets = rows.map { positives[$0] }
                var column: [Int: Int] = [:], cand: [Int] = []
                for t in targets where column[t] == nil { column[t] = cand.count; cand.append(t) }
                var uniform: [Int] = []
                for _ in 0 ..< negatives {
                    let i = Int(rng.next() % UInt64(items))
                    if column[i] == nil { column[i] = cand.count; cand.append(i) }
                    uniform.append(column[i]!)
                }
                let gathered = embedding(table, indices: IntTensor(shape: [cand.count], values: cand.map(Int32.init)))
                let logits = linear(Variable(Ops.embedding(q, indices: IntTensor(shape: [batch], values: rows.map(Int32.init)))), weight: gathered)
                let tcols = targets.map { column[$0]! }
                let loss: Variable
                switch name {
                case "warp": loss = sampledWARPLoss(logits, targets: tcols, uniform: Array(Set(uniform)), catalog: items)
                case "lambdarank": loss = sampledLambdaRankLoss(logits, targets: tcols, uniform: Array(Set(uniform)), catalog: items)
                default:
                    let logQ = cand.map { _ in Float(Foundation.log(Double(negatives) / Double(items))) }
                    loss = sampledSoftmaxLoss(logits, targets: tcols, logQ: logQ)
                }
                table.zeroGrad()
                loss.backward()
                // SGD on the touched rows (the embedding gradient is dense but zero elsewhere).
                let lr: Float = name == "sampled-softmax" ? 5 : 0.5
                let gp = table.grad!.pointer, tp = table.value.pointer
                for i in Set(cand) { for j in 0 ..< d { tp[i * d + j] -= lr * gp[i * d + j] } }
            }
            let seconds = Date().timeIntervalSince(t0) / Double(steps)
            let after = meanRank(table.value)
            print(String(format: "1M items, %@: %.4f s per step; mean rank of the planted items %.0f -> %.0f", name, seconds, before, after))
            XCTAssertLessThan(after, before / 10, name)
        }
    }
}
