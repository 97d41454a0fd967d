#!/usr/bin/env python3
"""scikit-learn's side of ClassifyEndToEndTests: the same codes files the test extracted, the same protocol.

    python make_classify_codes.py reference --train train.h5 --val val.h5 [--layer avgpool] [--normalize l2]
        Prints JSON: for LinearSVC (liblinear -s 1, bias 1, intercept_scaling 1, tol = train.c's eps 0.1) and
        LogisticRegression (lbfgs, multinomial), the C chosen by pooled stratified k-fold accuracy over the same
        grid as `pipeline train-svm --search-c` / `train-softmax --search-l2` (StratifiedKFold(shuffle=False),
        ties to the smaller C, normaliser fitted on each training part), its CV accuracy, the validation
        accuracy of the model refitted on all training codes, and the fit time.
    python make_classify_codes.py svmlight --codes val.h5 [--layer L] [--normalize none] --out val.txt
        Writes the codes in liblinear's text format (sklearn's dump_svmlight_file, 1-based features,
        label = class index) for `liblinear-predict`.
    python make_classify_codes.py variants --codes val.h5 --out DIR
        Writes broken copies for the error tests: other_provenance.h5 (pooling, weights_sha256 changed),
        other_dimension.h5, nan.h5, empty.h5, one_class.h5, two_layers.h5.
Nothing here imports the Swift code; the test compares the two sides with a stated tolerance."""
import argparse, json, os, shutil, sys, time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import h5py
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, Normalizer, StandardScaler
from sklearn.svm import LinearSVC


def read(path, layer):
    with h5py.File(path, "r") as f:
        layers = f.attrs["layers"].split(",")
        layer = layer or layers[0]
        n = int(f.attrs["num_images"])
        return np.asarray(f["codes/" + layer][:n], np.float32), np.asarray(f["labels"][:n]), layer


def normaliser(kind):
    return {"none": FunctionTransformer(), "l2": Normalizer(), "standard": StandardScaler()}[kind]


def grid(text):
    if text.startswith("2^"):
        lo, hi = text[2:].split("..2^")
        return [2.0 ** e for e in range(int(lo), int(hi) + 1)]
    return [float(v) for v in text.split(",")]


def search(make, X, y, cs, folds, norm):
    """Pooled accuracy (correct / n over all folds) at each C; best C, ties to the smaller."""
    split = list(StratifiedKFold(n_splits=folds, shuffle=False).split(X, y))
    scores = []
    for c in sorted(cs):
        correct = 0
        for tr, te in split:
            model = make_pipeline(normaliser(norm), make(c)).fit(X[tr], y[tr])
            correct += int((model.predict(X[te]) == y[te]).sum())
        scores.append(correct / len(y))
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return sorted(cs)[best], scores[best], scores


def reference(args):
    X, y, layer = read(args.train, args.layer)
    Xv, yv, _ = read(args.val, layer)
    jobs = {
        "svm": (lambda c: LinearSVC(C=c, loss="squared_hinge", dual=True, tol=0.1, intercept_scaling=1, max_iter=1000,
                                         random_state=0),
                grid(args.svm_grid)),
        "softmax": (lambda c: LogisticRegression(C=c, solver="lbfgs", tol=1e-6, max_iter=5000), grid(args.softmax_grid)),
    }
    out = {"layer": layer, "n_train": len(y), "n_val": len(yv), "dimension": X.shape[1],
           "nonzero_fraction": float(np.count_nonzero(X)) / X.size, "normalize": args.normalize}
    for name, (make, cs) in jobs.items():
        c, cv, scores = search(make, X, y, cs, args.folds, args.normalize)
        model = make_pipeline(normaliser(args.normalize), make(c))
        t = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - t
        out[name] = {"C": c, "cv_accuracy": cv, "cv_by_C": scores, "val_accuracy": float((model.predict(Xv) == yv).mean()),
                     "fit_seconds": seconds}
    json.dump(out, sys.stdout)
    print()


def svmlight(args):
    from sklearn.datasets import dump_svmlight_file
    X, y, _ = read(args.codes, args.layer)
    X = normaliser(args.normalize).fit_transform(X) if args.normalize != "standard" else X
    dump_svmlight_file(X.astype(np.float64), y, args.out, zero_based=False)


def variants(args):
    os.makedirs(args.out, exist_ok=True)

    def copy(name):
        p = os.path.join(args.out, name)
        shutil.copyfile(args.codes, p)
        return p

    with h5py.File(copy("other_provenance.h5"), "r+") as f:
        f.attrs["pooling"] = "max"
        f.attrs["weights_sha256"] = "0" * 64
    with h5py.File(args.codes, "r") as src:
        layer = src.attrs["layers"].split(",")[0]
        n = int(src.attrs["num_images"])
    with h5py.File(copy("nan.h5"), "r+") as f:
        f["codes/" + layer][min(3, n - 1), 7] = np.nan
    with h5py.File(copy("one_class.h5"), "r+") as f:
        f["labels"][:n] = 0
    with h5py.File(copy("empty.h5"), "r+") as f:
        f.attrs["num_images"] = 0
    with h5py.File(copy("other_dimension.h5"), "r+") as f:
        codes = f["codes/" + layer][:n, :100]
        del f["codes/" + layer]
        f.create_dataset("codes/" + layer, data=codes)
    with h5py.File(copy("two_layers.h5"), "r+") as f:
        f["codes/extra"] = f["codes/" + layer][:n]
        f.attrs["layers"] = layer + ",extra"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("reference")
    r.add_argument("--train", required=True)
    r.add_argument("--val", required=True)
    r.add_argument("--layer")
    r.add_argument("--normalize", default="none", choices=["none", "l2", "standard"])
    r.add_argument("--folds", type=int, default=5)
    r.add_argument("--svm-grid", default="2^-10..2^10")
    r.add_argument("--softmax-grid", default="0.01,0.1,1,10,100")
    s = sub.add_parser("svmlight")
    s.add_argument("--codes", required=True)
    s.add_argument("--layer")
    s.add_argument("--normalize", default="none", choices=["none", "l2"])
    s.add_argument("--out", required=True)
    v = sub.add_parser("variants")
    v.add_argument("--codes", required=True)
    v.add_argument("--out", required=True)
    args = p.parse_args()
    {"reference": reference, "svmlight": svmlight, "variants": variants}[args.command](args)


if __name__ == "__main__":
    main()
