// Plain-loop versions of the fast ops: the definition each fast op is tested against, and
// the shortest statement of what it computes. Slow on purpose; never on a hot path.

/// x: [N, C, H, W], weight: [O, C/groups, kH, kW], bias: [O] -> [N, O, oH, oW]
public func conv2dReference(_ x: Tensor, weight: Tensor, bias: [Float]?, geometry g: Conv2dGeometry,
                            activation: Activation = .none) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    let og = o / g.groups
    let (oh, ow) = g.outputSize(height: h, width: w)
    var out = Tensor(zeros: [n, o, oh, ow])
    for img in 0..<n {
        for oc in 0..<o {
            let grp = oc / og
            for y in 0..<oh {
                for xo in 0..<ow {
                    var acc = Double(bias?[oc] ?? 0)
                    for ci in 0..<cg {
                        let ic = grp * cg + ci
                        for i in 0..<kh {
                            let iy = y * g.stride.h - g.padding.top + i * g.dilation.h
                            if iy < 0 || iy >= h { continue }
                            for j in 0..<kw {
                                let ix = xo * g.stride.w - g.padding.left + j * g.dilation.w
                                if ix < 0 || ix >= w { continue }
                                acc += Double(x.data[((img * c + ic) * h + iy) * w + ix])
                                    * Double(weight.data[((oc * cg + ci) * kh + i) * kw + j])
                            }
                        }
                    }
                    out.data[((img * o + oc) * oh + y) * ow + xo] = activation.apply(Float(acc))
                }
            }
        }
    }
    return out
}

/// x: [N, I], weight: [O, I], bias: [O] -> [N, O]
public func linearReference(_ x: Tensor, weight: Tensor, bias: [Float]?, activation: Activation = .none) -> Tensor {
    let (n, i) = (x.shape[0], x.shape[1])
    let o = weight.shape[0]
    var out = Tensor(zeros: [n, o])
    for r in 0..<n {
        for k in 0..<o {
            var acc = Double(bias?[k] ?? 0)
            for j in 0..<i { acc += Double(x.data[r * i + j]) * Double(weight.data[k * i + j]) }
            out.data[r * o + k] = activation.apply(Float(acc))
        }
    }
    return out
}

/// Max pooling with -inf padding, as torch.nn.MaxPool2d. x: [N, C, H, W]
public func maxPool2dReference(_ x: Tensor, kernel: Int, stride: Int, padding: Int, ceilMode: Bool) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let oh = poolOutputSize(h, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    let ow = poolOutputSize(w, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    var out = Tensor(zeros: [n, c, oh, ow])
    for p in 0..<(n * c) {
        for y in 0..<oh {
            for xo in 0..<ow {
                var m = -Float.infinity
                for i in 0..<kernel {
                    for j in 0..<kernel {
                        let iy = y * stride - padding + i, ix = xo * stride - padding + j
                        if iy >= 0 && iy < h && ix >= 0 && ix < w { m = max(m, x.data[(p * h + iy) * w + ix]) }
                    }
                }
                out.data[(p * oh + y) * ow + xo] = m
            }
        }
    }
    return out
}

/// torch.nn.AdaptiveAvgPool2d: output cell i averages input rows floor(i*H/oH) ..< ceil((i+1)*H/oH).
public func adaptiveAvgPool2dReference(_ x: Tensor, outputHeight oh: Int, outputWidth ow: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    var out = Tensor(zeros: [n, c, oh, ow])
    for p in 0..<(n * c) {
        for y in 0..<oh {
            let y0 = (y * h) / oh, y1 = ((y + 1) * h + oh - 1) / oh
            for xo in 0..<ow {
                let x0 = (xo * w) / ow, x1 = ((xo + 1) * w + ow - 1) / ow
                var acc = 0.0
                for iy in y0..<y1 { for ix in x0..<x1 { acc += Double(x.data[(p * h + iy) * w + ix]) } }
                out.data[(p * oh + y) * ow + xo] = Float(acc / Double((y1 - y0) * (x1 - x0)))
            }
        }
    }
    return out
}

/// torch.nn.AvgPool2d, summed in Double; the divisor counts padding cells inside the padded input
/// when `countIncludePad`, else only input cells.
public func avgPool2dReference(_ x: Tensor, kernel: Int, stride: Int, padding: Int, ceilMode: Bool,
                               countIncludePad: Bool) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let oh = poolOutputSize(h, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    let ow = poolOutputSize(w, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    var out = Tensor(zeros: [n, c, oh, ow])
    for p in 0..<(n * c) {
        for y in 0..<oh {
            for xo in 0..<ow {
                var acc = 0.0, inside = 0, padded = 0
                for i in 0..<kernel {
                    for j in 0..<kernel {
                        let iy = y * stride - padding + i, ix = xo * stride - padding + j
                        if iy < h + padding && ix < w + padding { padded += 1 }
                        if iy >= 0 && iy < h && ix >= 0 && ix < w {
                            acc += Double(x.data[(p * h + iy) * w + ix])
                            inside += 1
                        }
                    }
                }
                out.data[(p * oh + y) * ow + xo] = Float(acc / Double(countIncludePad ? padded : inside))
            }
        }
    }
    return out
}

/// torch.cat(xs, dim=1), element by element.
public func concatChannelsReference(_ xs: [Tensor]) -> Tensor {
    let (n, h, w) = (xs[0].shape[0], xs[0].shape[2], xs[0].shape[3])
    let total = xs.reduce(0) { $0 + $1.shape[1] }
    var out = Tensor(zeros: [n, total, h, w])
    for img in 0..<n {
        var base = 0
        for x in xs {
            let c = x.shape[1]
            for ch in 0..<c {
                for i in 0..<(h * w) { out.data[((img * total + base + ch) * h * w) + i] = x.data[(img * c + ch) * h * w + i] }
            }
            base += c
        }
    }
    return out
}

/// channel_shuffle as torchvision writes it: x.view(N, g, C/g, H, W).transpose(1, 2).reshape(N, C, H, W),
/// index by index: output (n, j, i, y, x) of the transposed view is input (n, i, j, y, x).
public func channelShuffleReference(_ x: Tensor, groups g: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let per = c / g
    var out = Tensor(zeros: x.shape)
    for img in 0..<n {
        for j in 0..<per {
            for i in 0..<g {
                for s in 0..<(h * w) {
                    out.data[((img * c) + j * g + i) * h * w + s] = x.data[((img * c) + i * per + j) * h * w + s]
                }
            }
        }
    }
    return out
}

/// x * s broadcast over the spatial axes: s [N, C] scales plane (n, c).
public func scaleChannelsReference(_ x: Tensor, by s: Tensor) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1])
    let plane = x.count / (n * c)
    var out = x
    for p in 0..<(n * c) { for i in 0..<plane { out.data[p * plane + i] = x.data[p * plane + i] * s.data[p] } }
    return out
}
