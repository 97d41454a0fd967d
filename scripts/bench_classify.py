#!/usr/bin/env python3
"""Times scikit-learn on the training jobs Classify does, so the Swift figures can be set beside them.
    .cache/venv/bin/python scripts/bench_classify.py                      # digits (1797 x 64, pixels / 16)
    .cache/venv/bin/python scripts/bench_classify.py --synthetic 5000 4096 10   # ReLU-like codes, n d classes
    .cache/venv/bin/python scripts/bench_classify.py --h5 codes.h5        # datasets `codes` and `labels`
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
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    X, y = load(args)
    jobs = {
        "LinearSVC (liblinear -s 1, eps 0.1)":
            lambda: LinearSVC(C=args.C, loss="squared_hinge", dual=True, tol=0.1, intercept_scaling=1, max_iter=1000),
        "LogisticRegression (lbfgs, multinomial)":
            lambda: LogisticRegression(C=args.C, solver="lbfgs", tol=1e-4, max_iter=1000),
    }
    for name, make in jobs.items():
        seconds, acc = timed(make, X, y, args.repeat)
        print(json.dumps({"job": name, "n": X.shape[0], "dimension": X.shape[1], "classes": int(len(np.unique(y))),
                          "nonzero_fraction": float(np.count_nonzero(X)) / X.size, "C": args.C,
                          "seconds": round(seconds, 4), "train_accuracy": acc}))


if __name__ == "__main__":
    main()
