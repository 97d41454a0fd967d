// The ONNX operators that Extract's ops (conv2d, linear, maxPool2d) do not already cover, as plain
// loops over row-major tensors, with ONNX's semantics (onnx/onnx docs/Operators.md; numpy broadcasting).
import Foundation

/// A failure while running a step (a shape the operator cannot take), named by the caller.
struct ONNXShapeError: Error { let message: String }

/// Runs the operator on its inputs (constants included, in the node's input order).
func run(_ kernel: ONNXKernel, _ x: [Tensor]) throws -> Tensor {
        let a = x[0]
        switch kernel {
        case .conv(let c):
            guard a.rank == 4, a.shape[1] == c.weight.shape[1] * c.groups else {
                throw ONNXShapeError(message: "input \(a.shape) does not fit weight \(c.weight.shape) with group \(c.groups)")
            }
            let g = c.geometry(height: a.shape[2], width: a.shape[3])
            let (oh, ow) = g.outputSize(height: a.shape[2], width: a.shape[3])
            guard oh > 0, ow > 0 else { throw ONNXShapeError(message: "input \(a.shape) is smaller than the kernel") }
            return conv2d(a, weight: c.weight, bias: c.bias, geometry: g, activation: c.activation, cache: c.derived)
        case let .linear(weight, bias, addend, transposeInput, activation):
            var input = a
            if transposeInput {
                guard a.rank == 2 else { throw ONNXShapeError(message: "transA needs a matrix, got \(a.shape)") }
                input = onnxTransposed2D(a)
            }
            let k = weight.shape[1]
            guard input.rank >= 1, input.shape.last == k else { throw ONNXShapeError(message: "input \(input.shape) does not end in \(k)") }
            let rows = input.count / k
            var y = linear(input.reshaped([rows, k]), weight: weight, bias: bias, activation: addend == nil ? activation : .none)
            y = y.reshaped(Array(input.shape.dropLast()) + [weight.shape[0]])
            if let addend { y = try onnxBroadcast(.add, y, addend) }
            return y
        case let .affine(scale, shift):
            guard a.rank >= 2, a.shape[1] == scale.count else { throw ONNXShapeError(message: "input \(a.shape) has not \(scale.count) channels") }
            return affine(a, scale: scale, shift: shift)
        case .unary(let u):
            return onnxUnary(u, a)
        case .binary(let op):
            return try onnxBroadcast(op, a, x[1])
        case .concat(let axis):
            return try onnxConcat(x, axis: axis)
        case .pool(let p):
            guard a.rank == 4 else { throw ONNXShapeError(message: "input \(a.shape) is not [N, C, H, W]") }
            return try onnxPool2d(a, p)
        case .globalPool(let isMax):
            guard a.rank == 4 else { throw ONNXShapeError(message: "input \(a.shape) is not [N, C, H, W]") }
            return (isMax ? globalMaxPool(a) : globalAvgPool(a)).reshaped([a.shape[0], a.shape[1], 1, 1])
        case .flatten(let axis):
            let ax = axis < 0 ? axis + a.rank : axis
            guard (0...a.rank).contains(ax) else { throw ONNXShapeError(message: "axis \(axis) is out of range for \(a.shape)") }
            let outer = a.shape[..<ax].reduce(1, *)
            return a.reshaped([outer, a.count / max(outer, 1)])
        case let .reshape(shape, allowZero):
            // Resolved for one image, as the graph was exported; a leading 1 then stands for the batch
            // (graphs where it does not are run image by image: ONNXNetwork.batchable).
            guard a.rank >= 1 else { return a.reshaped(try onnxReshapeTarget(shape, input: a.shape, allowZero: allowZero)) }
            let one = try onnxReshapeTarget(shape, input: [1] + a.shape.dropFirst(), allowZero: allowZero)
            if one.first == 1 { return a.reshaped([a.shape[0]] + one.dropFirst()) }
            return a.reshaped(try onnxReshapeTarget(shape, input: a.shape, allowZero: allowZero))
        case .squeeze(let axes):
            let list = try axes.map { list in try list.map { try onnxAxis($0, rank: a.rank) } } ?? a.shape.indices.filter { a.shape[$0] == 1 }
            guard list.allSatisfy({ a.shape[$0] == 1 }) else { throw ONNXShapeError(message: "cannot squeeze axes \(list) of \(a.shape)") }
            return a.reshaped(a.shape.indices.filter { !list.contains($0) }.map { a.shape[$0] })
        case .unsqueeze(let axes):
            let rank = a.rank + axes.count
            let list = try axes.map { try onnxAxis($0, rank: rank) }
            var dims = a.shape.makeIterator()
            return a.reshaped((0..<rank).map { list.contains($0) ? 1 : dims.next() ?? 1 })
        case .transpose(let perm):
            return try onnxTranspose(a, perm: perm ?? Array((0..<a.rank).reversed()))
        case let .lrn(size, alpha, beta, bias):
            guard a.rank >= 3 else { throw ONNXShapeError(message: "input \(a.shape) has no channel axis") }
            return onnxLRN(a, size: size, alpha: alpha, beta: beta, bias: bias)
        case let .softmax(axis, coerced):
            return try onnxSoftmax(a, axis: axis, coerced: coerced)
        case let .pad(pads, mode, value):
            return try onnxPad(a, pads: pads, mode: mode, value: value)
        case .identity:
            return a
        }
}

