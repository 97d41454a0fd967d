"""Prints an HDF5 file as h5py sees it, as JSON: every attribute's Python type and value, every dataset's
dtype, shape, maxshape, chunks, compression, string encoding and values. The Swift tests assert on it.

usage: dump_h5.py FILE
"""
import json
import sys

import h5py
import numpy as np


def plain(value):
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value


def attributes(obj):
    out = {}
    for name, value in obj.attrs.items():
        element = type(value[0]).__name__ if isinstance(value, np.ndarray) and value.size else None
        out[name] = {"type": type(value).__name__, "element_type": element, "value": plain(value)}
    return out


def dataset(ds):
    info = h5py.check_string_dtype(ds.dtype)
    values = ds.asstr()[()] if info is not None else ds[()]
    return {
        "dtype": ds.dtype.str if info is None else "string",
        "string_encoding": info.encoding if info is not None else None,
        "string_length": info.length if info is not None else None,
        "shape": list(ds.shape),
        "maxshape": [-1 if m is None else m for m in ds.maxshape],
        "chunks": list(ds.chunks) if ds.chunks else None,
        "compression": ds.compression,
        "shuffle": ds.shuffle,
        "values": plain(values),
        "attrs": attributes(ds),
    }


def main(path):
    with h5py.File(path, "r") as f:
        out = {"attrs": attributes(f), "groups": {}, "datasets": {}}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out["datasets"][name] = dataset(obj)
            else:
                out["groups"][name] = {"attrs": attributes(obj), "keys": list(obj.keys())}
        f.visititems(visit)
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1])
