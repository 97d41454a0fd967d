#!/usr/bin/env python3
"""Times scikit-learn on the training jobs Classify does, so the Swift figures can be set beside them.
    .cache/venv/bin/python scripts/bench_classify.py                      # digits (1797 x 64, pixels / 16)
    .cache/venv/bin/python scripts/bench_classify.py --synthetic 5000 4096 10   # ReLU-like codes, n d classes
    .cache/venv/bin/python scripts/bench_classify.py --h5 codes.h5        # datasets `codes` and `labels`
    .cache/venv/bin/python scripts/bench_classify.py --codes train.h5 [--layer L] [--normalize l2] \
        --pipeline .build/release/pipeline                                # a `pipeline extract` codes file,
        timed on both sides: train-svm / train-softmax against LinearSVC / LogisticRegression on the same codes
Prints one JSON line per job: name, seconds (best of --repeat), train accuracy, and the settings used,
which are those of the Swift side: LinearSVC = liblinear -s 1 with bias 1 and train.c's eps 0.1;
LogisticRegression = Softmax (lbfgs, multinomial, C). One thread each (OMP/OpenBLAS), as the tests run."""
import argparse, json, os, time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC


def load(args):
    if args.codes:
        import h5py
        with h5py.File(args.codes, "r") as f:
            layer = args.layer or f.attrs["layers"].split(",")[0]
            n = int(f.attrs["num_images"])
            X, y = np.asarray(f["codes/" + layer][:n], np.float32), np.asarray(f["labels"][:n])
        if args.normalize == "l2":
            from sklearn.preprocessing import normalize
            X = normalize(X)
        elif args.normalize == "standard":
            from sklearn.preprocessing import StandardScaler
            X = StandardScaler().fit_transform(X).astype(np.float32)
        return X, y
    if args.h5:
        import h5py
        with h5py.File(args.h5, "r") as f:
            return np.asarray(f["codes"], np.float32), np.asarray(f["labels"])
    if args.synthetic:
        n, d, k = args.synthetic
        rng = np.random.default_rng(0)
        centres = rng.normal(size=(k, d)).astype(np.float32)
        y = rng.integers(0, k, n)
        X = np.maximum(0, centres[y] + 2 * rng.normal(size=(n, d)).astype(np.float32))  # ReLU: ~half zeros
        return X, y
    from sklearn.datasets import load_digits
    d = load_digits()
    return (d.data / 16).astype(np.float32), d.target


def timed(make, X, y, repeat):
    best, model = float("inf"), None
    for _ in range(repeat):
        model = make()
        t = time.perf_counter()
        model.fit(X, y)
        best = min(best, time.perf_counter() - t)
    return best, float(model.score(X, y))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--h5")
    p.add_argument("--synthetic", nargs=3, type=int, metavar=("N", "D", "CLASSES"))
    p.add_argument("--codes", help="codes file from `pipeline extract` (HDF5, codes/<layer>, labels)")
    p.add_argument("--layer")
    p.add_argument("--normalize", default="none", choices=["none", "l2", "standard"],
                   help="applied before timing on the scikit-learn side; passed as --normalize to pipeline (timed inside)")
    p.add_argument("--pipeline", help="a `pipeline` binary (a release build) to time on the same --codes file")
    p.add_argument("--tol", type=float, default=1e-6,
                   help="LogisticRegression's tol and train-softmax's --tolerance (largest gradient component)")
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    X, y = load(args)
    jobs = {
        "LinearSVC (liblinear -s 1, eps 0.1)":
            lambda: LinearSVC(C=args.C, loss="squared_hinge", dual=True, tol=0.1, intercept_scaling=1, max_iter=1000),
        "LogisticRegression (lbfgs, multinomial)":
            lambda: LogisticRegression(C=args.C, solver="lbfgs", tol=args.tol, max_iter=1000),
    }
    theirs = {}
    for name, make in jobs.items():
        seconds, acc = timed(make, X, y, args.repeat)
        theirs[name] = seconds
        print(json.dumps({"job": name, "n": X.shape[0], "dimension": X.shape[1], "classes": int(len(np.unique(y))),
                          "nonzero_fraction": float(np.count_nonzero(X)) / X.size, "C": args.C,
                          "seconds": round(seconds, 4), "train_accuracy": acc}))
    if args.pipeline and args.codes:
        ours = {
            "LinearSVC (liblinear -s 1, eps 0.1)": ["train-svm", "-C", str(args.C), "--solver", "l2r_l2loss_svc_dual"],
            "LogisticRegression (lbfgs, multinomial)": ["train-softmax", "--l2", str(args.C), "--tolerance", str(args.tol)],
        }
        for name, command in ours.items():
            seconds = pipeline_seconds(args, command)
            print(json.dumps({"job": "pipeline " + command[0], "compared_with": name, "seconds": round(seconds, 4),
                              "ratio_to_scikit_learn": round(seconds / theirs[name], 2)}))


def pipeline_seconds(args, command):
    """Best training time that `pipeline train-*` reports ("... in 0.123 s"), which excludes reading the file."""
    import re, subprocess, tempfile
    best = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            cmd = [args.pipeline] + command + ["--codes", args.codes, "--normalize", args.normalize,
                                               "--out", os.path.join(tmp, "model")]
            if args.layer:
                cmd += ["--layer", args.layer]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                                 env=dict(os.environ, OPENBLAS_NUM_THREADS="1")).stdout
            best = min(best, float(re.search(r" in ([0-9.]+) s", out.splitlines()[-1]).group(1)))
    return best


if __name__ == "__main__":
    main()