private func onnxAxis(_ axis: Int, rank: Int) throws -> Int {
    let ax = axis < 0 ? axis + rank : axis
    guard (0..<rank).contains(ax) else { throw ONNXShapeError(message: "axis \(axis) is out of range for rank \(rank)") }
    return ax
}

/// Reshape's target: 0 copies the input's dimension (unless allowzero), -1 takes what is left.
func onnxReshapeTarget(_ shape: [Int], input: [Int], allowZero: Bool) throws -> [Int] {
    var out = shape.enumerated().map { i, d in d == 0 && !allowZero && i < input.count ? input[i] : d }
    let total = input.reduce(1, *)
    if let free = out.firstIndex(of: -1) {
        let known = out.enumerated().filter { $0.offset != free }.map(\.element).reduce(1, *)
        guard known > 0, total % known == 0 else { throw ONNXShapeError(message: "cannot reshape \(input) to \(shape)") }
        out[free] = total / known
    }
    guard out.reduce(1, *) == total else { throw ONNXShapeError(message: "cannot reshape \(input) to \(shape)") }
    return out
}

func onnxUnary(_ u: ONNXUnary, _ x: Tensor) -> Tensor {
    var y = x
    y.data.withUnsafeMutableBufferPointer { p in
        switch u {
        case .relu: for i in p.indices { p[i] = max(p[i], 0) }
        case .sigmoid: for i in p.indices { p[i] = 1 / (1 + Foundation.exp(-p[i])) }
        case .tanh: for i in p.indices { p[i] = Foundation.tanh(p[i]) }
        case let .clip(lo, hi): for i in p.indices { p[i] = min(max(p[i], lo), hi) }
        case let .hardSigmoid(alpha, beta): for i in p.indices { p[i] = max(0, min(1, alpha * p[i] + beta)) }
        case .hardSwish: for i in p.indices { p[i] = p[i] * max(0, min(1, p[i] / 6 + 0.5)) }
        case .leakyRelu(let alpha): for i in p.indices { p[i] = p[i] >= 0 ? p[i] : alpha * p[i] }
        }
    }
    return y
}

