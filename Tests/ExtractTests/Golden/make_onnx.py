"""ONNX files for the ONNX runner's tests, with onnxruntime's outputs as the reference.

    python make_onnx.py OUT_DIR

Writes, from seeded random weights (deterministic):
  alexnet_style.onnx     opset 11: Conv 11x11/4, LRN, Caffe-style ceil-mode MaxPool (also padded), grouped
                         Conv, Flatten, Dropout, Gemm (transB=1; and transB=0 with alpha, beta), Softmax
  mobilenet_style.onnx   opset 14: Conv + BatchNormalization, HardSwish, depthwise Conv, squeeze-and-excitation
                         (GlobalAveragePool, Conv, Relu, HardSigmoid, Mul [N,C,1,1]), Add, Clip with min/max
                         inputs, Pad (reflect), auto_pad VALID and SAME_UPPER, per-channel Mul/Add constants,
                         Sigmoid, Concat, channel shuffle (Reshape, Transpose), AveragePool with
                         count_include_pad and ceil_mode, Constant, MatMul, Softmax (axis -1)
  legacy_style.onnx      opset 9: Clip with min/max attributes, Pad with attributes (edge), Softmax coerced
                         to 2-D on a 4-D input, Unsqueeze/Squeeze with axes attributes, auto_pad SAME_LOWER,
                         Reshape [1, -1], Gemm with C [1, N], and a Reshape to 1-D (no batch axis: run per image)
  extras_style.onnx      opset 19, input [N, 3, H, W] with symbolic H and W (tested at 24x24): dilated Conv with
                         asymmetric pads, dilated MaxPool, Tanh, LeakyRelu, Sub, Div, GlobalMaxPool, Pad (wrap,
                         and axes input), Softmax along axis 1 of a 4-D tensor, Squeeze/Unsqueeze with axes
                         inputs, Gemm with transA; a float16 and a float64 initializer (Cast to float), weights in an
                         external data file (extras_style.weights)
  slashed.onnx           tensors named as torch.onnx.export names them (/stem/conv/Conv_output_0, ...)
  unsupported_lstm.onnx  a graph with an LSTM node (`rnn_1`): the runner must refuse it by name
  unsupported_custom.onnx  a graph with a made-up operator (com.example.FancyConv, node `fancy`)
  efficientnet_lite0.onnx  when the real weights are in .cache/weights (scripts/fetch-assets): EfficientNet-Lite0
                         with its real ImageNet weights, as make_models.py's graph builder writes it (opset 17,
                         input [N, 3, 224, 224]), tensors named as the built-in model's layers where tapped
                         (stem, _blocks.N, head, avgpool, _fc); PipelineTests compares `extract --onnx` with it
                         against `extract --model efficientnet_lite0` on real images
and for each runnable file <name>.golden.safetensors: `input` ([2, 3, H, W]) and, per tap, the
reference output of that tensor name. Images are independent: the reference runs one image at a
time (a Reshape to [1, -1] means one row per image) and stacks the results.
Tolerance used by ONNXGoldenTests: max |ours - reference| <= 1e-4 * max |reference|.
"""
import os, sys
import numpy as np
import onnx, onnxruntime as ort
from onnx import helper, numpy_helper, TensorProto
from safetensors.numpy import save_file

rng = np.random.default_rng(20261122)


