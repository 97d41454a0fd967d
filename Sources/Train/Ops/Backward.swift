// Forward passes that training needs beyond Extract's (BatchNorm on batch statistics, max pooling
// that remembers its argmax, dropout) and the backward pass of every op, side by side.
import CBLAS
import Extract

// MARK: BatchNorm2d, training mode

/// What BatchNorm's backward pass needs from its forward pass: per-channel batch mean and 1/sqrt(var + eps).
public struct BatchStatistics {
    public var mean: [Float], invStd: [Float]
    /// The batch variance, biased (for normalising) and unbiased (torch's running_var update).
    public var variance: [Double], unbiasedVariance: [Double]
}

/// torch.nn.BatchNorm2d in training mode: normalises each channel by the batch's mean and biased
/// variance over (N, H, W), computed in Double. x: [N, C, H, W], gamma, beta: [C]
public func batchNormTraining(_ x: Tensor, gamma: [Float], beta: [Float], eps: Double) -> (y: Tensor, stats: BatchStatistics) {
    let (n, c) = (x.shape[0], x.shape[1])
    let plane = x.count / max(n * c, 1)
    let m = Double(n * plane)
    var mean = [Float](repeating: 0, count: c), invStd = mean
    var variance = [Double](repeating: 0, count: c), unbiased = variance
    let y = Tensor(shape: x.shape) { yp in
        x.data.withUnsafeBufferPointer { xp in
            mean.withUnsafeMutableBufferPointer { meanp in
                invStd.withUnsafeMutableBufferPointer { invp in
                    variance.withUnsafeMutableBufferPointer { varp in
                        unbiased.withUnsafeMutableBufferPointer { unbp in
                            let (xb, mb, ib, vb, ub) = (xp.baseAddress!, meanp.baseAddress!, invp.baseAddress!, varp.baseAddress!, unbp.baseAddress!)
                            parallelRanges(c) { channels in
                                for ch in channels {
                                    // Each plane summed in float lanes, the planes in Double; the variance in two passes.
                                    var sum = 0.0
                                    for img in 0..<n { sum += Double(laneSum(xb + (img * c + ch) * plane, plane)) }
                                    let mu = sum / m
                                    var sq = 0.0
                                    for img in 0..<n {
                                        sq += Double(laneSquaredDeviation(xb + (img * c + ch) * plane, plane, mean: Float(mu)))
                                    }
                                    let v = sq / m
                                    let inv = 1 / (v + eps).squareRoot()
                                    mb[ch] = Float(mu); ib[ch] = Float(inv); vb[ch] = v
                                    ub[ch] = m > 1 ? sq / (m - 1) : v
                                    let scale = Float(inv * Double(gamma[ch]))
                                    let shift = Float(Double(beta[ch]) - mu * inv * Double(gamma[ch]))
                                    for img in 0..<n {
                                        let s = xb + (img * c + ch) * plane, d = yp + (img * c + ch) * plane
                                        for i in 0..<plane { d[i] = s[i] * scale + shift }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return (y, BatchStatistics(mean: mean, invStd: invStd, variance: variance, unbiasedVariance: unbiased))
}

/// Gradients of batchNormTraining: with xhat = (x - mean) * invStd and M = N*H*W,
/// dgamma = sum(dy * xhat), dbeta = sum(dy), dx = gamma * invStd * (dy - dbeta / M - xhat * dgamma / M).
public func batchNormTrainingBackward(_ x: Tensor, dy: Tensor, gamma: [Float], stats: BatchStatistics)
    -> (dx: Tensor, dgamma: [Float], dbeta: [Float]) {
    let (n, c) = (x.shape[0], x.shape[1])
    let plane = x.count / max(n * c, 1)
    let m = Double(n * plane)
    var dgamma = [Float](repeating: 0, count: c), dbeta = dgamma
    let dx = Tensor(shape: x.shape) { dxp in
        x.data.withUnsafeBufferPointer { xp in
            dy.data.withUnsafeBufferPointer { dyp in
                dgamma.withUnsafeMutableBufferPointer { dgp in
                    dbeta.withUnsafeMutableBufferPointer { dbp in
                        let (xb, dyb, dgb, dbb) = (xp.baseAddress!, dyp.baseAddress!, dgp.baseAddress!, dbp.baseAddress!)
                        parallelRanges(c) { channels in
                            for ch in channels {
                                let mu = stats.mean[ch], inv = stats.invStd[ch]
                                var sdy = 0.0, sdyx = 0.0
                                for img in 0..<n {
                                    let s = xb + (img * c + ch) * plane, d = dyb + (img * c + ch) * plane
                                    sdy += Double(laneSum(d, plane))
                                    sdyx += Double(laneDot(d, s, plane, shift: mu))
                                }
                                let dg = sdyx * Double(inv)
                                dgb[ch] = Float(dg); dbb[ch] = Float(sdy)
                                let k = Float(Double(gamma[ch]) * Double(inv))
                                let meanDy = Float(sdy / m), coef = Float(dg / m) * inv
                                for img in 0..<n {
                                    let s = xb + (img * c + ch) * plane, d = dyb + (img * c + ch) * plane
                                    let o = dxp + (img * c + ch) * plane
                                    for i in 0..<plane { o[i] = k * (d[i] - meanDy - (s[i] - mu) * coef) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return (dx, dgamma, dbeta)
}

/// BatchNorm at evaluation: y = (x - runningMean) / sqrt(runningVar + eps) * gamma + beta; the backward
/// (for a network trained in eval mode, not used by fine-tuning) is a per-channel scale.
public func batchNormInference(_ x: Tensor, gamma: [Float], beta: [Float], runningMean: [Float], runningVar: [Float],
                               eps: Double) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1])
    let plane = x.count / max(n * c, 1)
    let (scale, shift) = BatchNorm(weight: gamma, bias: beta, runningMean: runningMean, runningVar: runningVar, eps: eps).scaleAndShift
    return Tensor(shape: x.shape) { yp in
        x.data.withUnsafeBufferPointer { xp in
            parallelRanges(n * c) { planes in
                for p in planes {
                    let (s, t) = (scale[p % c], shift[p % c])
                    for i in p * plane..<(p + 1) * plane { yp[i] = xp[i] * s + t }
                }
            }
        }
    }
}

// MARK: Activations

/// ReLU or ReLU6 (torch's hardtanh(0, 6)) backward from the activation's output y:
/// dx = dy where 0 < y (< 6 for ReLU6), 0 elsewhere, as threshold_backward and hardtanh_backward.
public func activationBackward(_ a: Activation, y: Tensor, dy: Tensor) -> Tensor {
    precondition(y.shape == dy.shape, "activationBackward: y \(y.shape) and dy \(dy.shape) differ")
    if a == .none { return dy }
    return Tensor(shape: y.shape) { dxp in
        y.data.withUnsafeBufferPointer { yp in
            dy.data.withUnsafeBufferPointer { dyp in
                let (yb, db) = (yp.baseAddress!, dyp.baseAddress!)
                parallelRanges(y.count, grain: 1 << 15, align: 16) { r in
                    switch a {
                    case .relu: for i in r { dxp[i] = yb[i] > 0 ? db[i] : 0 }
                    case .relu6: for i in r { dxp[i] = yb[i] > 0 && yb[i] < 6 ? db[i] : 0 }
                    case .none: for i in r { dxp[i] = db[i] }
                    case .hardswish, .hardsigmoid:
                        preconditionFailure("activationBackward: \(a) is not used by the networks fine-tuning supports")
                    }
                }
            }
        }
    }
}

// MARK: Pooling

/// torch.nn.MaxPool2d (-inf padding, ceil mode as poolOutputSize) that also returns, per output,
/// the flat index in its input plane of the first maximum (the one torch's backward routes to).
/// (A NaN in a window is not propagated, unlike torch.)
public func maxPool2dWithIndices(_ x: Tensor, kernel: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false)
    -> (y: Tensor, indices: [Int32]) {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let oh = poolOutputSize(h, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    let ow = poolOutputSize(w, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    var indices = [Int32](repeating: 0, count: n * c * oh * ow)
    let y = Tensor(shape: [n, c, oh, ow]) { yp in
        x.data.withUnsafeBufferPointer { xp in
            indices.withUnsafeMutableBufferPointer { ip in
                let (xb, ib) = (xp.baseAddress!, ip.baseAddress!)
                parallelRanges(n * c) { planes in
                    for p in planes {
                        let src = xb + p * h * w
                        for oy in 0..<oh {
                            let y0 = max(oy * stride - padding, 0), y1 = min(oy * stride - padding + kernel, h)
                            for ox in 0..<ow {
                                let x0 = max(ox * stride - padding, 0), x1 = min(ox * stride - padding + kernel, w)
                                var best = -Float.infinity, at = y0 * w + x0
                                var iy = y0
                                while iy < y1 {
                                    let row = src + iy * w
                                    var ix = x0
                                    while ix < x1 {
                                        let v = row[ix]
                                        if v > best { best = v; at = iy * w + ix }
                                        ix += 1
                                    }
                                    iy += 1
                                }
                                let o = (p * oh + oy) * ow + ox
                                yp[o] = best; ib[o] = Int32(at)
                            }
                        }
                    }
                }
            }
        }
    }
    return (y, indices)
}

/// Max pooling's backward: each output's gradient goes to its argmax. inputShape: [N, C, H, W]
public func maxPool2dBackward(dy: Tensor, indices: [Int32], inputShape: [Int]) -> Tensor {
    let plane = inputShape[2] * inputShape[3], outPlane = dy.shape[2] * dy.shape[3]
    var dx = Tensor(zeros: inputShape)
    dx.data.withUnsafeMutableBufferPointer { dxp in
        dy.data.withUnsafeBufferPointer { dyp in
            let (dxb, dyb) = (dxp.baseAddress!, dyp.baseAddress!)
            parallelRanges(inputShape[0] * inputShape[1]) { planes in
                for p in planes {
                    for o in p * outPlane..<(p + 1) * outPlane { dxb[p * plane + Int(indices[o])] += dyb[o] }
                }
            }
        }
    }
    return dx
}

/// torch.nn.AdaptiveAvgPool2d's backward: each output cell's gradient spread evenly over its
/// input cells (rows floor(i*H/oH) ..< ceil((i+1)*H/oH)). inputShape: [N, C, H, W]
public func adaptiveAvgPool2dBackward(dy: Tensor, inputShape: [Int]) -> Tensor {
    let (h, w) = (inputShape[2], inputShape[3])
    let (oh, ow) = (dy.shape[2], dy.shape[3])
    var dx = Tensor(zeros: inputShape)
    dx.data.withUnsafeMutableBufferPointer { dxp in
        dy.data.withUnsafeBufferPointer { dyp in
            let (dxb, dyb) = (dxp.baseAddress!, dyp.baseAddress!)
            parallelRanges(inputShape[0] * inputShape[1]) { planes in
                for p in planes {
                    for y in 0..<oh {
                        let y0 = (y * h) / oh, y1 = ((y + 1) * h + oh - 1) / oh
                        for xo in 0..<ow {
                            let x0 = (xo * w) / ow, x1 = ((xo + 1) * w + ow - 1) / ow
                            let g = dyb[(p * oh + y) * ow + xo] / Float((y1 - y0) * (x1 - x0))
                            for iy in y0..<y1 { for ix in x0..<x1 { dxb[(p * h + iy) * w + ix] += g } }
                        }
                    }
                }
            }
        }
    }
    return dx
}

/// globalAvgPool's backward: dy: [N, C] -> [N, C, H, W] filled with dy / (H * W).
public func globalAvgPoolBackward(dy: Tensor, inputShape: [Int]) -> Tensor {
    let plane = inputShape[2] * inputShape[3]
    return Tensor(shape: inputShape) { dxp in
        for p in 0..<(inputShape[0] * inputShape[1]) {
            let g = dy.data[p] / Float(plane)
            (dxp + p * plane).update(repeating: g, count: plane)
        }
    }
}

// MARK: Linear

/// Gradients of y = x W^T + b. x: [N, I], weight: [O, I], dy: [N, O] -> dx: [N, I], dw: [O, I], db: [O]
/// dW's rows and dx's columns are split across the workers.
public func linearBackward(_ x: Tensor, weight: Tensor, dy: Tensor, inputGrad: Bool = true) -> (dx: Tensor?, dw: Tensor, db: [Float]) {
    let n = x.shape[0], i = x.count / max(n, 1), o = weight.shape[0]
    precondition(weight.shape == [o, i] && dy.shape == [n, o], "linearBackward: x \(x.shape), weight \(weight.shape), dy \(dy.shape)")
    let dw = Tensor(shape: [o, i]) { dwp in
        x.data.withUnsafeBufferPointer { xp in
            dy.data.withUnsafeBufferPointer { dyp in
                let (xb, dyb) = (xp.baseAddress!, dyp.baseAddress!)
                parallelRanges(o, grain: 16) { r in
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(r.count), Int32(i), Int32(n), 1,
                                dyb + r.lowerBound, Int32(o), xb, Int32(i), 0, dwp + r.lowerBound * i, Int32(i))
                }
            }
        }
    }
    let dx: Tensor? = !inputGrad ? nil : Tensor(shape: [n, i]) { dxp in
        weight.data.withUnsafeBufferPointer { wp in
            dy.data.withUnsafeBufferPointer { dyp in
                let (wb, dyb) = (wp.baseAddress!, dyp.baseAddress!)
                parallelRanges(i, grain: 256, align: 16) { r in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(r.count), Int32(o), 1,
                                dyb, Int32(o), wb + r.lowerBound, Int32(i), 0, dxp + r.lowerBound, Int32(i))
                }
            }
        }
    }
    var db = [Float](repeating: 0, count: o)
    for r in 0..<n { for k in 0..<o { db[k] += dy.data[r * o + k] } }
    return (dx, dw, db)
}

// MARK: Dropout

// The seeded random numbers of dropout, drop-connect and the new head's initialisation come from
// Extract's SplitMix64, as the augmentation's do.

/// torch.nn.Dropout in training mode: each value kept with probability 1 - p and scaled by 1 / (1 - p).
/// Returns the output and the mask (0 or 1 / (1 - p)) that the backward pass multiplies by.
public func dropout(_ x: Tensor, p: Double, rng: inout SplitMix64) -> (y: Tensor, mask: [Float]) {
    let scale = p < 1 ? Float(1 / (1 - p)) : 0
    let mask = (0..<x.count).map { _ in rng.unit() < p ? 0 : scale }
    var y = x
    for i in y.data.indices { y.data[i] *= mask[i] }
    return (y, mask)
}

/// Multiplies by a mask element-wise (dropout's backward) or per image (drop-connect's, `perImage`).
public func scaled(_ dy: Tensor, by mask: [Float]) -> Tensor {
    var dx = dy
    let per = dy.count / mask.count
    dx.data.withUnsafeMutableBufferPointer { p in
        for (j, m) in mask.enumerated() {
            for i in j * per..<(j + 1) * per { p[i] *= m }
        }
    }
    return dx
}
