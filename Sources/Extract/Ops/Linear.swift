// Fully connected layers (torch.nn.Linear), element-wise ops, and flattening.
import CBLAS
import CKernels

/// y = act(x W^T + b). x: [N, I], weight: [O, I], bias: [O] -> [N, O]
/// The output features are split across the workers, each multiplying by its rows of W (sgemm;
/// gemv_rows with one image).
public func linear(_ x: Tensor, weight: Tensor, bias: [Float]?, activation: Activation = .none) -> Tensor {
    linear(x, weight: weight, bias: bias, activation: activation, cache: nil)
}

/// linear with a layer's cache of packed weights: with several images, and where conv_gemm runs, the
/// product is a 1x1 convolution of [N, I, 1, 1] with the weights packed once, where sgemm would pack
/// all of W again on every call (AlexNet's and VGG's fc6: 100 MB and more).
func linear(_ x: Tensor, weight: Tensor, bias: [Float]?, activation: Activation, cache: WeightCache?) -> Tensor {
    let n = x.shape[0], i = x.count / max(x.shape[0], 1)
    let o = weight.shape[0]
    precondition(weight.shape[1] == i, "linear: weight \(weight.shape) does not fit input \(x.shape)")
    if let cache, n > 1, packedGemmEnabled {
        return conv2d(x.reshaped([n, i, 1, 1]), weight: weight.reshaped([o, i, 1, 1]), bias: bias,
                      geometry: Conv2dGeometry(kernel: 1), activation: activation, cache: cache).reshaped([n, o])
    }
    countMultiplyAdds(n * o * i)
    let b = bias ?? [Float](repeating: 0, count: o)
    return Tensor(shape: [n, o]) { op in
        x.data.withUnsafeBufferPointer { xp in
            weight.data.withUnsafeBufferPointer { wp in
                b.withUnsafeBufferPointer { bp in
                    parallelRanges(o, grain: 64, align: 16) { r in
                        if n == 1 && packedGemmEnabled {
                            // One image: the weights read once, four rows at a time (gemm.c).
                            gemv_rows(wp.baseAddress! + r.lowerBound * i, r.count, i, xp.baseAddress!, op + r.lowerBound)
                        } else if n == 1 {
                            // sgemv reads the weights once, where sgemm would first pack them.
                            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(r.count), Int32(i), 1,
                                        wp.baseAddress! + r.lowerBound * i, Int32(i), xp.baseAddress!, 1, 0,
                                        op + r.lowerBound, 1)
                        } else {
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(r.count), Int32(i), 1,
                                        xp.baseAddress!, Int32(i), wp.baseAddress! + r.lowerBound * i, Int32(i), 0,
                                        op + r.lowerBound, Int32(o))
                        }
                        for row in 0..<n {
                            let y = op + row * o
                            for k in r { y[k] = activation.apply(y[k] + bp[k]) }
                        }
                    }
                }
            }
        }
    }
}

/// [N, ...] -> [N, product of the rest], as torch.flatten(x, 1).
public func flatten(_ x: Tensor) -> Tensor {
    x.reshaped([x.shape[0], x.count / max(x.shape[0], 1)])
}

public func relu(_ x: Tensor) -> Tensor {
    var y = x
    apply(.relu, to: &y)
    return y
}

/// x = act(x) in place (a copy only if x's storage is shared).
func apply(_ a: Activation, to x: inout Tensor) {
    if a == .none { return }
    x.data.withUnsafeMutableBufferPointer { p in
        let base = p.baseAddress!
        parallelRanges(p.count, grain: 1 << 16, align: 16) { r in
            biasActivate(base + r.lowerBound, base + r.lowerBound, count: r.count, bias: 0, a)
        }
    }
}

/// Residual connection: a + b, then the activation (ResNet's `out += identity; out = relu(out)`).
public func add(_ a: Tensor, _ b: Tensor, activation: Activation = .none) -> Tensor {
    var y = a
    add(into: &y, b, activation: activation)
    return y
}

/// a = act(a + b) in place: the residual sum without a copy when the caller owns a.
public func add(into a: inout Tensor, _ b: Tensor, activation: Activation = .none) {
    precondition(a.shape == b.shape, "add: shapes \(a.shape) and \(b.shape) differ")
    a.data.withUnsafeMutableBufferPointer { p in
        b.data.withUnsafeBufferPointer { q in
            let (y, z) = (p.baseAddress!, q.baseAddress!)
            parallelRanges(p.count, grain: 1 << 16, align: 16) { r in
                switch activation {
                case .none: for i in r { y[i] += z[i] }
                case .relu: for i in r { y[i] = max(y[i] + z[i], 0) }
                case .relu6: for i in r { y[i] = min(max(y[i] + z[i], 0), 6) }
                default: for i in r { y[i] = activation.apply(y[i] + z[i]) }
                }
            }
        }
    }
}
