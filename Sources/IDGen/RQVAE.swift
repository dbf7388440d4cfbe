import Autograd
import Foundation
import Optim
import Support
import TensorCore

/// TIGER's RQ-VAE (Rajput et al. 2023, §3.1): an MLP encoder to a small latent, `levels` residual
/// codebooks in that latent, a mirror decoder. Loss per batch:
///   ‖x − x̂‖² + Σ_l ( ‖sg[r_l] − e_l‖² + β ‖r_l − sg[e_l]‖² ),
/// squared norms taken as means over elements (as `F.mse_loss` in the public implementations),
/// r_0 = z = E(x), r_{l+1} = r_l − sg[e_l], x̂ = D(z + sg[Σ e_l − z]) (straight-through estimator).
/// Codebooks start from k-means on the first epoch's first rows' residuals; codes unused for a
/// whole epoch are reset to random current residuals of their level.
enum RQVAE {
    struct Layer {
        var weight: Variable // [out, in]
        var bias: Variable // [out]
    }

    struct Forward {
        var loss: Variable
        var reconstruction: Float
        var quantisation: Float
        /// codes[l][row]
        var codes: [[Int]]
        /// The values behind every stop-gradient of this pass.
        var stopped: Stopped
    }

    /// Values the loss treats as constants (sg[·]): the residuals and codes of each level and the
    /// straight-through shift Σe − z. A gradient check holds them fixed so that finite
    /// differences measure the same function the backward pass differentiates.
    struct Stopped {
        var residuals: [Tensor] = []
        var codeVectors: [Tensor] = []
        var shift: Tensor?
    }

    static func mlp(_ x: Variable, _ layers: [Layer]) -> Variable {
        var h = x
        for (k, layer) in layers.enumerated() {
            h = linear(h, weight: layer.weight, bias: layer.bias)
            if k < layers.count - 1 { h = relu(h) }
        }
        return h
    }

    /// The loss of one batch `x` [B, dim]. `codes` fixes each level's codes (gradient checks: the
    /// nearest-code choice is piecewise constant); nil chooses the nearest codes.
    static func forward(x: Variable, encoder: [Layer], decoder: [Layer], codebooks: [Variable], beta: Float,
                        codes fixed: [[Int]]? = nil, stopped frozen: Stopped? = nil) -> Forward {
        let z = mlp(x, encoder) // [B, latent]
        let batch = z.shape[0]
        var r = z
        let sum = Tensor(zeros: z.shape)
        var quantisation: Variable?
        var codes: [[Int]] = []
        var stopped = Stopped()
        for (l, codebook) in codebooks.enumerated() {
            let chosen = fixed?[l] ?? SemanticQuantiser.nearest(r.value, codebook: codebook.value)
            codes.append(chosen)
            let e = embedding(codebook, indices: IntTensor(shape: [batch], values: chosen)) // [B, latent]
            let rStop = frozen?.residuals[l] ?? r.value, eStop = frozen?.codeVectors[l] ?? e.value
            stopped.residuals.append(rStop)
            stopped.codeVectors.append(eStop)
            let toCode = sub(Variable(rStop), e) // sg[r] − e: moves the codebook
            let toResidual = sub(r, Variable(eStop)) // r − sg[e]: commits the encoder
            let term = add(mean(mul(toCode, toCode)), scale(mean(mul(toResidual, toResidual)), beta))
            quantisation = quantisation.map { add($0, term) } ?? term
            r = toResidual
            Ops.addInPlace(sum, e.value)
        }
        let shift = frozen?.shift ?? Ops.sub(sum, z.value)
        stopped.shift = shift
        let zq = add(z, Variable(shift)) // value Σe, gradient to z (straight-through)
        let xHat = mlp(zq, decoder)
        let err = sub(xHat, x)
        let reconstruction = mean(mul(err, err))
        let q = quantisation ?? Variable(Tensor(scalar: 0))
        return Forward(loss: add(reconstruction, q), reconstruction: reconstruction.value.item, quantisation: q.value.item, codes: codes, stopped: stopped)
    }

    static func makeLayers(_ sizes: [Int], generator: inout SeededGenerator) -> [Layer] {
        zip(sizes, sizes.dropFirst()).map { input, output in
            // He initialisation for the ReLU layers.
            Layer(weight: .parameter(.normal(shape: [output, input], std: (2 / Float(input)).squareRoot(), generator: &generator)),
                  bias: .parameter(Tensor(zeros: [output])))
        }
    }

    static func encode(_ x: Tensor, _ layers: [Layer]) -> Tensor {
        var h = x
        for (k, layer) in layers.enumerated() {
            h = Ops.linear(h, weight: layer.weight.value, bias: layer.bias.value)
            if k < layers.count - 1 { h = Ops.relu(h) }
        }
        return h
    }