class G:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def w(self, name, shape, fan_in=None, scale=None):
        fan_in = fan_in or int(np.prod(shape[1:]))
        v = rng.normal(0, scale if scale is not None else np.sqrt(2.0 / fan_in), shape).astype(np.float32)
        self.inits.append(numpy_helper.from_array(v, name))
        return name

    def c(self, name, value, dtype=np.float32):
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, op, inputs, out=None, name=None, **attrs):
        self.n += 1
        out = out or f"{op.lower()}_{self.n}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name or f"{op}_{self.n}", **attrs))
        return out

    def conv(self, x, cin, cout, k, out=None, bias=True, group=1, **attrs):
        key = out or f"conv{self.n + 1}"
        ins = [x, self.w(key + ".w", [cout, cin // group, k, k])]
        if bias:
            ins.append(self.w(key + ".b", [cout], scale=0.1))
        return self.op("Conv", ins, out=out, kernel_shape=[k, k], group=group, **attrs)

    def bn(self, x, c, out=None):
        key = out or f"bn{self.n + 1}"
        p = [self.c(key + ".gamma", rng.uniform(0.5, 1.5, c)), self.c(key + ".beta", rng.normal(0, 0.2, c)),
             self.c(key + ".mean", rng.normal(0, 0.2, c)), self.c(key + ".var", rng.uniform(0.5, 2.0, c))]
        return self.op("BatchNormalization", [x] + p, out=out, epsilon=1e-3)

    def model(self, inp, shape, outputs, opset):
        g = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info(inp, TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 7
        return m


def alexnet_style():
    g = G()
    x = g.conv("data", 3, 16, 11, out="conv1", strides=[4, 4], pads=[2, 2, 2, 2])
    x = g.op("Relu", [x], out="relu1")
    x = g.op("LRN", [x], out="norm1", size=5, alpha=0.01, beta=0.75, bias=2.0)
    x = g.op("MaxPool", [x], out="pool1", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    x = g.conv(x, 16, 24, 5, out="conv2", pads=[2, 2, 2, 2], group=2)
    x = g.op("Relu", [x], out="relu2")
    x = g.op("LRN", [x], out="norm2", size=3, alpha=0.02, beta=0.75, bias=1.0)
    x = g.op("MaxPool", [x], out="pool2", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    x = g.conv(x, 24, 32, 3, out="conv3", pads=[1, 1, 1, 1])
    x = g.op("Relu", [x], out="relu3")
    x = g.op("MaxPool", [x], out="pool5", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
    x = g.op("Flatten", [x], out="flatten")
    x = g.op("Dropout", [x], out="drop6", ratio=0.5)
    x = g.op("Gemm", [x, g.w("fc6.w", [40, 32 * 3 * 3]), g.w("fc6.b", [40], scale=0.1)], out="fc6", transB=1)
    x = g.op("Relu", [x], out="relu6")
    x = g.op("Dropout", [x], out="drop7")
    x = g.op("Gemm", [x, g.w("fc7.w", [40, 10], fan_in=40), g.w("fc7.b", [10], scale=0.1)], out="fc7", alpha=0.5, beta=2.0)
    x = g.op("Softmax", [x], out="prob")
    m = g.model("data", [1, 3, 67, 67], ["prob"], 11)
    return m, ["conv1", "norm1", "pool1", "conv2", "norm2", "pool2", "pool5", "flatten", "fc6", "relu6", "fc7", "prob"]


def mobilenet_style():
    g = G()
    stem = g.conv("input", 3, 16, 3, out="stem.conv", bias=False, strides=[2, 2], pads=[1, 1, 1, 1])
    stem = g.bn(stem, 16, out="stem.bn")
    stem = g.op("HardSwish", [stem], out="stem")                                      # [16, 20, 20]
    x = g.conv(stem, 16, 16, 3, out="b1.dw", bias=False, group=16, pads=[1, 1, 1, 1])
    x = g.bn(x, 16, out="b1.dw.bn")
    x = g.op("Relu", [x], out="b1.dw.relu")
    s = g.op("GlobalAveragePool", [x], out="b1.se.pool")
    s = g.conv(s, 16, 8, 1, out="b1.se.fc1")
    s = g.op("Relu", [s], out="b1.se.relu")
    s = g.conv(s, 8, 16, 1, out="b1.se.fc2")
    s = g.op("HardSigmoid", [s], out="b1.se.gate", alpha=1.0 / 6, beta=0.5)
    x = g.op("Mul", [x, s], out="b1.se")
    x = g.conv(x, 16, 16, 1, out="b1.project", bias=False)
    x = g.bn(x, 16, out="b1.project.bn")
    x = g.op("Add", [x, stem], out="b1")
    x = g.op("Clip", [x, g.c("zero", 0.0), g.c("six", 6.0)], out="b1.relu6")
    x = g.op("Pad", [x, g.c("pads", [0, 0, 1, 2, 0, 0, 2, 1], np.int64)], out="b2.pad", mode="reflect")
    x = g.conv(x, 16, 24, 3, out="b2.conv", strides=[2, 2], auto_pad="VALID")              # [24, 10, 10]
    x = g.conv(x, 24, 24, 5, out="b2.dw", group=24, strides=[2, 2], auto_pad="SAME_UPPER")  # [24, 6, 6]
    x = g.op("Mul", [x, g.c("b2.scale", rng.uniform(0.5, 1.5, (24, 1, 1)))], out="b2.scaled")
    x = g.op("Add", [x, g.c("b2.shift", rng.normal(0, 0.2, (1, 24, 1, 1)))], out="b2.shifted")
    y = g.op("Sigmoid", [x], out="b2.sigmoid")
    x = g.op("Concat", [x, y], out="b2.cat", axis=1)                                      # [48, 6, 6]
    x = g.op("Reshape", [x, g.c("shuffle.shape", [1, 2, 24, 6, 6], np.int64)], out="shuffle.split")
    x = g.op("Transpose", [x], out="shuffle.t", perm=[0, 2, 1, 3, 4])
    x = g.op("Reshape", [x, g.c("shuffle.back", [1, 48, 6, 6], np.int64)], out="shuffle")
    x = g.op("AveragePool", [x], out="pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
             count_include_pad=1, ceil_mode=1)                                            # [48, 4, 4]
    x = g.op("AveragePool", [x], out="pool.exclude", kernel_shape=[2, 2], strides=[1, 1], pads=[1, 1, 0, 0])
    x = g.op("GlobalAveragePool", [x], out="gap")
    g.nodes.append(helper.make_node("Constant", [], ["flat.shape"], name="flat_shape",
                                    value=numpy_helper.from_array(np.array([0, -1], np.int64))))
    x = g.op("Reshape", [x, "flat.shape"], out="features")
    x = g.op("MatMul", [x, g.w("head.w", [48, 10], fan_in=48)], out="head.matmul")
    x = g.op("Add", [x, g.c("head.b", rng.normal(0, 0.1, 10))], out="logits")
    x = g.op("Softmax", [x], out="prob", axis=-1)
    m = g.model("input", [1, 3, 40, 40], ["prob"], 14)
    return m, ["stem.conv", "stem.bn", "stem", "b1.dw.relu", "b1.se.pool", "b1.se.gate", "b1.se", "b1.project.bn", "b1",
               "b1.relu6", "b2.pad", "b2.conv", "b2.dw", "b2.shifted", "b2.cat", "shuffle.t", "shuffle", "pool",
               "pool.exclude", "features", "logits", "prob"]


def legacy_style():
    g = G()
    x = g.conv("image", 3, 8, 3, out="conv", strides=[2, 2], auto_pad="SAME_LOWER")     # [8, 16, 16]
    x = g.op("Clip", [x], out="clip", min=-1.0, max=1.5)
    x = g.op("Pad", [x], out="pad", pads=[0, 0, 2, 1, 0, 0, 1, 2], mode="edge")
    x = g.op("MaxPool", [x], out="pool", kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 0, 1])
    x = g.op("Softmax", [x], out="softmax", axis=1)
    x = g.op("Reshape", [x, g.c("flat.shape", [1, -1], np.int64)], out="flat")
    x = g.op("Gemm", [x, g.w("fc.w", [8 * 9 * 19, 12], fan_in=8 * 9 * 19, scale=5.0), g.c("fc.b", rng.normal(0, 0.1, (1, 12)))],
             out="fc")
    x = g.op("Unsqueeze", [x], out="unsq", axes=[2, 3])
    x = g.op("Squeeze", [x], out="sq", axes=[3])
    x = g.op("Reshape", [x, g.c("vec.shape", [-1], np.int64)], out="vec")   # 1-D: no batch axis left, run image by image
    m = g.model("image", [1, 3, 32, 32], ["vec"], 9)
    return m, ["conv", "clip", "pad", "pool", "softmax", "flat", "fc", "unsq", "sq", "vec"]


def extras_style():
    g = G()
    x = g.conv("x", 3, 6, 3, out="dilated", dilations=[2, 2], pads=[2, 1, 1, 2])                  # [6, 23, 23]
    x = g.op("MaxPool", [x], out="dpool", kernel_shape=[2, 2], strides=[2, 2], dilations=[2, 2])  # [6, 11, 11]
    t = g.op("Tanh", [x], out="tanh")
    l = g.op("LeakyRelu", [x], out="leaky", alpha=0.2)
    x = g.op("Sub", [t, l], out="sub")
    g.inits.append(numpy_helper.from_array(rng.uniform(1, 2, (6, 1, 1)).astype(np.float16), "half"))
    x = g.op("Div", [x, g.op("Cast", ["half"], out="half.f32", to=TensorProto.FLOAT)], out="div")
    x = g.op("Pad", [x, g.c("pads2", [1, 2, 2, 1], np.int64), "", g.c("axes2", [2, 3], np.int64)], out="wrap", mode="wrap")
    x = g.op("Softmax", [x], out="softmax1", axis=1)
    x = g.op("Mul", [x, g.op("Cast", [g.c("big", rng.uniform(5, 10, (1, 6, 1, 1)), np.float64)], to=TensorProto.FLOAT)], out="scaled")
    x = g.op("GlobalMaxPool", [x], out="gmax")
    x = g.op("Squeeze", [x, g.c("sq.axes", [2, 3], np.int64)], out="sq")                       # [N, 6]
    x = g.op("Unsqueeze", [x, g.c("unsq.axes", [1], np.int64)], out="unsq")                    # [N, 1, 6]
    x = g.op("Reshape", [x, g.c("back", [0, 6], np.int64)], out="rows")
    x = g.op("Transpose", [x], out="cols", perm=[1, 0])                                         # [6, N]: per image
    x = g.op("Gemm", [x, g.w("g.w", [6, 4], fan_in=6)], out="gemm", transA=1)
    m = g.model("x", [1, 3, "H", "W"], ["gemm"], 19)
    return m, ["dilated", "dpool", "tanh", "leaky", "sub", "div", "wrap", "softmax1", "scaled", "gmax", "sq", "unsq", "rows",
               "cols", "gemm"]


def slashed():
    g = G()
    x = g.conv("input", 3, 8, 3, out="/stem/conv/Conv_output_0", pads=[1, 1, 1, 1])
    x = g.op("Relu", [x], out="/stem/relu/Relu_output_0")
    x = g.op("GlobalAveragePool", [x], out="/pool/GlobalAveragePool_output_0")
    x = g.op("Flatten", [x], out="output")
    return g.model("input", [1, 3, 32, 32], ["output"], 13)


def unsupported():
    g = G()
    x = g.conv("input", 3, 4, 3, out="conv")
    x = g.op("Reshape", [x, g.c("shape", [1, 4, -1], np.int64)], out="seq")
    hidden = 5
    lstm = helper.make_node("LSTM", [x, g.w("W", [1, 4 * hidden, 30 * 30]), g.w("R", [1, 4 * hidden, hidden])], ["y"],
                            name="rnn_1", hidden_size=hidden)
    g.nodes.append(lstm)
    m1 = g.model("input", [1, 3, 32, 32], ["y"], 13)
    g2 = G()
    x = g2.conv("input", 3, 4, 3, out="conv")
    g2.nodes.append(helper.make_node("FancyConv", [x], ["fancy_out"], name="fancy", domain="com.example"))
    m2 = helper.make_model(helper.make_graph(g2.nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
                                             [helper.make_tensor_value_info("fancy_out", TensorProto.FLOAT, None)], g2.inits),
                           opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)])
    return m1, m2


def reference(model, taps, x):
    """onnxruntime's value of every tap, image by image, stacked."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.output[:]
    for t in taps:
        m.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    name = model.graph.input[0].name
    per_image = [sess.run(taps, {name: x[i:i + 1]}) for i in range(x.shape[0])]
    return {t: np.concatenate([outs[j] for outs in per_image], axis=0) for j, t in enumerate(taps)}


def efficientnet_lite0_real(out):
    """make_models.py's EfficientNet-Lite0 graph with the real weights, its tapped tensors renamed to the taps."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(os.path.join(here, "..", "..", ".."))
    path = os.path.join(root, ".cache", "weights", "efficientnet-lite0-57934424.pth")
    if not os.path.exists(path):
        print(f"make_onnx: {path} missing (scripts/fetch-assets); efficientnet_lite0.onnx not written", file=sys.stderr)
        return
    sys.path.insert(0, here)
    import make_checkpoints, make_models
    weights = {k: v.astype(np.float32) for k, (_, v) in make_checkpoints.read_legacy(path).items()}
    sd, build = make_models.efficientnet_lite0(224, weights)
    g = make_models.Graph(sd)
    build(g)
    rename = {tensor: tap for tap, tensor in g.named.items()}
    for node in g.nodes:
        node.input[:] = [rename.get(i, i) for i in node.input]
        node.output[:] = [rename.get(o, o) for o in node.output]
    graph = helper.make_graph(g.nodes, "efficientnet_lite0",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
                              [helper.make_tensor_value_info("_fc", TensorProto.FLOAT, None)], list(g.inits.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, os.path.join(out, "efficientnet_lite0.onnx"))
    print("make_onnx: efficientnet_lite0 with its real weights", file=sys.stderr)


def main(out):
    os.makedirs(out, exist_ok=True)
    for name, build in [("alexnet_style", alexnet_style), ("mobilenet_style", mobilenet_style), ("legacy_style", legacy_style),
                        ("extras_style", extras_style)]:
        model, taps = build()
        if name == "extras_style":
            onnx.save(model, os.path.join(out, name + ".onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                      location=name + ".weights", size_threshold=64)
            model = onnx.load(os.path.join(out, name + ".onnx"))
        else:
            onnx.save(model, os.path.join(out, name + ".onnx"))
        dims = [d.dim_value or 24 for d in model.graph.input[0].type.tensor_type.shape.dim]
        x = rng.normal(0, 1, (2, 3, dims[2], dims[3])).astype(np.float32)
        ref = reference(model, taps, x)
        save_file({"input": x, **{t: np.ascontiguousarray(v) for t, v in ref.items()}}, os.path.join(out, name + ".golden.safetensors"))
        print(f"make_onnx: {name}: {len(taps)} taps", file=sys.stderr)
    m1, m2 = unsupported()
    onnx.save(m1, os.path.join(out, "unsupported_lstm.onnx"))
    onnx.save(m2, os.path.join(out, "unsupported_custom.onnx"))
    onnx.save(slashed(), os.path.join(out, "slashed.onnx"))
    efficientnet_lite0_real(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".fixtures/onnx")
