"""Golden outputs for every architecture, from an independent reference: onnxruntime running
ONNX graphs built here with onnx.helper from the same random weights (torchvision's and
efficientnet-lite-pytorch's state_dict keys), on random inputs.

    python make_models.py OUT_DIR [ARCH ...]

For each architecture writes OUT_DIR/<arch>.safetensors (the weights, read by the Swift tests as a
checkpoint) and OUT_DIR/<arch>.golden.safetensors holding `input@<size>` ([N, 3, size, size]) and
`<node>@<size>` (the reference output of that node), at the native size (224, Inception v3's 299)
and a second size (an entry of ARCHS may give None to skip it, should a network make tests slow).
Weights run to hundreds of MB, so this runs at test set-up (scripts/test) instead of being
committed; it is deterministic (seeded).
Tolerance used by ModelGoldenTests: max |ours - reference| <= 1e-4 * max |reference|.
"""
import os, re, sys
import numpy as np
import onnx, onnxruntime as ort
from onnx import helper, numpy_helper, TensorProto
from safetensors.numpy import save_file


class Graph:
    """A tiny ONNX graph builder; each method returns the name of its output tensor."""
    def __init__(self, sd):
        self.sd, self.nodes, self.inits, self.count, self.named = sd, [], {}, 0, {}

    def const(self, name, value):
        if name not in self.inits:
            self.inits[name] = numpy_helper.from_array(np.asarray(value, np.float32), name)
        return name

    def node(self, op, inputs, name=None, **attrs):
        self.count += 1
        out = name or f"{op.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x, key, stride=1, pads=(0, 0, 0, 0), groups=1):
        """pads = (top, left, bottom, right) -> ONNX order (top, left, bottom, right) = x1_begin, x2_begin, x1_end, x2_end."""
        w = self.sd[key + ".weight"]
        ins = [x, self.const(key + ".weight", w)]
        if key + ".bias" in self.sd:
            ins.append(self.const(key + ".bias", self.sd[key + ".bias"]))
        return self.node("Conv", ins, kernel_shape=list(w.shape[2:]), strides=[stride, stride],
                         pads=[pads[0], pads[1], pads[2], pads[3]], group=groups)

    def bn(self, x, key, eps=1e-5):
        p = [self.const(f"{key}.{n}", self.sd[f"{key}.{n}"]) for n in ("weight", "bias", "running_mean", "running_var")]
        return self.node("BatchNormalization", [x] + p, epsilon=eps)

    def relu(self, x): return self.node("Relu", [x])

    def relu6(self, x):
        return self.node("Clip", [x, self.const("zero", 0.0), self.const("six", 6.0)])

    def maxpool(self, x, k, s, p=0, ceil=False):
        return self.node("MaxPool", [x], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, ceil_mode=int(ceil))

    def avgpool(self, x, k, s, p=0, count_include_pad=True):
        return self.node("AveragePool", [x], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4,
                         count_include_pad=int(count_include_pad))

    def hardswish(self, x): return self.node("HardSwish", [x])
    # ONNX's HardSigmoid defaults to alpha 0.2; torch's is relu6(x + 3) / 6.
    def hardsigmoid(self, x): return self.node("HardSigmoid", [x], alpha=1.0 / 6, beta=0.5)
    def mul(self, a, b): return self.node("Mul", [a, b])
    def concat(self, xs): return self.node("Concat", list(xs), axis=1)

    def split(self, x, parts):
        """x.chunk(len(parts)) on the channels: ONNX Split with the part sizes."""
        outs = [f"split_{self.count + 1}_{i}" for i in range(len(parts))]
        self.count += 1
        self.nodes.append(helper.make_node("Split", [x, self.const_i64(f"split{parts}", parts)], outs, axis=1))
        return outs

    def const_i64(self, name, value):
        if name not in self.inits:
            self.inits[name] = numpy_helper.from_array(np.asarray(value, np.int64), name)
        return name

    def channel_shuffle(self, x, groups, c, hw):
        """torchvision's view(N, g, C/g, H, W) -> transpose(1, 2) -> view(N, C, H, W), as Reshape/Transpose."""
        y = self.node("Reshape", [x, self.const_i64(f"shape5_{groups}_{c}_{hw}", [-1, groups, c // groups, hw[0], hw[1]])])
        y = self.node("Transpose", [y], perm=[0, 2, 1, 3, 4])
        return self.node("Reshape", [y, self.const_i64(f"shape4_{c}_{hw}", [-1, c, hw[0], hw[1]])])

    def adaptive_avgpool(self, x, in_hw, out_hw):
        """AdaptiveAvgPool2d as two matrix products, Y = Ph X Pw^T, with torch's cell bounds."""
        def mat(n_in, n_out):
            m = np.zeros((n_out, n_in), np.float32)
            for i in range(n_out):
                a, b = (i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)
                m[i, a:b] = 1.0 / (b - a)
            return m
        ph, pw = mat(in_hw[0], out_hw[0]), mat(in_hw[1], out_hw[1])
        y = self.node("MatMul", [x, self.const(f"pw{in_hw}{out_hw}", pw.T)])
        return self.node("MatMul", [self.const(f"ph{in_hw}{out_hw}", ph), y])

    def global_avgpool(self, x): return self.node("GlobalAveragePool", [x])
    def flatten(self, x): return self.node("Flatten", [x], axis=1)

    def mean_hw(self, x): return self.node("ReduceMean", [x], axes=[2, 3], keepdims=0)

    def linear(self, x, key):
        return self.node("Gemm", [x, self.const(key + ".weight", self.sd[key + ".weight"]),
                                  self.const(key + ".bias", self.sd[key + ".bias"])], transB=1)

    def add(self, a, b): return self.node("Add", [a, b])

    def tap(self, name, x):
        self.named[name] = x
        return x

    def run(self, inputs):
        outs = list(self.named.values())
        g = helper.make_graph(self.nodes, "reference",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
                              list(self.inits.values()))
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        res = sess.run(outs, {"input": inputs})
        return dict(zip(self.named.keys(), res))


# ---- random weights with torchvision's keys -------------------------------------------------

class Weights(dict):
    """Seeded random weights. Both input sizes of an architecture build the same dict; values are
    generated once per (seed, key) and reused (CACHE is cleared between architectures)."""
    CACHE = {}

    def __init__(self, seed):
        super().__init__()
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def put(self, key, make):
        k = (self.seed, key)
        if k not in Weights.CACHE:
            Weights.CACHE[k] = make()
        self[key] = Weights.CACHE[k]

    def conv(self, key, o, i, k, bias=True):
        self.put(key + ".weight", lambda: self.rng.standard_normal((o, i, k, k), dtype=np.float32) * np.float32(np.sqrt(2.0 / (i * k * k))))
        if bias:
            self.put(key + ".bias", lambda: self.rng.uniform(-0.1, 0.1, o).astype(np.float32))

    def bn(self, key, c, gamma=(0.5, 1.5)):
        self.put(key + ".weight", lambda: self.rng.uniform(*gamma, c).astype(np.float32))
        self.put(key + ".bias", lambda: self.rng.uniform(-0.2, 0.2, c).astype(np.float32))
        self.put(key + ".running_mean", lambda: self.rng.uniform(-0.2, 0.2, c).astype(np.float32))
        self.put(key + ".running_var", lambda: self.rng.uniform(0.5, 1.5, c).astype(np.float32))
        self[key + ".num_batches_tracked"] = np.array(100, np.int64)

    def linear(self, key, o, i):
        self.put(key + ".weight", lambda: self.rng.standard_normal((o, i), dtype=np.float32) * np.float32(np.sqrt(2.0 / i)))
        self.put(key + ".bias", lambda: self.rng.uniform(-0.1, 0.1, o).astype(np.float32))


# ---- architectures, as torchvision defines them ----------------------------------------------

def alexnet(size):
    sd = Weights(1)
    for key, o, i, k in [("features.0", 64, 3, 11), ("features.3", 192, 64, 5), ("features.6", 384, 192, 3),
                         ("features.8", 256, 384, 3), ("features.10", 256, 256, 3)]:
        sd.conv(key, o, i, k)
    for key, o, i in [("classifier.1", 4096, 9216), ("classifier.4", 4096, 4096), ("classifier.6", 1000, 4096)]:
        sd.linear(key, o, i)

    def build(g):
        y = g.tap("features.0", g.conv("input", "features.0", 4, (2, 2, 2, 2)))
        y = g.tap("features.1", g.relu(y)); y = g.maxpool(y, 3, 2)
        y = g.relu(g.conv(y, "features.3", 1, (2, 2, 2, 2))); y = g.tap("features.5", g.maxpool(y, 3, 2))
        y = g.relu(g.conv(y, "features.6", 1, (1, 1, 1, 1))); y = g.relu(g.conv(y, "features.8", 1, (1, 1, 1, 1)))
        y = g.tap("features.11", g.relu(g.conv(y, "features.10", 1, (1, 1, 1, 1))))
        y = g.tap("features.12", g.maxpool(y, 3, 2))
        hw = feature_size(size, [(11, 4, 2), "pool", (5, 1, 2), "pool", (3, 1, 1), (3, 1, 1), (3, 1, 1), "pool"])
        y = g.tap("avgpool", g.adaptive_avgpool(y, hw, (6, 6)))
        y = g.flatten(y)
        y = g.tap("classifier.2", g.relu(g.linear(y, "classifier.1")))
        y = g.tap("classifier.4", g.linear(y, "classifier.4"))
        y = g.tap("classifier.5", g.relu(y))
        g.tap("classifier.6", g.linear(y, "classifier.6"))
    return sd, build


def feature_size(size, layers):
    """Spatial size after AlexNet-style convs (k, s, p) and 3x3/2 max pools (floor mode)."""
    n = size
    for l in layers:
        if l == "pool":
            n = (n - 3) // 2 + 1
        else:
            k, s, p = l
            n = (n + 2 * p - k) // s + 1
    return (n, n)


VGG_CFG = {11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
           13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
           16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
           19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]}


def vgg(depth, batch_norm):
    def make(size):
        sd = Weights(depth + (100 if batch_norm else 0))
        plan, i, c = [], 0, 3
        for v in VGG_CFG[depth]:
            if v == "M":
                plan.append(("pool", i)); i += 1
            else:
                sd.conv(f"features.{i}", v, c, 3)
                if batch_norm:
                    sd.bn(f"features.{i + 1}", v)
                plan.append(("conv", i)); i += 3 if batch_norm else 2; c = v
        sd.linear("classifier.0", 4096, 512 * 7 * 7); sd.linear("classifier.3", 4096, 4096); sd.linear("classifier.6", 1000, 4096)

        def build(g):
            y, n = "input", size
            for kind, i in plan:
                if kind == "pool":
                    y = g.tap(f"features.{i}", g.maxpool(y, 2, 2)); n //= 2
                else:
                    y = g.conv(y, f"features.{i}", 1, (1, 1, 1, 1))
                    if batch_norm and i == 0:
                        g.tap("features.0", y)
                    if batch_norm:
                        y = g.tap(f"features.{i + 1}", g.bn(y, f"features.{i + 1}"))
                    y = g.relu(y)
            # the last conv's ReLU output (conv5_x), then the head
            y = g.tap("avgpool", g.adaptive_avgpool(y, (n, n), (7, 7)))
            y = g.flatten(y)
            y = g.tap("classifier.1", g.relu(g.linear(y, "classifier.0")))
            y = g.tap("classifier.4", g.relu(g.linear(y, "classifier.3")))
            g.tap("classifier.6", g.linear(y, "classifier.6"))
        return sd, build
    return make


def resnet(depth):
    blocks, bottleneck = {18: ([2, 2, 2, 2], False), 34: ([3, 4, 6, 3], False), 50: ([3, 4, 6, 3], True),
                          101: ([3, 4, 23, 3], True), 152: ([3, 8, 36, 3], True)}[depth]

    def make(size):
        sd = Weights(depth)
        sd.conv("conv1", 64, 3, 7, bias=False); sd.bn("bn1", 64)
        plan, c = [], 64
        for li, n in enumerate(blocks, 1):
            planes = 64 * 2 ** (li - 1)
            out = planes * 4 if bottleneck else planes
            for b in range(n):
                p, stride = f"layer{li}.{b}", 2 if (b == 0 and li > 1) else 1
                if bottleneck:
                    sd.conv(p + ".conv1", planes, c, 1, False); sd.bn(p + ".bn1", planes)
                    sd.conv(p + ".conv2", planes, planes, 3, False); sd.bn(p + ".bn2", planes)
                    sd.conv(p + ".conv3", out, planes, 1, False); sd.bn(p + ".bn3", out)
                else:
                    sd.conv(p + ".conv1", planes, c, 3, False); sd.bn(p + ".bn1", planes)
                    sd.conv(p + ".conv2", planes, planes, 3, False); sd.bn(p + ".bn2", planes)
                down = stride != 1 or c != out
                if down:
                    sd.conv(p + ".downsample.0", out, c, 1, False); sd.bn(p + ".downsample.1", out)
                plan.append((p, stride, down, li, b == n - 1)); c = out
        sd.linear("fc", 1000, c)

        def build(g):
            y = g.tap("conv1", g.conv("input", "conv1", 2, (3, 3, 3, 3)))
            y = g.tap("bn1", g.bn(y, "bn1"))
            y = g.tap("relu", g.relu(y))
            y = g.tap("maxpool", g.maxpool(y, 3, 2, 1))
            for p, stride, down, li, last in plan:
                if bottleneck:
                    z = g.relu(g.bn(g.conv(y, p + ".conv1"), p + ".bn1"))
                    z = g.relu(g.bn(g.conv(z, p + ".conv2", stride, (1, 1, 1, 1)), p + ".bn2"))
                    z = g.bn(g.conv(z, p + ".conv3"), p + ".bn3")
                else:
                    z = g.relu(g.bn(g.conv(y, p + ".conv1", stride, (1, 1, 1, 1)), p + ".bn1"))
                    z = g.conv(z, p + ".conv2", 1, (1, 1, 1, 1))
                    if p == "layer1.1":
                        g.tap("layer1.1.conv2", z)
                    z = g.bn(z, p + ".bn2")
                if down:
                    c = g.conv(y, p + ".downsample.0", stride)
                    if p == "layer2.0":
                        g.tap("layer2.0.downsample.0", c)
                    idn = g.bn(c, p + ".downsample.1")
                else:
                    idn = y
                y = g.relu(g.add(z, idn))
                if p == "layer1.0":
                    g.tap("layer1.0", y)
                if last:
                    g.tap(f"layer{li}", y)
            y = g.tap("avgpool", g.global_avgpool(y))
            g.tap("fc", g.linear(g.flatten(y), "fc"))
        return sd, build
    return make


LITE0 = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
         (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]


def same_pads(n, k, s):
    """TF 'SAME' (efficientnet-lite-pytorch Conv2dStaticSamePadding): (top/left, bottom/right)."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def efficientnet_lite0(size, weights=None):
    # BatchNorm scales in 0.25..0.75 keep the random network's activations in ReLU6's working range.
    # With scales up to 1.5 (as for the other networks) pre-activations reach 30 and float32 rounding
    # alone puts onnxruntime 6e-4 away from a float64 evaluation of the same graph, above the tolerance.
    sd, eps = Weights(7), 1e-3
    sd.bn = lambda key, c: Weights.bn(sd, key, c, gamma=(0.25, 0.75))
    given = weights
    sd.conv("_conv_stem", 32, 3, 3, False); sd.bn("_bn0", 32)
    plan, b = [], 0
    for reps, k, s, e, cin, cout in LITE0:
        for r in range(reps):
            ci, st, p = cin if r == 0 else cout, s if r == 0 else 1, f"_blocks.{b}"
            if e != 1:
                sd.conv(p + "._expand_conv", ci * e, ci, 1, False); sd.bn(p + "._bn0", ci * e)
            sd.conv(p + "._depthwise_conv", ci * e, 1, k, False); sd.bn(p + "._bn1", ci * e)
            sd.conv(p + "._project_conv", cout, ci * e, 1, False); sd.bn(p + "._bn2", cout)
            plan.append((p, k, st, e, ci, cout)); b += 1
    sd.conv("_conv_head", 1280, 320, 1, False); sd.bn("_bn1", 1280)
    sd.linear("_fc", 1000, 1280)
    if given is not None:  # real weights with the same keys (efficientnet-lite-pytorch's)
        sd = given

    def build(g):
        a, bb = same_pads(size, 3, 2)
        y = g.tap("_conv_stem", g.conv("input", "_conv_stem", 2, (a, a, bb, bb)))
        y = g.tap("_bn0", g.bn(y, "_bn0", eps))
        y = g.tap("stem", g.relu6(y))
        n = -(-size // 2)
        for i, (p, k, st, e, ci, cout) in enumerate(plan):
            z = y
            if e != 1:
                z = g.relu6(g.bn(g.conv(z, p + "._expand_conv"), p + "._bn0", eps))
            a, bb = same_pads(n, k, st)
            z = g.bn(g.conv(z, p + "._depthwise_conv", st, (a, a, bb, bb), groups=ci * e), p + "._bn1", eps)
            if i == 3:
                g.tap("_blocks.3._bn1", z)
            z = g.conv(g.relu6(z), p + "._project_conv")
            if i == 3:
                g.tap("_blocks.3._project_conv", z)
            z = g.bn(z, p + "._bn2", eps)
            if st == 1 and ci == cout:
                z = g.add(z, y)
            y, n = z, -(-n // st)
            if i in (0, 3, 10, 15):
                g.tap(f"_blocks.{i}", y)
        y = g.tap("head", g.relu6(g.bn(g.conv(y, "_conv_head"), "_bn1", eps)))
        y = g.tap("avgpool", g.global_avgpool(y))
        g.tap("_fc", g.linear(g.flatten(y), "_fc"))
    return sd, build


def make_divisible(v, d=8):
    """torchvision.models._utils._make_divisible."""
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n


def cna(g, x, key, act, stride=1, groups=1, eps=1e-5, k=None):
    """Conv2dNormActivation: `key.0` conv with padding (k - 1) // 2, `key.1` BatchNorm, activation."""
    k = k or g.sd[key + ".0.weight"].shape[2]
    p = (k - 1) // 2
    y = g.bn(g.conv(x, key + ".0", stride, (p, p, p, p), groups), key + ".1", eps)
    return act(y) if act else y


MV2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v2(size):
    # BatchNorm scales 0.25..0.75 as for EfficientNet-Lite: keeps ReLU6 in its working range.
    sd = Weights(21)
    sd.bn = lambda key, c: Weights.bn(sd, key, c, gamma=(0.25, 0.75))
    sd.conv("features.0.0", 32, 3, 3, False); sd.bn("features.0.1", 32)
    plan, c, i = [], 32, 1
    for t, out, n, s0 in MV2:
        for r in range(n):
            p, h = f"features.{i}", c * t
            if t != 1:
                sd.conv(p + ".conv.0.0", h, c, 1, False); sd.bn(p + ".conv.0.1", h)
            d = 0 if t == 1 else 1
            sd.conv(f"{p}.conv.{d}.0", h, 1, 3, False); sd.bn(f"{p}.conv.{d}.1", h)
            sd.conv(f"{p}.conv.{d + 1}", out, h, 1, False); sd.bn(f"{p}.conv.{d + 2}", out)
            plan.append((p, t, d, s0 if r == 0 else 1, c, out)); c, i = out, i + 1
    sd.conv("features.18.0", 1280, 320, 1, False); sd.bn("features.18.1", 1280)
    sd.linear("classifier.1", 1000, 1280)

    def build(g):
        y = g.tap("features.0", cna(g, "input", "features.0", g.relu6, 2))
        for p, t, d, st, cin, out in plan:
            z = y
            if t != 1:
                z = cna(g, z, p + ".conv.0", g.relu6)
            z = cna(g, z, f"{p}.conv.{d}", g.relu6, st, cin * t)
            if p == "features.2":
                g.tap(p + ".conv.1.2", z)
            z = g.bn(g.conv(z, f"{p}.conv.{d + 1}"), f"{p}.conv.{d + 2}")
            y = g.add(z, y) if st == 1 and cin == out else z
            if p in ("features.1", "features.3", "features.10", "features.17"):
                g.tap(p, y)
        y = g.tap("features", cna(g, y, "features.18", g.relu6))
        y = g.tap("adaptive_avg_pool2d", g.global_avgpool(y))
        g.tap("classifier.1", g.linear(g.flatten(y), "classifier.1"))
    return sd, build


MV3 = {"large": ([(16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2), (24, 3, 72, 24, False, "RE", 1),
                  (24, 5, 72, 40, True, "RE", 2), (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
                  (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
                  (80, 3, 184, 80, False, "HS", 1), (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
                  (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1), (160, 5, 960, 160, True, "HS", 1)], 1280),
       "small": ([(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
                  (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
                  (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
                  (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1)], 1024)}


def mobilenet_v3(variant):
    def make(size):
        sd, eps = Weights(31 if variant == "large" else 32), 1e-3
        sd.bn = lambda key, c: Weights.bn(sd, key, c, gamma=(0.25, 0.75))
        blocks, last = MV3[variant]
        sd.conv("features.0.0", 16, 3, 3, False); sd.bn("features.0.1", 16)
        plan = []
        for i, (cin, k, e, out, se, act, st) in enumerate(blocks, 1):
            p, j = f"features.{i}.block", 0
            if e != cin:
                sd.conv(f"{p}.0.0", e, cin, 1, False); sd.bn(f"{p}.0.1", e); j = 1
            sd.conv(f"{p}.{j}.0", e, 1, k, False); sd.bn(f"{p}.{j}.1", e)
            if se:
                q = make_divisible(e // 4)
                sd.conv(f"{p}.{j + 1}.fc1", q, e, 1); sd.conv(f"{p}.{j + 1}.fc2", e, q, 1)
            sd.conv(f"{p}.{j + 1 + se}.0", out, e, 1, False); sd.bn(f"{p}.{j + 1 + se}.1", out)
            plan.append((i, j, cin, k, e, out, se, act, st))
        c = blocks[-1][3]
        n = len(blocks) + 1
        sd.conv(f"features.{n}.0", 6 * c, c, 1, False); sd.bn(f"features.{n}.1", 6 * c)
        sd.linear("classifier.0", last, 6 * c); sd.linear("classifier.3", 1000, last)

        def build(g):
            y = g.tap("features.0", cna(g, "input", "features.0", g.hardswish, 2, eps=eps))
            for i, j, cin, k, e, out, se, act, st in plan:
                p, a = f"features.{i}.block", g.hardswish if act == "HS" else g.relu
                z = cna(g, y, f"{p}.0", a, eps=eps) if j else y
                z = cna(g, z, f"{p}.{j}", a, st, e, eps=eps)
                if se:
                    q = f"{p}.{j + 1}"
                    s = g.hardsigmoid(g.conv(g.relu(g.conv(g.global_avgpool(z), q + ".fc1")), q + ".fc2"))
                    if i == 4:
                        g.tap(q + ".scale_activation", s)
                    z = g.mul(s, z)
                z = cna(g, z, f"{p}.{j + 1 + se}", None, eps=eps)
                y = g.add(z, y) if st == 1 and cin == out else z
                if i in (1, 2, 4, 6, len(plan)):
                    g.tap(f"features.{i}", y)
            y = g.tap("features", cna(g, y, f"features.{len(plan) + 1}", g.hardswish, eps=eps))
            y = g.tap("avgpool", g.global_avgpool(y))
            y = g.tap("classifier.1", g.hardswish(g.linear(g.flatten(y), "classifier.0")))
            g.tap("classifier.3", g.linear(y, "classifier.3"))
        return sd, build
    return make


SQUEEZE = {"1_0": ((96, 7), ["M", (16, 64), (16, 64), (32, 128), "M", (32, 128), (48, 192), (48, 192), (64, 256), "M", (64, 256)]),
           "1_1": ((64, 3), ["M", (16, 64), (16, 64), "M", (32, 128), (32, 128), "M", (48, 192), (48, 192), (64, 256), (64, 256)])}


def squeezenet(version):
    def make(size):
        sd = Weights(41 if version == "1_0" else 42)
        (c, k), items = SQUEEZE[version]
        sd.conv("features.0", c, 3, k)
        for i, item in enumerate(items, 2):
            if item != "M":
                s, e = item
                sd.conv(f"features.{i}.squeeze", s, c, 1); sd.conv(f"features.{i}.expand1x1", e, s, 1)
                sd.conv(f"features.{i}.expand3x3", e, s, 3); c = 2 * e
        sd.linear("classifier.1", 1000, c)
        sd["classifier.1.weight"] = sd["classifier.1.weight"].reshape(1000, c, 1, 1)

        def build(g):
            y = g.tap("features.1", g.relu(g.conv("input", "features.0", 2)))
            for i, item in enumerate(items, 2):
                if item == "M":
                    y = g.maxpool(y, 3, 2, ceil=True)
                else:
                    p = f"features.{i}"
                    s = g.relu(g.conv(y, p + ".squeeze"))
                    if i == 3:
                        g.tap(p + ".squeeze_activation", s)
                    y = g.concat([g.relu(g.conv(s, p + ".expand1x1")), g.relu(g.conv(s, p + ".expand3x3", 1, (1, 1, 1, 1)))])
                if i in (2, 3, 6, 8):
                    g.tap(f"features.{i}", y)
            y = g.tap("features", y)
            y = g.tap("classifier.2", g.relu(g.conv(y, "classifier.1")))
            g.tap("classifier.3", g.global_avgpool(y))
        return sd, build
    return make


DENSE = {121: (32, [6, 12, 24, 16], 64), 161: (48, [6, 12, 36, 24], 96), 169: (32, [6, 12, 32, 32], 64),
         201: (32, [6, 12, 48, 32], 64)}


def densenet(depth):
    k, blocks, init = DENSE[depth]

    def make(size):
        sd = Weights(50 + depth)
        sd.conv("features.conv0", init, 3, 7, False); sd.bn("features.norm0", init)
        c = init
        for b, n in enumerate(blocks, 1):
            for i in range(1, n + 1):
                p = f"features.denseblock{b}.denselayer{i}"
                sd.bn(p + ".norm1", c); sd.conv(p + ".conv1", 4 * k, c, 1, False)
                sd.bn(p + ".norm2", 4 * k); sd.conv(p + ".conv2", k, 4 * k, 3, False); c += k
            if b < len(blocks):
                p = f"features.transition{b}"
                sd.bn(p + ".norm", c); sd.conv(p + ".conv", c // 2, c, 1, False); c //= 2
        sd.bn("features.norm5", c); sd.linear("classifier", 1000, c)

        def build(g):
            y = g.relu(g.bn(g.conv("input", "features.conv0", 2, (3, 3, 3, 3)), "features.norm0"))
            y = g.tap("features.pool0", g.maxpool(y, 3, 2, 1))
            for b, n in enumerate(blocks, 1):
                for i in range(1, n + 1):
                    p = f"features.denseblock{b}.denselayer{i}"
                    z = g.relu(g.bn(y, p + ".norm1"))
                    if (b, i) == (1, 2):
                        g.tap(p + ".relu1", z)
                    z = g.conv(z, p + ".conv1")
                    if (b, i) == (2, 1):
                        g.tap(p + ".conv1", z)
                    z = g.conv(g.relu(g.bn(z, p + ".norm2")), p + ".conv2", 1, (1, 1, 1, 1))
                    if (b, i) == (4, n):
                        g.tap(p, z)
                    y = g.concat([y, z])
                if b in (1, 3):
                    g.tap(f"features.denseblock{b}", y)
                if b < len(blocks):
                    p = f"features.transition{b}"
                    y = g.avgpool(g.conv(g.relu(g.bn(y, p + ".norm")), p + ".conv"), 2, 2)
                    if b == 2:
                        g.tap(p, y)
            y = g.tap("features.norm5", g.bn(y, "features.norm5"))
            y = g.tap("adaptive_avg_pool2d", g.global_avgpool(g.relu(y)))
            g.tap("classifier", g.linear(g.flatten(y), "classifier"))
        return sd, build
    return make


def legacy_densenet_keys(sd):
    """torchvision's DenseNet checkpoints name `denselayer1.norm1.weight` `denselayer1.norm.1.weight`, and
    (saved before torch 0.4.1) have no `num_batches_tracked`."""
    pattern = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))([12])\.(weight|bias|running_mean|running_var)$")
    return {pattern.sub(r"\1.\2.\3", k): v for k, v in sd.items() if not k.endswith("num_batches_tracked")}


SHUFFLE = {"x0_5": [24, 48, 96, 192, 1024], "x1_0": [24, 116, 232, 464, 1024]}


def shufflenet_v2(width):
    ch = SHUFFLE[width]

    def make(size):
        # BatchNorm scales 0.25..0.75: the pass-through halves otherwise grow a hundredfold by stage 4.
        sd = Weights(60 if width == "x0_5" else 61)
        sd.bn = lambda key, c: Weights.bn(sd, key, c, gamma=(0.25, 0.75))
        sd.conv("conv1.0", ch[0], 3, 3, False); sd.bn("conv1.1", ch[0])
        plan, c = [], ch[0]
        for s, n in enumerate([4, 8, 4]):
            out, k = ch[s + 1], ch[s + 1] // 2
            for i in range(n):
                p = f"stage{s + 2}.{i}"
                if i == 0:
                    sd.conv(p + ".branch1.0", c, 1, 3, False); sd.bn(p + ".branch1.1", c)
                    sd.conv(p + ".branch1.2", k, c, 1, False); sd.bn(p + ".branch1.3", k)
                sd.conv(p + ".branch2.0", k, c if i == 0 else k, 1, False); sd.bn(p + ".branch2.1", k)
                sd.conv(p + ".branch2.3", k, 1, 3, False); sd.bn(p + ".branch2.4", k)
                sd.conv(p + ".branch2.5", k, k, 1, False); sd.bn(p + ".branch2.6", k)
                plan.append((p, i == 0, c if i == 0 else k, out)); c = out
        sd.conv("conv5.0", ch[4], c, 1, False); sd.bn("conv5.1", ch[4])
        sd.linear("fc", 1000, ch[4])

        def build(g):
            y = g.tap("conv1", cna(g, "input", "conv1", g.relu, 2))
            y = g.tap("maxpool", g.maxpool(y, 3, 2, 1))
            n = (size + 1) // 2
            n = (n + 1) // 2
            for p, first, cin, out in plan:
                k = out // 2
                if first:
                    n = (n + 1) // 2
                    a = g.bn(g.conv(y, p + ".branch1.0", 2, (1, 1, 1, 1), cin), p + ".branch1.1")
                    a = g.relu(g.bn(g.conv(a, p + ".branch1.2"), p + ".branch1.3"))
                    b = y
                else:
                    a, b = g.split(y, [k, k])
                b = g.relu(g.bn(g.conv(b, p + ".branch2.0"), p + ".branch2.1"))
                b = g.bn(g.conv(b, p + ".branch2.3", 2 if first else 1, (1, 1, 1, 1), k), p + ".branch2.4")
                if p == "stage2.1":
                    g.tap(p + ".branch2.4", b)
                b = g.relu(g.bn(g.conv(b, p + ".branch2.5"), p + ".branch2.6"))
                y = g.channel_shuffle(g.concat([a, b]), 2, out, (n, n))
                if p in ("stage2.0", "stage2.1", "stage3.7", "stage4.3"):
                    g.tap(p, y)
            y = g.tap("mean", g.mean_hw(cna(g, y, "conv5", g.relu)))
            g.tap("fc", g.linear(y, "fc"))
        return sd, build
    return make


def basic_conv(sd, key, o, i, k):
    """BasicConv2d of GoogLeNet and Inception v3: conv without bias, BatchNorm (eps 0.001), ReLU."""
    kh, kw = (k, k) if isinstance(k, int) else k
    sd.put(key + ".conv.weight", lambda: sd.rng.standard_normal((o, i, kh, kw), dtype=np.float32) * np.float32(np.sqrt(2.0 / (i * kh * kw))))
    sd.bn(key + ".bn", o)


def basic(g, x, key, stride=1, pad=(0, 0)):
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    return g.relu(g.bn(g.conv(x, key + ".conv", stride, (ph, pw, ph, pw)), key + ".bn", 1e-3))


def transform_input(g, x):
    """torchvision's transform_input: x[:, c] * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5."""
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    y = g.mul(x, g.const("ti_scale", (std / 0.5).reshape(1, 3, 1, 1)))
    return g.add(y, g.const("ti_shift", ((mean - 0.5) / 0.5).reshape(1, 3, 1, 1)))


GOOGLENET = [("inception3a", [192, 64, 96, 128, 16, 32, 32]), ("inception3b", [256, 128, 128, 192, 32, 96, 64]),
             ("inception4a", [480, 192, 96, 208, 16, 48, 64]), ("inception4b", [512, 160, 112, 224, 24, 64, 64]),
             ("inception4c", [512, 128, 128, 256, 24, 64, 64]), ("inception4d", [512, 112, 144, 288, 32, 64, 64]),
             ("inception4e", [528, 256, 160, 320, 32, 128, 128]), ("inception5a", [832, 256, 160, 320, 32, 128, 128]),
             ("inception5b", [832, 384, 192, 384, 48, 128, 128])]


def googlenet(size):
    sd = Weights(70)
    basic_conv(sd, "conv1", 64, 3, 7); basic_conv(sd, "conv2", 64, 64, 1); basic_conv(sd, "conv3", 192, 64, 3)
    for name, c in GOOGLENET:
        basic_conv(sd, name + ".branch1", c[1], c[0], 1)
        basic_conv(sd, name + ".branch2.0", c[2], c[0], 1); basic_conv(sd, name + ".branch2.1", c[3], c[2], 3)
        basic_conv(sd, name + ".branch3.0", c[4], c[0], 1); basic_conv(sd, name + ".branch3.1", c[5], c[4], 3)
        basic_conv(sd, name + ".branch4.1", c[6], c[0], 1)
    # The auxiliary classifiers torchvision's checkpoint carries (and drops after loading).
    for aux, c in (("aux1", 512), ("aux2", 528)):
        basic_conv(sd, aux + ".conv", 128, c, 1); sd.linear(aux + ".fc1", 1024, 2048); sd.linear(aux + ".fc2", 1000, 1024)
    sd.linear("fc", 1000, 1024)

    def build(g):
        y = g.tap("conv1", basic(g, transform_input(g, "input"), "conv1", 2, 3))
        y = g.tap("maxpool1", g.maxpool(y, 3, 2, ceil=True))
        y = basic(g, basic(g, y, "conv2"), "conv3", 1, 1)
        y = g.maxpool(y, 3, 2, ceil=True)
        for name, c in GOOGLENET:
            a = basic(g, y, name + ".branch1")
            b = basic(g, basic(g, y, name + ".branch2.0"), name + ".branch2.1", 1, 1)
            d = basic(g, basic(g, y, name + ".branch3.0"), name + ".branch3.1", 1, 1)
            e = basic(g, g.maxpool(y, 3, 1, 1, ceil=True), name + ".branch4.1")
            if name == "inception3a":
                g.tap(name + ".branch3", d)
            y = g.concat([a, b, d, e])
            if name in ("inception3a", "inception4c", "inception5b"):
                g.tap(name, y)
            if name == "inception3b":
                y = g.maxpool(y, 3, 2, ceil=True)
            if name == "inception4e":
                y = g.tap("maxpool4", g.maxpool(y, 2, 2, ceil=True))
        y = g.tap("avgpool", g.global_avgpool(y))
        g.tap("fc", g.linear(g.flatten(y), "fc"))
    return sd, build


def inception_block(kind, c, arg):
    """Branches of torchvision's InceptionA..E as (name, out, kernel, stride, padding) convs, "avg", "max",
    and ("pair", conv, conv) for InceptionE's two convolutions on one input; and the output channels."""
    if kind == "A":
        return [[("branch1x1", 64, 1, 1, 0)], [("branch5x5_1", 48, 1, 1, 0), ("branch5x5_2", 64, 5, 1, 2)],
                [("branch3x3dbl_1", 64, 1, 1, 0), ("branch3x3dbl_2", 96, 3, 1, 1), ("branch3x3dbl_3", 96, 3, 1, 1)],
                ["avg", ("branch_pool", arg, 1, 1, 0)]], 224 + arg
    if kind == "B":
        return [[("branch3x3", 384, 3, 2, 0)],
                [("branch3x3dbl_1", 64, 1, 1, 0), ("branch3x3dbl_2", 96, 3, 1, 1), ("branch3x3dbl_3", 96, 3, 2, 0)],
                ["max"]], 480 + c
    if kind == "C":
        r, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))
        return [[("branch1x1", 192, 1, 1, 0)],
                [("branch7x7_1", arg, 1, 1, 0), ("branch7x7_2", arg, r[0], 1, r[1]), ("branch7x7_3", 192, col[0], 1, col[1])],
                [("branch7x7dbl_1", arg, 1, 1, 0), ("branch7x7dbl_2", arg, col[0], 1, col[1]), ("branch7x7dbl_3", arg, r[0], 1, r[1]),
                 ("branch7x7dbl_4", arg, col[0], 1, col[1]), ("branch7x7dbl_5", 192, r[0], 1, r[1])],
                ["avg", ("branch_pool", 192, 1, 1, 0)]], 768
    if kind == "D":
        return [[("branch3x3_1", 192, 1, 1, 0), ("branch3x3_2", 320, 3, 2, 0)],
                [("branch7x7x3_1", 192, 1, 1, 0), ("branch7x7x3_2", 192, (1, 7), 1, (0, 3)),
                 ("branch7x7x3_3", 192, (7, 1), 1, (3, 0)), ("branch7x7x3_4", 192, 3, 2, 0)],
                ["max"]], 512 + c
    return [[("branch1x1", 320, 1, 1, 0)],
            [("branch3x3_1", 384, 1, 1, 0), ("pair", ("branch3x3_2a", 384, (1, 3), 1, (0, 1)), ("branch3x3_2b", 384, (3, 1), 1, (1, 0)))],
            [("branch3x3dbl_1", 448, 1, 1, 0), ("branch3x3dbl_2", 384, 3, 1, 1),
             ("pair", ("branch3x3dbl_3a", 384, (1, 3), 1, (0, 1)), ("branch3x3dbl_3b", 384, (3, 1), 1, (1, 0)))],
            ["avg", ("branch_pool", 192, 1, 1, 0)]], 2048


INCEPTION = [("Mixed_5b", "A", 32), ("Mixed_5c", "A", 64), ("Mixed_5d", "A", 64), ("Mixed_6a", "B", 0), ("Mixed_6b", "C", 128),
             ("Mixed_6c", "C", 160), ("Mixed_6d", "C", 160), ("Mixed_6e", "C", 192), ("Mixed_7a", "D", 0), ("Mixed_7b", "E", 0),
             ("Mixed_7c", "E", 0)]


def inception_v3(size):
    sd = Weights(80)
    stem = [("Conv2d_1a_3x3", 32, 3, 3, 2, 0), ("Conv2d_2a_3x3", 32, 32, 3, 1, 0), ("Conv2d_2b_3x3", 64, 32, 3, 1, 1),
            ("Conv2d_3b_1x1", 80, 64, 1, 1, 0), ("Conv2d_4a_3x3", 192, 80, 3, 1, 0)]
    for name, o, i, k, _, _ in stem:
        basic_conv(sd, name, o, i, k)
    plan, c = [], 192
    for name, kind, arg in INCEPTION:
        branches, out = inception_block(kind, c, arg)
        for branch in branches:
            cin = c
            for step in branch:
                if step in ("avg", "max"):
                    continue
                convs = step[1:] if step[0] == "pair" else [step]
                for n, o, k, _, _ in convs:
                    basic_conv(sd, f"{name}.{n}", o, cin, k)
                cin = sum(cv[1] for cv in convs)
        plan.append((name, branches)); c = out
    # The auxiliary classifier torchvision's checkpoint carries (and drops after loading).
    basic_conv(sd, "AuxLogits.conv0", 128, 768, 1); basic_conv(sd, "AuxLogits.conv1", 768, 128, 5)
    sd.linear("AuxLogits.fc", 1000, 768)
    sd.linear("fc", 1000, 2048)

    def build(g):
        y = transform_input(g, "input")
        for name, _, _, _, s, p in stem:
            y = basic(g, y, name, s, p)
            if name == "Conv2d_1a_3x3":
                g.tap(name, y)
            if name in ("Conv2d_2b_3x3", "Conv2d_4a_3x3"):
                y = g.maxpool(y, 3, 2)
                if name == "Conv2d_4a_3x3":
                    g.tap("maxpool2", y)
        for name, branches in plan:
            outs = []
            for branch in branches:
                z = y
                for step in branch:
                    if step == "avg":
                        z = g.avgpool(z, 3, 1, 1, count_include_pad=True)
                    elif step == "max":
                        z = g.maxpool(z, 3, 2)
                    elif step[0] == "pair":
                        z = g.concat([basic(g, z, f"{name}.{n}", s, p) for n, _, _, s, p in step[1:]])
                    else:
                        n, _, _, s, p = step
                        z = basic(g, z, f"{name}.{n}", s, p)
                        if name == "Mixed_6b" and n == "branch7x7dbl_3":
                            g.tap(f"{name}.{n}", z)
                outs.append(z)
            y = g.concat(outs)
            if name in ("Mixed_5b", "Mixed_6a", "Mixed_6e", "Mixed_7a", "Mixed_7c"):
                g.tap(name, y)
        y = g.tap("avgpool", g.global_avgpool(y))
        g.tap("fc", g.linear(g.flatten(y), "fc"))
    return sd, build


ARCHS = {"alexnet": (alexnet, 256), "efficientnet_lite0": (efficientnet_lite0, 200)}
for d in (11, 13, 16, 19):
    ARCHS[f"vgg{d}"] = (vgg(d, False), 192)
    ARCHS[f"vgg{d}_bn"] = (vgg(d, True), 192)
for d in (18, 34, 50, 101, 152):
    ARCHS[f"resnet{d}"] = (resnet(d), 160)
ARCHS["mobilenet_v2"] = (mobilenet_v2, 200)
ARCHS["densenet121"] = (densenet(121), 160)
ARCHS["densenet169"] = (densenet(169), 160)
ARCHS["densenet161"] = (densenet(161), 160)
ARCHS["densenet201"] = (densenet(201), 160)
ARCHS["shufflenet_v2_x0_5"] = (shufflenet_v2("x0_5"), 200)
ARCHS["shufflenet_v2_x1_0"] = (shufflenet_v2("x1_0"), 200)
ARCHS["googlenet"] = (googlenet, 200)
ARCHS["inception_v3"] = (inception_v3, 160)
ARCHS["squeezenet1_0"] = (squeezenet("1_0"), 227)  # odd sizes: ceil-mode pools keep a partial last window
ARCHS["squeezenet1_1"] = (squeezenet("1_1"), 227)
ARCHS["mobilenet_v3_small"] = (mobilenet_v3("small"), 200)
ARCHS["mobilenet_v3_large"] = (mobilenet_v3("large"), 200)

# Input side the weights were trained at, where it is not 224 (Inception_V3_Weights: crop 299).
NATIVE = {"inception_v3": 299}
# Checkpoints saved with the keys torchvision's own files have, so the loader's renames are exercised.
SAVED_KEYS = {"densenet121": legacy_densenet_keys, "densenet169": legacy_densenet_keys}


def main(out, names):
    os.makedirs(out, exist_ok=True)
    for name in names or ARCHS:
        make, other = ARCHS[name]
        if os.path.exists(os.path.join(out, f"{name}.golden.safetensors")):
            continue
        golden, weights = {}, None
        Weights.CACHE.clear()
        sizes = [(NATIVE.get(name, 224), 2)] + ([(other, 1)] if other else [])
        for size, n in sizes:
            sd, build = make(size)
            weights = sd
            x = np.random.default_rng(size).standard_normal((n, 3, size, size)).astype(np.float32)
            g = Graph(sd)
            build(g)
            golden[f"input@{size}"] = x
            for tap, value in g.run(x).items():
                golden[f"{tap}@{size}"] = np.ascontiguousarray(value)
        weights = SAVED_KEYS.get(name, dict)(weights)
        save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, os.path.join(out, f"{name}.safetensors"))
        save_file(golden, os.path.join(out, f"{name}.golden.safetensors.part"))
        os.replace(os.path.join(out, f"{name}.golden.safetensors.part"), os.path.join(out, f"{name}.golden.safetensors"))
        print(f"make_models: {name}: {len(golden)} arrays", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
