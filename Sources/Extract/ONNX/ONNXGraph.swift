// An ONNX model as a list of steps the runner executes, built and checked in full when the file is
// loaded: every operator, attribute and constant input is validated here, before any image is read.
// Operator semantics follow onnx/onnx's docs/Operators.md at the model's opset.
import Foundation
import SwiftProtobuf

/// One node, ready to run: its runtime inputs and outputs by tensor name and its parsed operator.
struct ONNXStep {
    /// "node `name` (OpType)", for messages.
    let label: String
    let opType: String
    var inputs: [String]
    var outputs: [String]
    var kernel: ONNXKernel
    /// Outputs of steps fused into this one (a Conv's own output before its folded BatchNormalization,
    /// a pre-activation before a fused Relu), in order: listed with this step's shape, never computed.
    var fusedNames: [String] = []
}

/// The operators the runner implements, with their attributes resolved.
enum ONNXKernel {
    case conv(ONNXConv)
    /// Gemm or MatMul with a constant right operand: y = x W^T + bias (+ addend, broadcast), x: [..., K].
    case linear(weight: Tensor, bias: [Float]?, addend: Tensor?, transposeInput: Bool, activation: Activation)
    /// BatchNormalization at inference, per channel (axis 1).
    case affine(scale: [Float], shift: [Float])
    case unary(ONNXUnary)
    case binary(ONNXBinary)
    case concat(axis: Int)
    case pool(ONNXPool)
    case globalPool(max: Bool)
    case flatten(axis: Int)
    case reshape(shape: [Int], allowZero: Bool)
    case squeeze(axes: [Int]?)
    case unsqueeze(axes: [Int])
    case transpose(perm: [Int]?)
    case lrn(size: Int, alpha: Float, beta: Float, bias: Float)
    case softmax(axis: Int, coerced: Bool)
    case pad(pads: [Int], mode: ONNXPadMode, value: Float)
    case identity
}

enum ONNXUnary { case relu, sigmoid, clip(Float, Float), hardSigmoid(alpha: Float, beta: Float), hardSwish, leakyRelu(Float), tanh }
enum ONNXBinary: String { case add = "Add", sub = "Sub", mul = "Mul", div = "Div" }
enum ONNXPadMode: String { case constant, reflect, edge, wrap }

/// Conv's attributes; the padding is resolved per input size (auto_pad).
final class ONNXConv {
    var weight: Tensor           // [O, C/groups, kH, kW]
    var bias: [Float]?
    let strides: (Int, Int), dilations: (Int, Int), groups: Int
    let pads: [Int]              // [top, left, bottom, right] when autoPad is NOTSET
    let autoPad: String
    /// A Relu or Clip(0, 6) that followed, fused into the output step.
    var activation: Activation = .none
    let derived = WeightCache()

    init(weight: Tensor, bias: [Float]?, strides: (Int, Int), dilations: (Int, Int), groups: Int, pads: [Int], autoPad: String) {
        self.weight = weight
        self.bias = bias
        self.strides = strides
        self.dilations = dilations
        self.groups = groups
        self.pads = pads
        self.autoPad = autoPad
    }

    func geometry(height: Int, width: Int) -> Conv2dGeometry {
        var g = Conv2dGeometry(kernel: 1, groups: groups)
        g.kernel = (weight.shape[2], weight.shape[3])
        g.stride = strides
        g.dilation = dilations
        let (top, bottom) = autoPadding(autoPad, size: height, kernel: (weight.shape[2] - 1) * dilations.0 + 1, stride: strides.0,
                                        begin: pads[0], end: pads[2])
        let (left, right) = autoPadding(autoPad, size: width, kernel: (weight.shape[3] - 1) * dilations.1 + 1, stride: strides.1,
                                        begin: pads[1], end: pads[3])
        g.padding = (top, left, bottom, right)
        return g
    }
}

