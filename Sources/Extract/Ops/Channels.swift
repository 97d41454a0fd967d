// Ops along the channel axis of [N, C, H, W] tensors: concatenation (torch.cat(xs, 1): DenseNet,
// GoogLeNet/Inception, SqueezeNet's Fire), a channel range (ShuffleNet v2's x.chunk(2, dim=1)),
// ShuffleNet's channel_shuffle, and squeeze-and-excitation's per-channel scaling (`scale * input`).
// Each moves whole planes with memcpy-like copies, images split across the workers.

/// torch.cat(xs, dim=1). xs: [N, C_i, H, W] (same N, H, W) -> [N, sum C_i, H, W]
public func concatChannels(_ xs: [Tensor]) -> Tensor {
    precondition(!xs.isEmpty, "concatChannels: nothing to concatenate")
    let (n, h, w) = (xs[0].shape[0], xs[0].shape[2], xs[0].shape[3])
    precondition(xs.allSatisfy { $0.rank == 4 && $0.shape[0] == n && $0.shape[2] == h && $0.shape[3] == w },
                 "concatChannels: shapes \(xs.map(\.shape)) differ beyond the channels")
    let total = xs.reduce(0) { $0 + $1.shape[1] }
    let plane = h * w
    return Tensor(shape: [n, total, h, w]) { op in
        parallelRanges(n) { images in
            for img in images {
                var at = img * total * plane
                for x in xs {
                    let len = x.shape[1] * plane
                    x.data.withUnsafeBufferPointer { (op + at).update(from: $0.baseAddress! + img * len, count: len) }
                    at += len
                }
            }
        }
    }
}

/// x[:, range]. x: [N, C, H, W] -> [N, range.count, H, W]
public func sliceChannels(_ x: Tensor, _ range: Range<Int>) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    precondition(range.lowerBound >= 0 && range.upperBound <= c, "sliceChannels: \(range) outside \(c) channels")
    let plane = h * w, len = range.count * plane
    return Tensor(shape: [n, range.count, h, w]) { op in
        x.data.withUnsafeBufferPointer { xp in
            for img in 0..<n {
                (op + img * len).update(from: xp.baseAddress! + (img * c + range.lowerBound) * plane, count: len)
            }
        }
    }
}

/// torchvision.models.shufflenetv2.channel_shuffle: view as [N, g, C/g, H, W], swap axes 1 and 2,
/// flatten back, so output channel j * g + i is input channel i * (C/g) + j.
public func channelShuffle(_ x: Tensor, groups g: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    precondition(c % g == 0, "channelShuffle: \(c) channels in \(g) groups")
    let per = c / g, plane = h * w
    return Tensor(shape: x.shape) { op in
        x.data.withUnsafeBufferPointer { xp in
            parallelRanges(n * c) { r in
                for u in r {
                    let (img, out) = u.quotientAndRemainder(dividingBy: c)
                    let (j, i) = out.quotientAndRemainder(dividingBy: g)
                    (op + u * plane).update(from: xp.baseAddress! + (img * c + i * per + j) * plane, count: plane)
                }
            }
        }
    }
}

/// y[n, c, :, :] = x[n, c, :, :] * s[n, c]: squeeze-and-excitation's `scale * input`.
/// x: [N, C, H, W], s: [N, C] or [N, C, 1, 1] -> [N, C, H, W]
public func scaleChannels(_ x: Tensor, by s: Tensor) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1])
    precondition(s.count == n * c, "scaleChannels: scale \(s.shape) for input \(x.shape)")
    let plane = x.count / max(n * c, 1)
    return Tensor(shape: x.shape) { op in
        x.data.withUnsafeBufferPointer { xp in
            s.data.withUnsafeBufferPointer { sp in
                parallelRanges(n * c, grain: max(1, 4096 / max(plane, 1))) { r in
                    for p in r {
                        let k = sp[p], src = xp.baseAddress! + p * plane, dst = op + p * plane
                        for i in 0..<plane { dst[i] = src[i] * k }
                    }
                }
            }
        }
    }
}
