// An ONNX file as a Network: every tensor the graph computes is a tap, named as in the file. The
// graph is checked in full when loaded (operators, attributes, constant inputs, and shapes by one
// pass on a blank image at batch 1), so a bad file fails before any image is read.
import Foundation
import SwiftProtobuf

final class ONNXNetwork: Network {
    let file: String
    let inputName: String
    /// The graph input's declared [N, 3, H, W]; nil where a dimension is symbolic.
    let inputShape: [Int?]
    /// The graph's declared outputs, in order.
    let graphOutputs: [String]
    private(set) var steps: [ONNXStep]
    private let constants: [String: Tensor]
    /// Steps reading each tensor, so an intermediate is freed after its last reader.
    private var readers: [String: Int] = [:]
    /// Whether every step treats axis 0 as a batch of independent images; when not, images run one at a time.
    private(set) var batchable = true
    /// Tap names in forward order with their shapes for one image, per input size.
    private var listings: [[Int]: [(name: String, shape: [Int])]] = [:]

    /// Loads and checks `path`. BatchNormalization steps that directly follow a Conv are folded into
    /// it unless the Conv's own output is among `unfolded` (or read by anything else).
    init(path: String, unfolded: Set<String>) throws {
        file = path
        let url = URL(fileURLWithPath: path)
        let bytes: Data
        do { bytes = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw ONNXError(path, "cannot read the file: \(error.localizedDescription)")
        }
        let model: Onnx_ModelProto
        do { model = try Onnx_ModelProto(serializedBytes: bytes) } catch {
            throw ONNXError(path, "not an ONNX model (protobuf ModelProto): \(error)")
        }
        let built = try buildSteps(model, file: path, directory: url.deletingLastPathComponent())
        inputName = built.input
        inputShape = built.inputShape
        steps = built.steps
        constants = built.constants.mapValues(\.tensor)
        graphOutputs = model.graph.output.map(\.name)
        countReaders()
        let keep = unfolded.union(graphOutputs)
        foldBatchNorms(keeping: keep)
        countReaders()
        fuseActivations(keeping: keep)
        countReaders()
        let size = (inputShape[2] ?? 224, inputShape[3] ?? 224)
        _ = try listing(height: size.0, width: size.1)
    }

    /// Side of the square input the graph declares, when it declares one.
    var declaredInputSize: Int? {
        guard let h = inputShape[2], let w = inputShape[3], h == w else { return nil }
        return h
    }

    private func countReaders() {
        readers = [:]
        for s in steps { for i in s.inputs where constants[i] == nil { readers[i, default: 0] += 1 } }
    }

