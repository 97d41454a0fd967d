#!/usr/bin/env python3
"""Checks a `pipeline finetune` output with the `safetensors` package, independently of the tool:
  check_finetuned.py BASE TUNED CLASSES FROZEN_PREFIXES TRAINED_PREFIXES
BASE: the checkpoint fine-tuning started from (safetensors with torchvision's keys); TUNED: --out;
CLASSES: comma-separated class names; *_PREFIXES: comma-separated key prefixes.
- TUNED has exactly BASE's keys, with BASE's shapes except the head (fc.weight [n, in], fc.bias [n]);
- __metadata__ says format pipeline-finetuned/1, the architecture, the classes, and BASE's sha256 (hashlib);
- every tensor under FROZEN_PREFIXES equals BASE's bit for bit, BatchNorm running_mean/running_var
  included (frozen BatchNorm stays in evaluation mode, its statistics untouched);
- under TRAINED_PREFIXES the weights and the BatchNorm running statistics changed.
Prints OK or the failures, exit status 1 on failure.
"""
import hashlib
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def main():
    base_path, tuned_path, classes, frozen, trained = sys.argv[1:6]
    classes = classes.split(",")
    frozen = [p for p in frozen.split(",") if p]
    trained = [p for p in trained.split(",") if p]
    base, tuned = load_file(base_path), load_file(tuned_path)
    with safe_open(tuned_path, "np") as f:
        meta = f.metadata() or {}
    problems = []
    if set(base) != set(tuned):
        problems.append(f"keys differ: only in base {sorted(set(base) - set(tuned))[:5]}, only in tuned {sorted(set(tuned) - set(base))[:5]}")
    head = {"fc.weight", "fc.bias", "_fc.weight", "_fc.bias", "classifier.6.weight", "classifier.6.bias"}
    for k in sorted(set(base) & set(tuned)):
        want = list(base[k].shape)
        if k in head:
            want[0] = len(classes)
        if k.endswith("num_batches_tracked"):
            # torchvision stores a scalar; the fixtures' numpy writer a 1-element vector.
            want = [] if list(tuned[k].shape) == [] else want
        if list(tuned[k].shape) != want:
            problems.append(f"{k}: shape {list(tuned[k].shape)}, expected {want}")
    sha = hashlib.sha256(open(base_path, "rb").read()).hexdigest()
    expected_meta = {"format": "pipeline-finetuned/1", "base_weights_sha256": sha}
    for k, v in expected_meta.items():
        if meta.get(k) != v:
            problems.append(f"metadata {k} = {meta.get(k)!r}, expected {v!r}")
    if json.loads(meta.get("classes", "null")) != classes:
        problems.append(f"metadata classes = {meta.get('classes')!r}, expected {classes}")
    frozen_keys = [k for k in base if any(k.startswith(p + ".") for p in frozen)]
    if not frozen_keys and frozen:
        problems.append(f"no keys under {frozen}")
    for k in frozen_keys:
        if k.endswith("num_batches_tracked"):
            continue
        if tuned[k].shape != base[k].shape or not np.array_equal(tuned[k].astype(np.float32), base[k].astype(np.float32)):
            problems.append(f"frozen {k} changed: max abs diff {np.max(np.abs(tuned[k] - base[k]))}")
    for p in trained:
        keys = [k for k in base if k.startswith(p + ".") and not k.endswith("num_batches_tracked")]
        weights = [k for k in keys if k.endswith("weight")]
        stats = [k for k in keys if k.endswith("running_mean") or k.endswith("running_var")]
        for group, what in ((weights, "weights"), (stats, "BatchNorm running statistics")):
            if not group:
                continue
            if all(np.array_equal(tuned[k], base[k]) for k in group):
                problems.append(f"{what} under {p} did not change")
    print("\n".join(problems) if problems else f"OK: {len(tuned)} tensors, {len(frozen_keys)} frozen ones unchanged")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
