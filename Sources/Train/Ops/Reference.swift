// Plain-loop versions of the training ops, forward and backward, in Double: the definition each
// fast op is tested against, and themselves tested against finite differences of their forward.
// Slow on purpose; never on a hot path.
import Extract
import Foundation

/// A Double tensor for the references (row-major, NCHW).
public struct Tensor64: Equatable {
    public var shape: [Int]
    public var data: [Double]

    public init(shape: [Int], data: [Double]) {
        precondition(shape.reduce(1, *) == data.count)
        self.shape = shape
        self.data = data
    }
    public init(zeros shape: [Int]) { self.init(shape: shape, data: .init(repeating: 0, count: shape.reduce(1, *))) }
    public init(_ t: Tensor) { self.init(shape: t.shape, data: t.data.map(Double.init)) }
    public var float: Tensor { Tensor(shape: shape, data: data.map { Float($0) }) }
}

public enum Reference {
    /// x: [N, C, H, W], w: [O, C/groups, kH, kW], b: [O] -> [N, O, oH, oW]
    public static func conv2d(_ x: Tensor64, _ w: Tensor64, _ b: [Double]?, _ g: Conv2dGeometry) -> Tensor64 {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let og = o / g.groups
        let (oh, ow) = g.outputSize(height: h, width: wd)
        var y = Tensor64(zeros: [n, o, oh, ow])
        for img in 0..<n { for oc in 0..<o { for oy in 0..<oh { for ox in 0..<ow {
            var acc = b?[oc] ?? 0
            for ci in 0..<cg { for i in 0..<kh { for j in 0..<kw {
                let iy = oy * g.stride.h - g.padding.top + i, ix = ox * g.stride.w - g.padding.left + j
                if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                acc += x.data[((img * c + (oc / og) * cg + ci) * h + iy) * wd + ix] * w.data[((oc * cg + ci) * kh + i) * kw + j]
            } } }
            y.data[((img * o + oc) * oh + oy) * ow + ox] = acc
        } } } }
        return y
    }