/// MaxPool / AveragePool attributes.
struct ONNXPool {
    let max: Bool
    let kernel: (Int, Int), strides: (Int, Int), dilations: (Int, Int)
    let pads: [Int]             // [top, left, bottom, right]
    let autoPad: String
    let ceilMode: Bool
    let countIncludePad: Bool
}

/// Padding (begin, end) of one spatial axis: explicit pads, or auto_pad's SAME_UPPER / SAME_LOWER
/// (output ceil(size / stride), the odd pixel at the end or the beginning) or VALID (none).
func autoPadding(_ mode: String, size: Int, kernel: Int, stride: Int, begin: Int, end: Int) -> (Int, Int) {
    switch mode {
    case "SAME_UPPER", "SAME_LOWER":
        let out = (size + stride - 1) / stride
        let total = max((out - 1) * stride + kernel - size, 0)
        return mode == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
    case "VALID": return (0, 0)
    default: return (begin, end)
    }
}

/// A node's attributes, read with the type each one must have.
private struct Attributes {
    let file: String, label: String
    var map: [String: Onnx_AttributeProto] = [:]

    init(_ node: Onnx_NodeProto, file: String, label: String, known: Set<String>) throws {
        self.file = file
        self.label = label
        for a in node.attribute {
            guard known.contains(a.name) else {
                throw ONNXError(file, "\(label) has attribute `\(a.name)`, which this runner does not implement")
            }
            map[a.name] = a
        }
    }

    func fail(_ message: String) -> ONNXError { ONNXError(file, "\(label): \(message)") }

    func int(_ name: String, _ fallback: Int) throws -> Int {
        guard let a = map[name] else { return fallback }
        guard a.type == .int || a.hasI else { throw fail("attribute `\(name)` is not an int") }
        return Int(a.i)
    }
    func float(_ name: String, _ fallback: Float) throws -> Float {
        guard let a = map[name] else { return fallback }
        guard a.type == .float || a.hasF else { throw fail("attribute `\(name)` is not a float") }
        return a.f
    }
    func ints(_ name: String) throws -> [Int]? {
        guard let a = map[name] else { return nil }
        guard a.type == .ints || !a.ints.isEmpty else { throw fail("attribute `\(name)` is not a list of ints") }
        return a.ints.map { Int($0) }
    }
    func string(_ name: String, _ fallback: String) throws -> String {
        guard let a = map[name] else { return fallback }
        guard a.type == .string || a.hasS else { throw fail("attribute `\(name)` is not a string") }
        return String(decoding: a.s, as: UTF8.self)
    }
}

/// What ONNX's operators support; listed in the README. Anything else is refused at load.
let onnxOperators: Set<String> = [
    "Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish",
    "Tanh", "Add", "Sub", "Mul", "Div", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Flatten",
    "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Dropout", "Identity", "LRN", "Softmax", "Pad", "Constant", "Cast",
]