    private func foldBatchNorms(keeping: Set<String>) {
        var producer: [String: Int] = [:]
        for (i, s) in steps.enumerated() { for o in s.outputs { producer[o] = i } }
        var removed = Set<Int>()
        for (i, s) in steps.enumerated() {
            guard case let .affine(scale, shift) = s.kernel, let j = producer[s.inputs[0]], case .conv(let conv) = steps[j].kernel,
                  steps[j].outputs.count == 1, readers[s.inputs[0]] == 1, !keeping.contains(s.inputs[0]), !keeping.contains(onnxAlias(s.inputs[0])),
                  conv.weight.shape[0] == scale.count else { continue }
            let o = scale.count, per = conv.weight.count / o
            var bias = [Float](repeating: 0, count: o)
            for ch in 0..<o {
                for k in ch * per..<(ch + 1) * per { conv.weight.data[k] = conv.weight.data[k] * scale[ch] }
                bias[ch] = Float(Double(conv.bias?[ch] ?? 0) * Double(scale[ch]) + Double(shift[ch]))
            }
            conv.bias = bias
            steps[j].fusedNames.append(steps[j].outputs[0])
            steps[j].outputs = s.outputs
            removed.insert(i)
        }
        steps = steps.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// A Relu or Clip(0, 6) reading only a Conv's (or a Gemm's / MatMul's) output becomes that step's
    /// fused activation, unless the pre-activation tensor is kept (asked for, or a graph output).
    private func fuseActivations(keeping: Set<String>) {
        var producer: [String: Int] = [:]
        for (i, s) in steps.enumerated() { for o in s.outputs { producer[o] = i } }
        var removed = Set<Int>()
        for (i, s) in steps.enumerated() {
            guard case .unary(let u) = s.kernel, let j = producer[s.inputs[0]], readers[s.inputs[0]] == 1,
                  !keeping.contains(s.inputs[0]), !keeping.contains(onnxAlias(s.inputs[0])), steps[j].outputs.count == 1 else { continue }
            let activation: Activation
            switch u {
            case .relu: activation = .relu
            case .clip(let lo, let hi) where lo == 0 && hi == 6: activation = .relu6
            default: continue
            }
            switch steps[j].kernel {
            case .conv(let conv) where conv.activation == .none:
                conv.activation = activation
            case let .linear(w, b, nil, t, .none):
                steps[j].kernel = .linear(weight: w, bias: b, addend: nil, transposeInput: t, activation: activation)
            default: continue
            }
            steps[j].fusedNames.append(steps[j].outputs[0])
            steps[j].outputs = s.outputs
            removed.insert(i)
        }
        steps = steps.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    func layers(height: Int, width: Int) throws -> [(name: String, shape: [Int])] {
        try listing(height: height, width: width)
    }

    private func listing(height: Int, width: Int) throws -> [(name: String, shape: [Int])] {
        if let l = listings[[height, width]] { return l }
        var rows: [(name: String, shape: [Int])] = [(inputName, [3, height, width])]
        var batchSafe = true
        _ = try evaluate(Tensor(zeros: [1, 3, height, width]), wanted: nil) { step, inputs, output in
            let shape = Array(output.shape.dropFirst())
            for name in step.fusedNames { rows.append((name, shape)) }
            rows.append((step.outputs[0], shape))
            if !self.keepsBatch(step, inputs: inputs.map(\.shape), output: output.shape) { batchSafe = false }
        }
        batchable = batchable && batchSafe
        listings[[height, width]] = rows
        return rows
    }

    /// Whether running `step` on a batch equals running it image by image, judged from its shapes at batch 1.
    private func keepsBatch(_ step: ONNXStep, inputs: [[Int]], output: [Int]) -> Bool {
        guard output.first == 1, inputs.first?.first == 1 else { return false }
        switch step.kernel {
        case .flatten(let axis): return axis != 0 && axis != -inputs[0].count
        case .squeeze(let axes): return axes.map { !$0.contains { $0 == 0 || $0 == -inputs[0].count } } ?? false
        case .unsqueeze(let axes): return !axes.contains { $0 == 0 || $0 == -output.count }
        case .transpose(let perm): return perm?.first == 0
        case .concat(let axis): return axis != 0 && axis != -output.count
        case .softmax(let axis, _): return axis != 0 && axis != -inputs[0].count
        case let .linear(_, _, _, transposeInput, _): return !transposeInput && inputs[0].count >= 2
        case .pad(let pads, _, _): return pads.count == 2 * inputs[0].count && pads[0] == 0 && pads[inputs[0].count] == 0
        case .binary: return output.count == step.inputs.indices.filter { constants[step.inputs[$0]] == nil }.map { inputs[$0].count }.max()
        default: return true
        }
    }

    /// Runs the graph on x: [N, 3, H, W], handing every computed tensor to `taps`; stops when the taps have all they want.
    func forward(_ x: Tensor, _ taps: Taps) throws {
        if taps.listing {
            for row in try listing(height: x.shape[2], width: x.shape[3]) { try taps.emit(row.name, Tensor(zeros: [1] + row.shape)) }
            return
        }
        _ = try listing(height: x.shape[2], width: x.shape[3])
        let wanted = taps.wanted
        if wanted.contains(inputName) { try taps.emit(inputName, x) }
        if x.shape[0] == 1 || batchable {
            let outs = try evaluate(x, wanted: wanted)
            for s in steps { for o in s.outputs { if let t = outs[o] { try taps.emit(o, t) } } }
            return
        }
        // Image by image, the taps concatenated along axis 0.
        var parts: [String: [Tensor]] = [:]
        let per = x.count / x.shape[0]
        for i in 0..<x.shape[0] {
            let xi = Tensor(shape: [1] + x.shape.dropFirst(), data: Array(x.data[i * per..<(i + 1) * per]))
            for (name, t) in try evaluate(xi, wanted: wanted) { parts[name, default: []].append(t) }
        }
        for s in steps {
            for o in s.outputs {
                guard let ts = parts[o] else { continue }
                try taps.emit(o, Tensor(shape: [ts.count * ts[0].shape[0]] + ts[0].shape.dropFirst(), data: ts.flatMap(\.data)))
            }
        }
    }

    /// Runs the steps in order until every tensor in `wanted` is computed (all steps when nil), returning
    /// the wanted ones; `observe` sees every step's inputs and output.
    private func evaluate(_ x: Tensor, wanted: Set<String>?,
                          observe: ((ONNXStep, [Tensor], Tensor) -> Void)? = nil) throws -> [String: Tensor] {
        var values: [String: Tensor] = [inputName: x]
        var left = readers
        var result: [String: Tensor] = [:]
        var missing = wanted.map { $0.subtracting([inputName]) }
        for step in steps {
            if let m = missing, m.isEmpty { break }
            let inputs = try step.inputs.map { name -> Tensor in
                if let v = values[name] ?? constants[name] { return v }
                throw ONNXError(file, "\(step.label): input `\(name)` has no value")
            }
            let y: Tensor
            do { y = try run(step.kernel, inputs) } catch let e as ONNXShapeError {
                throw ONNXError(file, "\(step.label): \(e.message) (inputs \(inputs.map(\.shape)))")
            }
            observe?(step, inputs, y)
            for name in step.inputs where constants[name] == nil {
                left[name, default: 1] -= 1
                if left[name] == 0 { values[name] = nil }
            }
            let name = step.outputs[0]
            if (left[name] ?? 0) > 0 { values[name] = y }
            if let w = wanted, w.contains(name) {
                result[name] = y
                missing?.remove(name)
            }
        }
        return result
    }
}