    /// Each product x * w of the forward sum sends dy * w to dx and dy * x to dw.
    public static func conv2dBackward(_ x: Tensor64, _ w: Tensor64, _ dy: Tensor64, _ g: Conv2dGeometry)
        -> (dx: Tensor64, dw: Tensor64, db: [Double]) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let og = o / g.groups
        let (oh, ow) = (dy.shape[2], dy.shape[3])
        var dx = Tensor64(zeros: x.shape), dw = Tensor64(zeros: w.shape)
        var db = [Double](repeating: 0, count: o)
        for img in 0..<n { for oc in 0..<o { for oy in 0..<oh { for ox in 0..<ow {
            let d = dy.data[((img * o + oc) * oh + oy) * ow + ox]
            db[oc] += d
            for ci in 0..<cg { for i in 0..<kh { for j in 0..<kw {
                let iy = oy * g.stride.h - g.padding.top + i, ix = ox * g.stride.w - g.padding.left + j
                if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                let xi = ((img * c + (oc / og) * cg + ci) * h + iy) * wd + ix, wi = ((oc * cg + ci) * kh + i) * kw + j
                dx.data[xi] += d * w.data[wi]
                dw.data[wi] += d * x.data[xi]
            } } }
        } } } }
        return (dx, dw, db)
    }

    /// BatchNorm2d in training mode: per channel, mean and biased variance over (N, H, W).
    /// The flat indices of channel `ch` in an [N, C, ...] tensor.
    static func channel(_ ch: Int, _ shape: [Int]) -> [Int] {
        let (n, c) = (shape[0], shape[1])
        let plane = shape.reduce(1, *) / (n * c)
        var idx: [Int] = []
        for img in 0..<n { idx += Array((img * c + ch) * plane..<(img * c + ch + 1) * plane) }
        return idx
    }

    static func meanAndVariance(_ x: Tensor64, _ idx: [Int]) -> (mean: Double, variance: Double) {
        var sum = 0.0
        for i in idx { sum += x.data[i] }
        let mean = sum / Double(idx.count)
        var sq = 0.0
        for i in idx { sq += (x.data[i] - mean) * (x.data[i] - mean) }
        return (mean, sq / Double(idx.count))
    }

    public static func batchNorm(_ x: Tensor64, gamma: [Double], beta: [Double], eps: Double)
        -> (y: Tensor64, mean: [Double], variance: [Double]) {
        let c = x.shape[1]
        var y = x
        var means: [Double] = [], vars: [Double] = []
        for ch in 0..<c {
            let idx = channel(ch, x.shape)
            let (mean, v) = meanAndVariance(x, idx)
            for i in idx { y.data[i] = (x.data[i] - mean) / (v + eps).squareRoot() * gamma[ch] + beta[ch] }
            means.append(mean)
            vars.append(v)
        }
        return (y, means, vars)
    }

    /// BatchNorm2d's backward written as the chain rule through mean and variance (not the fused formula):
    /// dxhat = dy * gamma; dvar = sum(dxhat * (x - mean)) * -1/2 (var + eps)^-3/2;
    /// dmean = -sum(dxhat) / sqrt(var + eps); dx = dxhat / sqrt(var + eps) + dvar * 2 (x - mean) / M + dmean / M.
    public static func batchNormBackward(_ x: Tensor64, dy: Tensor64, gamma: [Double], eps: Double)
        -> (dx: Tensor64, dgamma: [Double], dbeta: [Double]) {
        let c = x.shape[1]
        var dx = x
        var dgamma: [Double] = [], dbeta: [Double] = []
        for ch in 0..<c {
            let idx = channel(ch, x.shape)
            let m = Double(idx.count)
            let (mean, v) = meanAndVariance(x, idx)
            let s = (v + eps).squareRoot()
            var dvar = 0.0, dmean = 0.0, dg = 0.0, dbt = 0.0
            for i in idx {
                let dxhat = dy.data[i] * gamma[ch]
                dvar += dxhat * (x.data[i] - mean) * -0.5 / (s * s * s)
                dmean += -dxhat / s
                dg += dy.data[i] * (x.data[i] - mean) / s
                dbt += dy.data[i]
            }
            for i in idx { dx.data[i] = dy.data[i] * gamma[ch] / s + dvar * 2 * (x.data[i] - mean) / m + dmean / m }
            dgamma.append(dg)
            dbeta.append(dbt)
        }
        return (dx, dgamma, dbeta)
    }

    public static func activation(_ x: Tensor64, _ a: Activation) -> Tensor64 {
        Tensor64(shape: x.shape, data: x.data.map { a == .relu ? max($0, 0) : a == .relu6 ? min(max($0, 0), 6) : $0 })
    }

    /// The derivative of ReLU (ReLU6) is 1 strictly inside (0, inf) ((0, 6)), 0 elsewhere, as torch takes it.
    public static func activationBackward(_ x: Tensor64, _ dy: Tensor64, _ a: Activation) -> Tensor64 {
        Tensor64(shape: x.shape, data: zip(x.data, dy.data).map { v, d in
            switch a {
            case .none: return d
            case .relu: return v > 0 ? d : 0
            case .relu6: return v > 0 && v < 6 ? d : 0
            case .hardswish, .hardsigmoid: preconditionFailure("no backward reference for \(a)")
            }
        })
    }

    /// Max pooling; the gradient of each window goes to its first maximum in row-major order.
    public static func maxPool(_ x: Tensor64, kernel: Int, stride: Int, padding: Int, ceilMode: Bool, dy: Tensor64? = nil)
        -> (y: Tensor64, dx: Tensor64) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = poolOutputSize(h, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
        let ow = poolOutputSize(w, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
        var y = Tensor64(zeros: [n, c, oh, ow]), dx = Tensor64(zeros: x.shape)
        for p in 0..<(n * c) { for oy in 0..<oh { for ox in 0..<ow {
            var best = -Double.infinity, at = -1
            for i in 0..<kernel { for j in 0..<kernel {
                let iy = oy * stride - padding + i, ix = ox * stride - padding + j
                if iy >= 0 && iy < h && ix >= 0 && ix < w && x.data[(p * h + iy) * w + ix] > best {
                    best = x.data[(p * h + iy) * w + ix]; at = (p * h + iy) * w + ix
                }
            } }
            let o = (p * oh + oy) * ow + ox
            y.data[o] = best
            if let dy, at >= 0 { dx.data[at] += dy.data[o] }
        } } }
        return (y, dx)
    }

    /// AdaptiveAvgPool2d and its backward (each cell's gradient shared equally by its inputs).
    public static func adaptiveAvgPool(_ x: Tensor64, _ oh: Int, _ ow: Int, dy: Tensor64? = nil) -> (y: Tensor64, dx: Tensor64) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y = Tensor64(zeros: [n, c, oh, ow]), dx = Tensor64(zeros: x.shape)
        for p in 0..<(n * c) { for oy in 0..<oh { for ox in 0..<ow {
            let y0 = oy * h / oh, y1 = ((oy + 1) * h + oh - 1) / oh, x0 = ox * w / ow, x1 = ((ox + 1) * w + ow - 1) / ow
            let cells = Double((y1 - y0) * (x1 - x0))
            for iy in y0..<y1 { for ix in x0..<x1 {
                y.data[(p * oh + oy) * ow + ox] += x.data[(p * h + iy) * w + ix] / cells
                if let dy { dx.data[(p * h + iy) * w + ix] += dy.data[(p * oh + oy) * ow + ox] / cells }
            } }
        } } }
        return (y, dx)
    }

    /// x: [N, I], w: [O, I] -> x w^T + b, and the backward dx = dy w, dw = dy^T x, db = sum dy.
    public static func linear(_ x: Tensor64, _ w: Tensor64, _ b: [Double]) -> Tensor64 {
        let (n, i, o) = (x.shape[0], x.shape[1], w.shape[0])
        var y = Tensor64(zeros: [n, o])
        for r in 0..<n { for k in 0..<o {
            y.data[r * o + k] = b[k] + (0..<i).reduce(0) { $0 + x.data[r * i + $1] * w.data[k * i + $1] }
        } }
        return y
    }

    public static func linearBackward(_ x: Tensor64, _ w: Tensor64, _ dy: Tensor64) -> (dx: Tensor64, dw: Tensor64, db: [Double]) {
        let (n, i, o) = (x.shape[0], x.shape[1], w.shape[0])
        var dx = Tensor64(zeros: x.shape), dw = Tensor64(zeros: w.shape)
        var db = [Double](repeating: 0, count: o)
        for r in 0..<n { for k in 0..<o {
            let d = dy.data[r * o + k]
            db[k] += d
            for j in 0..<i {
                dx.data[r * i + j] += d * w.data[k * i + j]
                dw.data[k * i + j] += d * x.data[r * i + j]
            }
        } }
        return (dx, dw, db)
    }

    /// Mean cross-entropy of softmax(logits) against labels.
    public static func crossEntropy(_ logits: Tensor64, _ labels: [Int]) -> Double {
        let (n, k) = (logits.shape[0], logits.shape[1])
        var loss = 0.0
        for r in 0..<n {
            let row = Array(logits.data[r * k..<(r + 1) * k])
            loss += log(row.map { exp($0) }.reduce(0, +)) - row[labels[r]]
        }
        return loss / Double(n)
    }
}

extension Tensor64 {
    public var count: Int { data.count }
}