/// Parses the graph of `model` into steps in topological order, reading every constant.
/// Returns the steps, the float constants by name, the graph input's name and its declared shape (nil dims are symbolic).
func buildSteps(_ model: Onnx_ModelProto, file: String, directory: URL) throws
    -> (steps: [ONNXStep], constants: [String: ONNXConstant], input: String, inputShape: [Int?]) {
    let graph = model.graph
    let opset = Int(model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version ?? 0)
    guard opset > 0 else { throw ONNXError(file, "the model imports no version of the default ONNX operator set") }

    var constants: [String: ONNXConstant] = [:]
    for t in graph.initializer { constants[t.name] = try readTensor(t, file: file, directory: directory) }
    if let s = graph.sparseInitializer.first {
        throw ONNXError(file, "sparse initializer `\(s.values.name)` is not supported")
    }
    let inputs = graph.input.filter { constants[$0.name] == nil }
    guard inputs.count == 1, let input = inputs.first else {
        throw ONNXError(file, "the graph has \(inputs.count) inputs (\(inputs.map(\.name).joined(separator: ", "))); an image network has one")
    }
    let dims = input.type.tensorType.shape.dim.map { d -> Int? in
        if case .dimValue(let v)? = d.value, v > 0 { return Int(v) }
        return nil
    }
    guard input.type.tensorType.elemType == ONNXDataType.float.rawValue else {
        throw ONNXError(file, "graph input `\(input.name)` is not float32 (data type \(input.type.tensorType.elemType))")
    }
    guard dims.count == 4, dims[1] == 3 || dims[1] == nil else {
        throw ONNXError(file, "graph input `\(input.name)` has shape \(dims.map { $0.map(String.init) ?? "?" }); an image network takes [N, 3, H, W]")
    }

    // Topological order (Kahn's algorithm, stable in file order): valid files are sorted already,
    // but the IR only requires it, and a missing input is best reported by name.
    var available: Set<String> = Set(constants.keys).union([input.name, ""])
    var pending = Array(graph.node.enumerated())
    var ordered: [(Int, Onnx_NodeProto)] = []
    while !pending.isEmpty {
        var progressed = false
        var rest: [(Int, Onnx_NodeProto)] = []
        for (i, node) in pending {
            if node.input.allSatisfy({ available.contains($0) }) {
                ordered.append((i, node))
                node.output.forEach { available.insert($0) }
                progressed = true
            } else {
                rest.append((i, node))
            }
        }
        pending = rest
        if !progressed, let (i, node) = pending.first {
            let missing = node.input.first { !available.contains($0) } ?? ""
            throw ONNXError(file, "\(label(node, i)): input `\(missing)` is produced by no node, initializer or graph input (or the graph has a cycle)")
        }
    }

    // Every operator is checked before any is built, so the first unsupported one is reported, whatever its position.
    for (i, node) in ordered {
        if !(node.domain.isEmpty || node.domain == "ai.onnx") {
            throw ONNXError(file, "unsupported operator \(node.domain).\(node.opType) at \(label(node, i)); supported: \(onnxOperators.sorted().joined(separator: ", "))")
        }
        if !onnxOperators.contains(node.opType) {
            throw ONNXError(file, "unsupported operator \(node.opType) at \(label(node, i)); supported: \(onnxOperators.sorted().joined(separator: ", "))")
        }
    }

    var steps: [ONNXStep] = []
    for (i, node) in ordered {
        let name = label(node, i)
        if node.opType == "Constant" {
            let a = try Attributes(node, file: file, label: name, known: ["value", "value_float", "value_floats", "value_int", "value_ints"])
            let value: ONNXConstant
            if let t = a.map["value"] {
                value = try readTensor(t.t, file: file, directory: directory)
            } else if let f = a.map["value_float"] {
                value = ONNXConstant(shape: [], floats: [f.f], ints: nil)
            } else if let f = a.map["value_floats"] {
                value = ONNXConstant(shape: [f.floats.count], floats: f.floats, ints: nil)
            } else if let v = a.map["value_int"] {
                value = ONNXConstant(shape: [], floats: [Float(v.i)], ints: [Int(v.i)])
            } else if let v = a.map["value_ints"] {
                value = ONNXConstant(shape: [v.ints.count], floats: v.ints.map { Float($0) }, ints: v.ints.map { Int($0) })
            } else {
                throw ONNXError(file, "\(name) has none of the value attributes this runner reads (value, value_float(s), value_int(s))")
            }
            if let out = node.output.first { constants[out] = value }
            continue
        }
        let step = try parseNode(node, label: name, opset: opset, constants: constants, file: file)
        steps.append(step)
    }
    var computed = Set(constants.keys).union([input.name, ""])
    for s in steps {
        if let missing = s.inputs.first(where: { !computed.contains($0) }) {
            throw ONNXError(file, "\(s.label) reads `\(missing)`, an output that is not computed at inference (a mask, indices or training statistics)")
        }
        computed.formUnion(s.outputs)
    }
    return (steps, constants, input.name, dims)
}

