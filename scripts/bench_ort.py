"""onnxruntime's forward-pass throughput on the same architecture `pipeline bench` measures:
the reference graph of Tests/ExtractTests/Golden/make_models.py (torchvision's layers, random
weights of the same shapes), all graph optimisations on, stopping at the same tap.

    python scripts/bench_ort.py ARCH --batch 32 --threads 2 --size 224 --iterations 3 --tap avgpool

Prints one line ending in images/s (the number `pipeline bench` reads)."""
import argparse, os, sys, time
import numpy as np
import onnxruntime as ort
from onnx import helper, TensorProto

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "ExtractTests", "Golden"))
import make_models  # noqa: E402

ALIASES = {"fc7": {"alexnet": "classifier.5", "vgg": "classifier.4"}, "fc6": {"alexnet": "classifier.2", "vgg": "classifier.1"}}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("arch"); ap.add_argument("--batch", type=int, default=32); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=224); ap.add_argument("--iterations", type=int, default=3); ap.add_argument("--tap", default=None)
    a = ap.parse_args()
    make, _ = make_models.ARCHS[a.arch]
    sd, build = make(a.size)
    g = make_models.Graph(sd); build(g)
    family = "alexnet" if a.arch == "alexnet" else "vgg" if a.arch.startswith("vgg") else a.arch
    tap = ALIASES.get(a.tap, {}).get(family, a.tap) if a.tap else None
    if tap not in g.named:
        tap = list(g.named)[-1]
    # Only the nodes the tap depends on: onnxruntime runs every node of a graph, needed or not, so the
    # classifier after the tap would otherwise be timed on its side alone (0.15 ms of EfficientNet's
    # 4 ms at batch 1; AlexNet's fc8 is 16 MB of weights).
    needed, nodes = {g.named[tap]}, []
    for n in reversed(g.nodes):
        if any(o in needed for o in n.output):
            nodes.append(n); needed.update(n.input)
    nodes.reverse()
    graph = helper.make_graph(nodes, "bench", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info(g.named[tap], TensorProto.FLOAT, None)], [t for name, t in g.inits.items() if name in needed])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]); model.ir_version = 8
    so = ort.SessionOptions(); so.intra_op_num_threads = a.threads; so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((a.batch, 3, a.size, a.size)).astype(np.float32)
    s.run(None, {"input": x}); best = 1e9
    for _ in range(a.iterations):
        t = time.perf_counter(); s.run(None, {"input": x}); best = min(best, time.perf_counter() - t)
    print(f"onnxruntime {ort.__version__} {a.arch} up to {tap} batch {a.batch} threads {a.threads}: {a.batch / best:.2f}")

if __name__ == "__main__":
    main()
