"""Checks a codes file against schema version 1 the way a user would read it in h5py, then prints "ok".
Each failed check prints one line starting with "FAIL" and the script exits with status 1.

usage: check_codes.py FILE
"""
import sys

import h5py
import numpy as np

STRING_ATTRS = ["model", "weights_file", "weights_sha256", "layers", "pooling", "preprocessing", "tool_version"]


def main(path):
    failures = []

    def expect(condition, message):
        if not condition:
            failures.append(message)

    with h5py.File(path, "r") as f:
        a = f.attrs
        expect(a["format_version"] == 1 and isinstance(a["format_version"], np.integer), "format_version is int 1")
        for name in STRING_ATTRS:
            expect(isinstance(a[name], str), f"attribute {name} is str, got {type(a[name]).__name__}")
        for name in ["complete", "num_images"]:
            expect(isinstance(a[name], np.integer), f"attribute {name} is an integer")
        n = int(a["num_images"])
        layers = a["layers"].split(",")
        expect(list(f["codes"].keys()) == sorted(layers), f"codes/ holds {list(f['codes'].keys())}, layers {layers}")
        for layer in layers:
            ds = f["codes"][layer]
            expect(ds.dtype == np.float32 and ds.ndim == 2, f"codes/{layer} is float32 2-D, got {ds.dtype} {ds.shape}")
            expect(ds.shape[0] == n, f"codes/{layer} has {ds.shape[0]} rows, num_images {n}")
            expect(ds.maxshape[0] is None, f"codes/{layer} is resizable")
        expect(f["labels"].dtype == np.int32 and f["labels"].shape == (n,), f"labels int32 [{n}]")
        for name in ["paths", "classes", "skipped"]:
            info = h5py.check_string_dtype(f[name].dtype)
            expect(info is not None and info.encoding == "utf-8" and info.length is None,
                   f"{name} is a variable-length utf-8 string dataset")
            expect(f[name].ndim == 1, f"{name} is 1-D")
            expect(all(isinstance(s, str) for s in f[name].asstr()[()]), f"{name}.asstr() gives str")
        expect(f["paths"].shape == (n,), f"paths has {n} rows")
        labels = f["labels"][()]
        expect(bool(np.all((labels >= -1) & (labels < len(f["classes"])))), "labels index classes or are -1")

    for message in failures:
        print("FAIL", message)
    if failures:
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