private func label(_ node: Onnx_NodeProto, _ index: Int) -> String {
    node.name.isEmpty ? "node #\(index) (\(node.opType), output `\(node.output.first ?? "")`)" : "node `\(node.name)` (\(node.opType))"
}

/// One node's operator with its attributes and constant inputs resolved.
private func parseNode(_ node: Onnx_NodeProto, label: String, opset: Int, constants: [String: ONNXConstant], file: String) throws -> ONNXStep {
    let op = node.opType
    let ins = node.input
    func fail(_ m: String) -> ONNXError { ONNXError(file, "\(label): \(m)") }
    func constant(_ k: Int, _ what: String) throws -> ONNXConstant {
        guard k < ins.count, !ins[k].isEmpty else { throw fail("has no \(what) input") }
        guard let c = constants[ins[k]] else {
            throw fail("its \(what) `\(ins[k])` must be a constant (an initializer or a Constant node); computed \(what)s are not supported")
        }
        return c
    }
    func optionalConstant(_ k: Int, _ what: String) throws -> ONNXConstant? {
        guard k < ins.count, !ins[k].isEmpty else { return nil }
        return try constant(k, what)
    }
    func scalar(_ k: Int, _ what: String) throws -> Float? {
        guard let c = try optionalConstant(k, what) else { return nil }
        guard c.floats.count == 1 else { throw fail("its \(what) holds \(c.floats.count) values; a scalar is expected") }
        return c.floats[0]
    }
    guard !node.output.isEmpty, !(ins.first ?? "").isEmpty else { throw fail("has no data input or no output") }
    let data = [ins[0]]
    // Only the first output is computed (Dropout's mask, MaxPool's indices and BatchNormalization's
    // training statistics are not); buildSteps refuses a graph where anything reads the others.
    func step(_ kernel: ONNXKernel, inputs: [String]? = nil) throws -> ONNXStep {
        ONNXStep(label: label, opType: op, inputs: inputs ?? data, outputs: [node.output[0]], kernel: kernel)
    }
    func spatial(_ v: [Int]?, _ name: String, _ fallback: Int) throws -> (Int, Int) {
        guard let v else { return (fallback, fallback) }
        guard v.count == 2 else { throw fail("`\(name)` has \(v.count) values; only 2-D (NCHW) operators are supported") }
        return (v[0], v[1])
    }
    func pads4(_ a: Attributes) throws -> [Int] {
        let p = try a.ints("pads") ?? [0, 0, 0, 0]
        guard p.count == 4, p.allSatisfy({ $0 >= 0 }) else { throw fail("`pads` \(p) is not [top, left, bottom, right] of a 2-D operator") }
        return p
    }
    func autoPad(_ a: Attributes) throws -> String {
        let mode = try a.string("auto_pad", "NOTSET")
        guard ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].contains(mode) else { throw fail("auto_pad `\(mode)` is not an ONNX mode") }
        return mode
    }

    switch op {
    case "Conv":
        let a = try Attributes(node, file: file, label: label, known: ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])
        let w = try constant(1, "weight")
        guard w.shape.count == 4 else { throw fail("weight has shape \(w.shape); only 2-D convolutions ([O, C/group, kH, kW]) are supported") }
        if let k = try a.ints("kernel_shape"), k != Array(w.shape[2...]) { throw fail("kernel_shape \(k) differs from the weight's \(w.shape)") }
        let groups = try a.int("group", 1)
        let bias = try optionalConstant(2, "bias")
        guard groups >= 1, w.shape[0] % groups == 0 else { throw fail("group \(groups) does not divide the \(w.shape[0]) output channels") }
        if let bias, bias.floats.count != w.shape[0] { throw fail("bias has \(bias.floats.count) values for \(w.shape[0]) output channels") }
        let conv = ONNXConv(weight: w.tensor, bias: bias?.floats, strides: try spatial(a.ints("strides"), "strides", 1),
                            dilations: try spatial(a.ints("dilations"), "dilations", 1), groups: groups, pads: try pads4(a),
                            autoPad: try autoPad(a))
        return try step(.conv(conv))

    case "Gemm":
        let a = try Attributes(node, file: file, label: label, known: ["alpha", "beta", "transA", "transB", "broadcast"])
        let alpha = try a.float("alpha", 1), beta = try a.float("beta", 1)
        let transA = try a.int("transA", 0) != 0, transB = try a.int("transB", 0) != 0
        let b = try constant(1, "B")
        guard b.shape.count == 2 else { throw fail("B has shape \(b.shape); Gemm takes a matrix") }
        // W: [N, K] so that y = x W^T, as `linear` computes.
        var w = transB ? b.tensor : onnxTransposed2D(b.tensor)
        if alpha != 1 { w.data = w.data.map { $0 * alpha } }
        var bias: [Float]?, addend: Tensor?
        if let c = try optionalConstant(2, "C") {
            let n = w.shape[0]
            let scaled = c.floats.map { $0 * beta }
            if c.floats.count == n && (c.shape.count <= 1 || c.shape == [1, n]) {
                bias = scaled
            } else if c.floats.count == 1 {
                bias = [Float](repeating: scaled[0], count: n)
            } else {
                addend = Tensor(shape: c.shape, data: scaled)
            }
        }
        return try step(.linear(weight: w, bias: bias, addend: addend, transposeInput: transA, activation: .none))

    case "MatMul":
        _ = try Attributes(node, file: file, label: label, known: [])
        let b = try constant(1, "right operand")
        guard b.shape.count == 2 else { throw fail("the constant right operand has shape \(b.shape); only a matrix [K, N] is supported") }
        return try step(.linear(weight: onnxTransposed2D(b.tensor), bias: nil, addend: nil, transposeInput: false, activation: .none))

    case "BatchNormalization":
        let a = try Attributes(node, file: file, label: label, known: ["epsilon", "momentum", "spatial", "training_mode", "is_test", "consumed_inputs"])
        guard try a.int("training_mode", 0) == 0 else { throw fail("training_mode=1 is not inference") }
        guard try a.int("spatial", 1) == 1 else { throw fail("spatial=0 (per-activation statistics) is not supported") }
        let eps = Double(try a.float("epsilon", 1e-5))
        let gamma = try constant(1, "scale"), beta = try constant(2, "bias"), mean = try constant(3, "mean"), variance = try constant(4, "var")
        let c = gamma.floats.count
        guard [beta, mean, variance].allSatisfy({ $0.floats.count == c }) else { throw fail("scale, bias, mean and var differ in length") }
        let (scale, shift) = BatchNorm(weight: gamma.floats, bias: beta.floats, runningMean: mean.floats,
                                       runningVar: variance.floats, eps: eps).scaleAndShift
        return try step(.affine(scale: scale, shift: shift))

    case "Relu", "Sigmoid", "HardSwish", "Tanh":
        _ = try Attributes(node, file: file, label: label, known: opset < 6 ? ["consumed_inputs"] : [])
        let u: ONNXUnary = op == "Relu" ? .relu : op == "Sigmoid" ? .sigmoid : op == "Tanh" ? .tanh : .hardSwish
        return try step(.unary(u))
    case "LeakyRelu":
        let a = try Attributes(node, file: file, label: label, known: ["alpha"])
        return try step(.unary(.leakyRelu(try a.float("alpha", 0.01))))
    case "HardSigmoid":
        let a = try Attributes(node, file: file, label: label, known: ["alpha", "beta", "consumed_inputs"])
        return try step(.unary(.hardSigmoid(alpha: try a.float("alpha", 0.2), beta: try a.float("beta", 0.5))))
    case "Clip":
        // Opset < 11: min and max are attributes; from 11 they are optional scalar inputs.
        if opset < 11 {
            let a = try Attributes(node, file: file, label: label, known: ["min", "max", "consumed_inputs"])
            return try step(.unary(.clip(try a.float("min", -.greatestFiniteMagnitude), try a.float("max", .greatestFiniteMagnitude))))
        }
        _ = try Attributes(node, file: file, label: label, known: [])
        return try step(.unary(.clip(try scalar(1, "min") ?? -.infinity, try scalar(2, "max") ?? .infinity)))
    case "Dropout", "Identity":
        // Dropout at inference is the identity; its mask output is not computed.
        _ = try Attributes(node, file: file, label: label, known: op == "Dropout" ? ["ratio", "is_test", "seed", "consumed_inputs"] : [])
        if op == "Dropout", let t = try optionalConstant(2, "training_mode"), t.floats.first != 0 { throw fail("training_mode is true") }
        return try step(.identity)

    case "Cast":
        // Every value the runner holds is float32 already (float16 and float64 constants are read as float32).
        let a = try Attributes(node, file: file, label: label, known: ["to", "saturate", "round_mode"])
        guard try a.int("to", 0) == Int(ONNXDataType.float.rawValue) else {
            throw fail("casts to data type \(try a.int("to", 0)); only casts to float32 are supported")
        }
        return try step(.identity)

    case "Add", "Sub", "Mul", "Div":
        _ = try Attributes(node, file: file, label: label, known: opset < 7 ? ["axis", "broadcast", "consumed_inputs"] : [])
        guard ins.count == 2, !ins[1].isEmpty else { throw fail("takes two inputs") }
        if opset < 7, node.attribute.contains(where: { $0.name == "axis" }) {
            throw fail("legacy broadcasting with `axis` (opset < 7) is not supported")
        }
        return try step(.binary(ONNXBinary(rawValue: op) ?? .add), inputs: [ins[0], ins[1]])
    case "Concat":
        let a = try Attributes(node, file: file, label: label, known: ["axis"])
        guard a.map["axis"] != nil || opset < 4 else { throw fail("has no `axis`") }
        return try step(.concat(axis: try a.int("axis", 1)), inputs: ins.filter { !$0.isEmpty })

    case "MaxPool", "AveragePool":
        let max = op == "MaxPool"
        var known: Set<String> = ["auto_pad", "ceil_mode", "kernel_shape", "pads", "strides"]
        known.formUnion(max ? ["dilations", "storage_order"] : ["count_include_pad", "dilations"])
        let a = try Attributes(node, file: file, label: label, known: known)
        guard let k = try a.ints("kernel_shape") else { throw fail("has no kernel_shape") }
        let pool = ONNXPool(max: max, kernel: try spatial(k, "kernel_shape", 1), strides: try spatial(a.ints("strides"), "strides", 1),
                            dilations: try spatial(a.ints("dilations"), "dilations", 1), pads: try pads4(a), autoPad: try autoPad(a),
                            ceilMode: try a.int("ceil_mode", 0) != 0, countIncludePad: try a.int("count_include_pad", 0) != 0)
        if !max && pool.dilations != (1, 1) { throw fail("dilated average pooling is not supported") }
        return try step(.pool(pool))
    case "GlobalAveragePool", "GlobalMaxPool":
        _ = try Attributes(node, file: file, label: label, known: [])
        return try step(.globalPool(max: op == "GlobalMaxPool"))

    case "Flatten":
        let a = try Attributes(node, file: file, label: label, known: ["axis"])
        return try step(.flatten(axis: try a.int("axis", 1)))
    case "Reshape":
        let a = try Attributes(node, file: file, label: label, known: ["allowzero", "shape"])
        let shape: [Int]
        if opset < 5 {
            guard let s = try a.ints("shape") else { throw fail("has no `shape` attribute") }
            shape = s
        } else {
            guard let s = try constant(1, "shape").ints else { throw fail("its shape input is not an integer tensor") }
            shape = s
        }
        guard shape.filter({ $0 == -1 }).count <= 1, shape.allSatisfy({ $0 >= -1 }) else { throw fail("shape \(shape) is not a valid Reshape target") }
        return try step(.reshape(shape: shape, allowZero: try a.int("allowzero", 0) != 0))
    case "Squeeze", "Unsqueeze":
        let a = try Attributes(node, file: file, label: label, known: ["axes"])
        var axes = try a.ints("axes")
        if opset >= 13, let c = try optionalConstant(1, "axes") {
            guard let v = c.ints else { throw fail("its axes input is not an integer tensor") }
            axes = v
        }
        if op == "Squeeze" { return try step(.squeeze(axes: axes)) }
        guard let axes else { throw fail("has no axes") }
        return try step(.unsqueeze(axes: axes))
    case "Transpose":
        let a = try Attributes(node, file: file, label: label, known: ["perm"])
        return try step(.transpose(perm: try a.ints("perm")))
    case "LRN":
        let a = try Attributes(node, file: file, label: label, known: ["alpha", "beta", "bias", "size"])
        let size = try a.int("size", 0)
        guard size > 0 else { throw fail("needs a positive `size`") }
        return try step(.lrn(size: size, alpha: try a.float("alpha", 1e-4), beta: try a.float("beta", 0.75), bias: try a.float("bias", 1)))
    case "Softmax":
        // Before opset 13 the input is coerced to 2-D at `axis` (default 1); from 13 it is along `axis` (default -1).
        let a = try Attributes(node, file: file, label: label, known: ["axis"])
        return try step(.softmax(axis: try a.int("axis", opset < 13 ? 1 : -1), coerced: opset < 13))
    case "Pad":
        var pads: [Int], mode: String, value: Float
        if opset < 11 {
            let a = try Attributes(node, file: file, label: label, known: ["mode", "pads", "paddings", "value"])
            guard let p = try a.ints("pads") ?? a.ints("paddings") else { throw fail("has no pads") }
            pads = p
            mode = try a.string("mode", "constant")
            value = try a.float("value", 0)
        } else {
            let a = try Attributes(node, file: file, label: label, known: ["mode"])
            guard let p = try constant(1, "pads").ints else { throw fail("its pads input is not an integer tensor") }
            pads = p
            mode = try a.string("mode", "constant")
            value = try scalar(2, "constant_value") ?? 0
            if let axesConstant = try optionalConstant(3, "axes") {
                // Opset 18: pads for the listed axes only; spread to every axis of the 4-D input.
                guard let axes = axesConstant.ints, pads.count == 2 * axes.count else { throw fail("axes and pads do not match") }
                var full = [Int](repeating: 0, count: 8)
                for (j, axis) in axes.enumerated() {
                    let ax = axis < 0 ? axis + 4 : axis
                    guard (0..<4).contains(ax) else { throw fail("axis \(axis) is out of range for a 4-D input") }
                    full[ax] = pads[j]
                    full[ax + 4] = pads[j + axes.count]
                }
                pads = full
            }
        }
        guard let m = ONNXPadMode(rawValue: mode) else { throw fail("mode `\(mode)` is not constant, reflect, edge or wrap") }
        return try step(.pad(pads: pads, mode: m, value: value))
    default:
        throw ONNXError(file, "unsupported operator \(op) at \(label)")
    }
}

/// [R, C] -> [C, R].
func onnxTransposed2D(_ t: Tensor) -> Tensor {
    let (r, c) = (t.shape[0], t.shape[1])
    var out = Tensor(zeros: [c, r])
    for i in 0..<r { for j in 0..<c { out.data[j * r + i] = t.data[i * c + j] } }
    return out
}