    static func rows(_ x: Tensor, _ indices: some Collection<Int>) -> Tensor {
        let d = x.shape[1]
        let out = Tensor(uninitialized: [indices.count, d])
        for (r, i) in indices.enumerated() { (out.pointer + r * d).update(from: x.pointer + i * d, count: d) }
        return out
    }

    struct Trained {
        var encoder: [SemanticQuantiser.Dense]
        var codebooks: [[Float]]
        var reconstruction: Double
        var quantisation: Double
    }

    static func train(_ x: Tensor, settings: SemanticQuantiserSettings, generator: inout SeededGenerator, progress: Bool) throws -> Trained {
        let n = x.shape[0], dim = x.shape[1], k = settings.codebookSize
        guard settings.latent > 0, settings.hidden.allSatisfy({ $0 > 0 }), settings.batchSize > 0, settings.epochs > 0 else {
            throw IDGenError.invalid("RQ-VAE: latent, hidden sizes, batch size and epochs must be positive")
        }
        let encoder = makeLayers([dim] + settings.hidden + [settings.latent], generator: &generator)
        let decoder = makeLayers([settings.latent] + settings.hidden.reversed() + [dim], generator: &generator)
        var order = Array(0 ..< n)
        order.shuffle(using: &generator)

        // Codebooks: k-means on the latent residuals of the first epoch's first rows.
        let initCount = min(n, max(settings.initRows, k))
        var residual = encode(rows(x, order.prefix(initCount)), encoder)
        var codebooks: [Variable] = []
        for _ in 0 ..< settings.levels {
            let fit = KMeans.fit(residual, k: k, iterations: 10, capacity: nil, generator: &generator)
            let d = settings.latent
            for i in 0 ..< initCount {
                let r = residual.pointer + i * d, c = fit.centroids.pointer + fit.assignment[i] * d
                for j in 0 ..< d { r[j] -= c[j] }
            }
            codebooks.append(.parameter(fit.centroids))
        }
        withExtendedLifetime(residual) {}
        residual = Tensor(zeros: [0])

        let parameters = (encoder + decoder).enumerated().flatMap { k, layer in
            [("layer\(k).weight", layer.weight), ("layer\(k).bias", layer.bias)]
        } + codebooks.enumerated().map { ("codebook\($0)", $1) }
        let optimiser = AdamW(groups: [ParameterGroup(parameters: parameters, weightDecay: 0)], learningRate: settings.learningRate)
        var lastReconstruction = 0.0, lastQuantisation = 0.0
        for epoch in 0 ..< settings.epochs {
            if epoch > 0 { order.shuffle(using: &generator) }
            var used = [[Bool]](repeating: [Bool](repeating: false, count: k), count: settings.levels)
            var rec = 0.0, quant = 0.0, steps = 0
            var start = 0
            while start < n {
                let slice = order[start ..< min(start + settings.batchSize, n)]
                start += slice.count
                optimiser.zeroGrad()
                let f = forward(x: Variable(rows(x, slice)), encoder: encoder, decoder: decoder, codebooks: codebooks, beta: settings.beta)
                f.loss.backward()
                optimiser.step()
                for (l, codes) in f.codes.enumerated() { for c in codes { used[l][c] = true } }
                rec += Double(f.reconstruction)
                quant += Double(f.quantisation)
                steps += 1
            }
            lastReconstruction = rec / Double(steps)
            lastQuantisation = quant / Double(steps)
            // Dead codes: reset to random current residuals of their level (the whole catalog encoded).
            var dead = 0
            if epoch < settings.epochs - 1 {
                let latent = encode(x, encoder)
                let d = settings.latent
                for l in 0 ..< settings.levels {
                    let codebook = codebooks[l].value
                    for c in 0 ..< k where !used[l][c] {
                        let i = Int(generator.next() % UInt64(n))
                        (codebook.pointer + c * d).update(from: latent.pointer + i * d, count: d)
                        dead += 1
                    }
                    let level = SemanticQuantiser.nearest(latent, codebook: codebook)
                    for i in 0 ..< n {
                        let r = latent.pointer + i * d, e = codebook.pointer + level[i] * d
                        for j in 0 ..< d { r[j] -= e[j] }
                    }
                }
                withExtendedLifetime(latent) {}
            }
            if progress {
                Log.info(String(format: "RQ-VAE epoch %d/%d: reconstruction %.5f, codebook+commitment %.5f, %d dead codes reset",
                                epoch + 1, settings.epochs, lastReconstruction, lastQuantisation, dead))
            }
        }
        let dense = encoder.map { layer in
            SemanticQuantiser.Dense(inFeatures: layer.weight.shape[1], outFeatures: layer.weight.shape[0],
                                    weight: layer.weight.value.scalars, bias: layer.bias.value.scalars)
        }
        return Trained(encoder: dense, codebooks: codebooks.map(\.value.scalars), reconstruction: lastReconstruction, quantisation: lastQuantisation)
    }
}