/// a (op) b with numpy broadcasting. Same shapes and per-channel / per-(N, C) operands (a
/// squeeze-and-excitation gate [N, C, 1, 1] times [N, C, H, W]) run as plane loops; the rest by index.
func onnxBroadcast(_ op: ONNXBinary, _ a: Tensor, _ b: Tensor) throws -> Tensor {
    let rank = max(a.rank, b.rank)
    let sa = [Int](repeating: 1, count: rank - a.rank) + a.shape
    let sb = [Int](repeating: 1, count: rank - b.rank) + b.shape
    var shape = [Int]()
    for (p, q) in zip(sa, sb) {
        guard p == q || p == 1 || q == 1 else { throw ONNXShapeError(message: "shapes \(a.shape) and \(b.shape) do not broadcast") }
        shape.append(p == 1 ? q : p)
    }
    @inline(__always) func f(_ x: Float, _ y: Float) -> Float {
        switch op {
        case .add: return x + y
        case .sub: return x - y
        case .mul: return x * y
        case .div: return x / y
        }
    }
    if sa == sb {
        // A residual sum: Extract's add, split across the workers.
        if op == .add && a.shape == b.shape { return add(a, b) }
        return Tensor(shape: shape, data: zip(a.data, b.data).map { f($0, $1) })
    }
    // One operand constant over the trailing axes from some point: x[outer, inner] (op) y[outer'] per plane.
    if sa == shape, let split = planeSplit(sb, shape) {
        let inner = shape[split...].reduce(1, *)
        var out = a
        out.data.withUnsafeMutableBufferPointer { p in
            for o in 0..<(a.count / max(inner, 1)) {
                let v = b.data[planeIndex(o, shape: Array(shape[..<split]), operand: Array(sb[..<split]))]
                for i in o * inner..<(o + 1) * inner { p[i] = f(p[i], v) }
            }
        }
        return out
    }
    if sb == shape, let split = planeSplit(sa, shape) {
        let inner = shape[split...].reduce(1, *)
        var out = b
        out.data.withUnsafeMutableBufferPointer { p in
            for o in 0..<(b.count / max(inner, 1)) {
                let v = a.data[planeIndex(o, shape: Array(shape[..<split]), operand: Array(sa[..<split]))]
                for i in o * inner..<(o + 1) * inner { p[i] = f(v, p[i]) }
            }
        }
        return out
    }
    let count = shape.reduce(1, *)
    let ia = broadcastStrides(sa), ib = broadcastStrides(sb)
    var data = [Float](repeating: 0, count: count)
    var index = [Int](repeating: 0, count: rank)
    for i in 0..<count {
        var r = i, oa = 0, ob = 0
        for d in stride(from: rank - 1, through: 0, by: -1) {
            index[d] = r % shape[d]
            r /= shape[d]
            oa += index[d] * ia[d]
            ob += index[d] * ib[d]
        }
        data[i] = f(a.data[oa], b.data[ob])
    }
    return Tensor(shape: shape, data: data)
}

/// The first axis from which `operand` is all ones while the output is not: the operand is one
/// value per "plane" of the trailing axes.
private func planeSplit(_ operand: [Int], _ shape: [Int]) -> Int? {
    var split = operand.count
    while split > 0 && operand[split - 1] == 1 { split -= 1 }
    return split < operand.count ? split : nil
}

/// Index into the operand (broadcast over `operand`'s leading axes) of the plane `o` of `shape`.
private func planeIndex(_ o: Int, shape: [Int], operand: [Int]) -> Int {
    var r = o, index = 0, step = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
        let i = r % shape[d]
        r /= shape[d]
        if operand[d] != 1 { index += i * step }
        step *= operand[d]
    }
    return index
}

/// Row-major strides, 0 along broadcast (size-1) axes.
private func broadcastStrides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 0, count: shape.count), acc = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
        s[d] = shape[d] == 1 ? 0 : acc
        acc *= shape[d]
    }
    return s
}

func onnxConcat(_ xs: [Tensor], axis: Int) throws -> Tensor {
    let first = xs[0]
    let ax = try onnxAxis(axis, rank: first.rank)
    for t in xs where t.rank != first.rank || t.shape.enumerated().contains(where: { $0.offset != ax && $0.element != first.shape[$0.offset] }) {
        throw ONNXShapeError(message: "cannot concatenate \(first.shape) and \(t.shape) along axis \(axis)")
    }
    let outer = first.shape[..<ax].reduce(1, *)
    let inner = first.shape[(ax + 1)...].reduce(1, *)
    var shape = first.shape
    shape[ax] = xs.map { $0.shape[ax] }.reduce(0, +)
    var data = [Float]()
    data.reserveCapacity(shape.reduce(1, *))
    for o in 0..<outer {
        for t in xs {
            let n = t.shape[ax] * inner
            data.append(contentsOf: t.data[o * n..<(o + 1) * n])
        }
    }
    return Tensor(shape: shape, data: data)
}

