"""Writes the files the Swift H5 tests read, with h5py, into DIR (the tests run it into a temporary
directory; nothing binary is committed). Each FILE.h5 comes with FILE.json holding the values written.

usage: make_golden.py DIR
"""
import json
import os
import sys

import h5py
import numpy as np

# The metadata the Swift tests construct for the codes files below; keep the two in step.
CODES_ATTRS = {
    "model": "alexnet",
    "weights_file": "alexnet-owt-7be5be79.pth",
    "weights_sha256": "7be5be79" + "0" * 56,
    "layers": "fc7,features.10",
    "pooling": "none",
    "preprocessing": "resize 256, center crop 224, ImageNet mean/std",
    "tool_version": "0.1.0",
    "dataset": "digits",
}
DIMS = {"fc7": 6, "features.10": 4}
CLASSES = ["zero", "one", "two"]


def generic(directory):
    rng = np.random.default_rng(0)
    floats = rng.standard_normal((7, 5)).astype(np.float32)
    ints = np.array([3, -1, 2147483647, -2147483648, 0], dtype=np.int32)
    strings = ["a", "", "naïve café", "日本語", "path/with spaces/x.jpg"]
    with h5py.File(os.path.join(directory, "generic.h5"), "w") as f:
        f.attrs["text"] = "Grüße ✓"
        f.attrs["count"] = 42
        f.attrs["ratio"] = 0.125
        f.attrs["names"] = ["fc6", "fc7", "ü"]
        f.attrs["fixed"] = np.bytes_(b"fixed ascii")
        f.create_dataset("floats", data=floats, maxshape=(None, 5), chunks=(4, 5))
        f.create_dataset("contiguous", data=floats)
        f.create_dataset("ints", data=ints, maxshape=(None,), chunks=(2,))
        f.create_dataset("strings", data=strings, dtype=h5py.string_dtype(), maxshape=(None,), chunks=(2,))
        f.create_dataset("float64", data=floats.astype(np.float64))
        g = f.create_group("group/sub")
        g.attrs["note"] = "inside"
    expected = {"floats": floats.tolist(), "ints": ints.tolist(), "strings": strings,
                "text": "Grüße ✓", "count": 42, "ratio": 0.125, "names": ["fc6", "fc7", "ü"], "fixed": "fixed ascii"}
    with open(os.path.join(directory, "generic.json"), "w") as out:
        json.dump(expected, out, ensure_ascii=False)


def codes(directory, name, rows, num_images, complete=1, version=1):
    """A codes file as `pipeline extract` would write it; `rows` > `num_images` is what a kill after the
    data but before the `num_images` update leaves."""
    rng = np.random.default_rng(rows)
    data = {layer: rng.standard_normal((rows, d)).astype(np.float32) for layer, d in DIMS.items()}
    labels = (np.arange(rows) % (len(CLASSES) + 1) - 1).astype(np.int32)
    paths = [f"{CLASSES[max(label, 0)]}/img_{i:03d}.png" for i, label in enumerate(labels)]
    skipped = ["broken/a.jpg: not a JPEG file: starts with 0x00 0x00"]
    with h5py.File(os.path.join(directory, name + ".h5"), "w") as f:
        f.attrs["format_version"] = version
        for key, value in CODES_ATTRS.items():
            f.attrs[key] = value
        f.attrs["complete"] = complete
        f.attrs["num_images"] = num_images
        for layer, d in DIMS.items():
            f.create_dataset(f"codes/{layer}", data=data[layer], maxshape=(None, d), chunks=(16, d))
        f.create_dataset("labels", data=labels, maxshape=(None,), chunks=(64,))
        for key, values in [("paths", paths), ("classes", CLASSES), ("skipped", skipped)]:
            f.create_dataset(key, data=values, dtype=h5py.string_dtype(), maxshape=(None,), chunks=(64,))
    expected = {"codes": {k: v.tolist() for k, v in data.items()}, "labels": labels.tolist(), "paths": paths,
                "classes": CLASSES, "skipped": skipped, "num_images": num_images}
    with open(os.path.join(directory, name + ".json"), "w") as out:
        json.dump(expected, out, ensure_ascii=False)


def main(directory):
    os.makedirs(directory, exist_ok=True)
    generic(directory)
    codes(directory, "codes", rows=10, num_images=10)
    codes(directory, "codes_killed", rows=6, num_images=4, complete=0)
    codes(directory, "codes_v2", rows=2, num_images=2, version=2)


if __name__ == "__main__":
    main(sys.argv[1])
