#!/usr/bin/env python3
"""Reads a safetensors file with the `safetensors` package (the format's reference implementation)
and prints what it found as JSON, for CheckpointSafetensorsTests to compare with what Swift wrote.

    .cache/venv/bin/python check_safetensors.py FILE
"""
import json
import struct
import sys

from safetensors import safe_open
from safetensors.numpy import load_file

path = sys.argv[1]
tensors = load_file(path)
with safe_open(path, framework="numpy") as f:
    metadata = f.metadata()
with open(path, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header_keys = list(json.loads(f.read(n)))  # JSON object order as written
print(json.dumps({
    "header_keys": header_keys,
    "header_length": n,
    "metadata": metadata,
    "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape), "values": [float(x) for x in v.reshape(-1)]}
                for k, v in tensors.items()},
}))