func onnxTranspose(_ x: Tensor, perm: [Int]) throws -> Tensor {
    guard perm.sorted() == Array(0..<x.rank) else { throw ONNXShapeError(message: "perm \(perm) does not permute the axes of \(x.shape)") }
    let shape = perm.map { x.shape[$0] }
    var strides = [Int](repeating: 1, count: x.rank)
    for d in stride(from: x.rank - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * x.shape[d + 1] }
    let from = perm.map { strides[$0] }
    var data = [Float](repeating: 0, count: x.count)
    var index = [Int](repeating: 0, count: x.rank)
    for i in 0..<x.count {
        var r = i, src = 0
        for d in stride(from: x.rank - 1, through: 0, by: -1) {
            index[d] = r % shape[d]
            r /= shape[d]
            src += index[d] * from[d]
        }
        data[i] = x.data[src]
    }
    return Tensor(shape: shape, data: data)
}

/// ONNX LRN across channels: y = x / (bias + alpha / size * sum of x^2 over channels
/// c - floor((size-1)/2) ... c + ceil((size-1)/2))^beta.
func onnxLRN(_ x: Tensor, size: Int, alpha: Float, beta: Float, bias: Float) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1])
    let plane = x.count / max(n * c, 1)
    let before = (size - 1) / 2, after = size - 1 - before
    var y = x
    for img in 0..<n {
        for ch in 0..<c {
            let lo = max(0, ch - before), hi = min(c - 1, ch + after)
            for i in 0..<plane {
                var sum: Float = 0
                for k in lo...hi {
                    let v = x.data[(img * c + k) * plane + i]
                    sum += v * v
                }
                let at = (img * c + ch) * plane + i
                y.data[at] = x.data[at] / Foundation.pow(bias + alpha / Float(size) * sum, beta)
            }
        }
    }
    return y
}

/// Softmax along `axis`; `coerced` (opset < 13) flattens to [prod(dims < axis), prod(dims >= axis)] first.
func onnxSoftmax(_ x: Tensor, axis: Int, coerced: Bool) throws -> Tensor {
    let ax = try onnxAxis(axis, rank: x.rank)
    let outer = x.shape[..<ax].reduce(1, *)
    let (length, inner) = coerced ? (x.count / max(outer, 1), 1) : (x.shape[ax], x.shape[(ax + 1)...].reduce(1, *))
    var y = x
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * length * inner + i
            var m = -Float.infinity
            for k in 0..<length { m = max(m, x.data[base + k * inner]) }
            var sum: Float = 0
            for k in 0..<length {
                let e = Foundation.exp(x.data[base + k * inner] - m)
                y.data[base + k * inner] = e
                sum += e
            }
            for k in 0..<length { y.data[base + k * inner] /= sum }
        }
    }
    return y
}

/// ONNX Pad: pads = [x1_begin, x2_begin, ..., x1_end, x2_end] (negative crops); constant, reflect, edge or wrap.
func onnxPad(_ x: Tensor, pads: [Int], mode: ONNXPadMode, value: Float) throws -> Tensor {
    let r = x.rank
    guard pads.count == 2 * r else { throw ONNXShapeError(message: "pads \(pads) do not fit rank \(r)") }
    let shape = (0..<r).map { x.shape[$0] + pads[$0] + pads[$0 + r] }
    guard shape.allSatisfy({ $0 >= 0 }) else { throw ONNXShapeError(message: "pads \(pads) crop \(x.shape) below zero") }
    if mode == .reflect, x.shape.enumerated().contains(where: { $0.element < 2 && (pads[$0.offset] > 0 || pads[$0.offset + r] > 0) }) {
        throw ONNXShapeError(message: "reflect padding needs at least 2 values along each padded axis of \(x.shape)")
    }
    var strides = [Int](repeating: 1, count: r)
    for d in stride(from: r - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * x.shape[d + 1] }
    let count = shape.reduce(1, *)
    var data = [Float](repeating: value, count: count)
    for i in 0..<count {
        var rem = i, src = 0, inside = true
        for d in stride(from: r - 1, through: 0, by: -1) {
            let o = rem % shape[d]
            rem /= shape[d]
            var j = o - pads[d]
            let n = x.shape[d]
            if j < 0 || j >= n {
                switch mode {
                case .constant: inside = false
                case .edge: j = min(max(j, 0), n - 1)
                case .wrap: j = ((j % n) + n) % n
                case .reflect:
                    let period = 2 * (n - 1)
                    j = ((j % period) + period) % period
                    if j >= n { j = period - j }
                }
            }
            if !inside { break }
            src += j * strides[d]
        }
        if inside { data[i] = x.data[src] }
    }
    return Tensor(shape: shape, data: data)
}

/// Output length of a pooling window as onnxruntime computes it: floor or ceil, and in ceil mode the
/// last window must start inside the input or its leading padding (as PyTorch's pooling_output_shape).
func onnxPoolOutputSize(_ size: Int, kernel: Int, stride: Int, dilation: Int, begin: Int, end: Int, ceilMode: Bool) -> Int {
    let span = size + begin + end - ((kernel - 1) * dilation + 1)
    var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
    if ceilMode && (out - 1) * stride >= size + begin { out -= 1 }
    return out
}

/// MaxPool / AveragePool over [N, C, H, W]. Max: padding never wins. Average: divided by the window's
/// elements inside the input, or, with count_include_pad, inside the padded input (a window hanging
/// past the end padding in ceil mode is cut there, as onnxruntime and PyTorch do).
func onnxPool2d(_ x: Tensor, _ p: ONNXPool) throws -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (kh, kw) = p.kernel, (sh, sw) = p.strides, (dh, dw) = p.dilations
    let (top, bottom) = autoPadding(p.autoPad, size: h, kernel: (kh - 1) * dh + 1, stride: sh, begin: p.pads[0], end: p.pads[2])
    let (left, right) = autoPadding(p.autoPad, size: w, kernel: (kw - 1) * dw + 1, stride: sw, begin: p.pads[1], end: p.pads[3])
    let ceil = p.ceilMode && p.autoPad == "NOTSET"
    let oh = onnxPoolOutputSize(h, kernel: kh, stride: sh, dilation: dh, begin: top, end: bottom, ceilMode: ceil)
    let ow = onnxPoolOutputSize(w, kernel: kw, stride: sw, dilation: dw, begin: left, end: right, ceilMode: ceil)
    guard oh > 0, ow > 0 else { throw ONNXShapeError(message: "input \(x.shape) is smaller than the pooling window") }
    // The common square case runs on Extract's vectorised max pooling, whose output-size rule is the same.
    if p.max, kh == kw, sh == sw, dh == 1, dw == 1, top == left, top == bottom, top == right,
       poolOutputSize(h, kernel: kh, stride: sh, padding: top, ceilMode: ceil) == oh,
       poolOutputSize(w, kernel: kw, stride: sw, padding: left, ceilMode: ceil) == ow {
        return maxPool2d(x, kernel: kh, stride: sh, padding: top, ceilMode: ceil)
    }
    return Tensor(shape: [n, c, oh, ow]) { out in
        x.data.withUnsafeBufferPointer { xp in
            guard let base = xp.baseAddress else { return }
            parallelRanges(n * c) { planes in
                for plane in planes {
                    let src = base + plane * h * w
                    for y in 0..<oh {
                        let y0 = y * sh - top
                        for xo in 0..<ow {
                            let x0 = xo * sw - left
                            var acc: Float = p.max ? -.infinity : 0
                            var inside = 0
                            for i in 0..<kh {
                                let iy = y0 + i * dh
                                if iy < 0 || iy >= h { continue }
                                for j in 0..<kw {
                                    let ix = x0 + j * dw
                                    if ix < 0 || ix >= w { continue }
                                    let v = src[iy * w + ix]
                                    if p.max { acc = max(acc, v) } else { acc += v }
                                    inside += 1
                                }
                            }
                            if !p.max {
                                let divisor = p.countIncludePad
                                    ? (min(y0 + kh, h + bottom) - y0) * (min(x0 + kw, w + right) - x0)
                                    : inside
                                acc /= Float(max(divisor, 1))
                            }
                            out[(plane * oh + y) * ow + xo] = acc
                        }
                    }
                }
            }
        }
    }
}
