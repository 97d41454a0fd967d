#!/usr/bin/env python3
"""Golden files for CheckpointTests, made without torch (which the project never installs).

    .cache/venv/bin/python Tests/ExtractTests/Golden/make_checkpoints.py [--layout REAL_TORCH_ZIP]

1. Reads the real EfficientNet-Lite0 checkpoint (.cache/weights, written by PyTorch in its legacy
   format) with a reader of its own: pickle.Unpickler with persistent_load, as
   torch/serialization.py `_legacy_load` does, and numpy for the storages. It dumps every key's
   name, shape, dtype, sum and bit-pattern sum to checkpoints/efficientnet_lite0.json.
2. Writes small checkpoints in torch's zip format the way `torch.save` does (torch/serialization.py
   `_save`; tensors reduced as torch/_tensor.py `__reduce_ex__` -> torch/_utils.py
   `_rebuild_tensor_v2`; records laid out as caffe2/serialize/inline_container.cc
   PyTorchStreamWriter: STORED, data aligned to 64 bytes by an "FB" extra field, data descriptors,
   ZIP64 end records), a safetensors file written by the `safetensors` package, and
   checkpoints/expected.json with numpy's values for all of them.

--layout prints the zip layout facts of a real torch-written archive next to ours, to compare.
"""
import argparse
import collections
import json
import os
import pickle
import struct
import sys
import types
import zipfile
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "checkpoints")
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
REAL = os.path.join(ROOT, ".cache", "weights", "efficientnet-lite0-57934424.pth")

# torch storage class -> numpy dtype (bfloat16 is carried as its uint16 bit pattern).
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


def as_float32(array, storage_name):
    """What the Swift reader promises: every dtype as float32 (bfloat16 bits are the top half)."""
    if storage_name == "BFloat16Storage":
        return (array.astype(np.uint32) << 16).view(np.float32)
    return array.astype(np.float32)


def summary(array32):
    flat = np.ascontiguousarray(array32).reshape(-1)
    return {
        "sum": float(flat.astype(np.float64).sum()),
        "bitsum": int(flat.view(np.uint32).astype(np.uint64).sum(dtype=np.uint64)),
        "first": [float(v) for v in flat[:4]],
        "last": float(flat[-1]) if flat.size else None,
    }


# ---------------------------------------------------------------- 1. reading the legacy format

class _LazyTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild(storage, offset, size, stride, *rest):
    return _LazyTensor(storage, offset, size, stride)


class LegacyUnpickler(pickle.Unpickler):
    """Resolves only the names a state dict needs; anything else is refused."""

    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, *rest: data
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refusing {module}.{name}")

    def persistent_load(self, pid):
        # ('storage', storage_type, root_key, location, numel, view_metadata): _legacy_save.
        kind, storage_type, key, _location, numel, view = pid
        assert kind == "storage" and view is None, pid
        self.storages[key] = (storage_type, numel)
        return key


def read_legacy(path):
    storages, arrays = {}, {}
    with open(path, "rb") as f:
        assert pickle.load(f) == 0x1950A86A20F9469CFC6C  # MAGIC_NUMBER
        assert pickle.load(f) == 1001  # PROTOCOL_VERSION
        sys_info = pickle.load(f)
        assert sys_info["little_endian"]
        obj = LegacyUnpickler(f, storages).load()
        for key in pickle.load(f):
            name, numel = storages[key]
            (count,) = struct.unpack("<q", f.read(8))
            assert count == numel
            dtype = np.dtype(STORAGE_DTYPES[name])
            arrays[key] = np.frombuffer(f.read(count * dtype.itemsize), dtype=dtype)
    out = collections.OrderedDict()
    for k, t in obj.items():
        base = arrays[t.storage]
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[t.offset:], shape=t.size, strides=[s * item for s in t.stride])
        out[k] = (storages[t.storage][0], np.array(view))
    return out


def golden_real():
    tensors = read_legacy(REAL)
    rows = []
    for key, (storage_name, array) in tensors.items():
        rows.append({"key": key, "shape": list(array.shape), "storage": storage_name,
                     **summary(as_float32(array, storage_name))})
    return {"file": ".cache/weights/efficientnet-lite0-57934424.pth", "tensors": rows}


# ---------------------------------------------------------------- 2. writing torch's zip format

# Stand-ins for the torch names a checkpoint's pickle refers to, registered under torch's module
# names so that pickle writes the same GLOBAL opcodes torch does. This script never imports torch.
_torch = types.ModuleType("torch")
_torch_utils = types.ModuleType("torch._utils")
_torch.__path__ = []
_torch._utils = _torch_utils


def _stand_in(module, name, obj):
    obj.__module__, obj.__qualname__, obj.__name__ = module.__name__, name, name
    setattr(module, name, obj)
    return obj


STORAGE_CLASSES = {name: _stand_in(_torch, name, type(name, (), {})) for name in STORAGE_DTYPES}
REBUILD_TENSOR_V2 = _stand_in(_torch_utils, "_rebuild_tensor_v2", lambda *a: None)
REBUILD_PARAMETER = _stand_in(_torch_utils, "_rebuild_parameter", lambda *a: None)


class Storage:
    """A typed storage: `dtype_name` is torch's storage class, `array` its elements."""

    def __init__(self, dtype_name, array):
        self.dtype_name, self.array = dtype_name, np.ascontiguousarray(array).reshape(-1)


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def __reduce_ex__(self, protocol):
        # torch/_tensor.py _reduce_ex_internal for a CPU tensor without metadata.
        return (REBUILD_TENSOR_V2,
                (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))

    def logical(self):
        base = self.storage.array
        view = np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.size, strides=[s * base.itemsize for s in self.stride])
        return np.array(view)


class Parameter(Tensor):
    def __reduce_ex__(self, protocol):
        # torch/nn/parameter.py Parameter.__reduce_ex__.
        return (REBUILD_PARAMETER, (Tensor(self.storage, self.offset, self.size, self.stride), True,
                                    collections.OrderedDict()))


def contiguous(dtype_name, array):
    array = np.asarray(array)
    strides = [s // array.itemsize for s in np.ascontiguousarray(array).strides] if array.ndim else []
    return Tensor(Storage(dtype_name, array), 0, array.shape, strides)


def pickle_like_torch(obj):
    """torch/serialization.py _save: protocol 2, storages named by persistent ids in first-seen order."""
    import io
    id_map, storages = {}, {}

    class TorchPickler(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, Storage):
                key = id_map.setdefault(id(o), str(len(id_map)))
                storages[key] = o
                return ("storage", STORAGE_CLASSES[o.dtype_name], key, "cpu", o.array.size)
            return None

    sys.modules["torch"], sys.modules["torch._utils"] = _torch, _torch_utils
    try:
        buf = io.BytesIO()
        TorchPickler(buf, protocol=2).dump(obj)
    finally:
        del sys.modules["torch"], sys.modules["torch._utils"]
    return buf.getvalue(), storages


class StreamWriter:
    """caffe2/serialize/inline_container.cc PyTorchStreamWriter over miniz, in the layout a real
    torch-written archive shows: version-needed 0, UTF-8 flag, sizes in a data descriptor, data
    aligned to 64 bytes by an 'FB' extra field of 'Z's, ZIP64 end records always written.
    `force_zip64` also puts every size and offset in ZIP64 extra fields, as miniz does for
    entries past 4 GiB, so the small test file exercises that path."""

    ALIGN = 64

    def __init__(self, force_zip64=False):
        self.out, self.central, self.force_zip64 = bytearray(), [], force_zip64

    def write_record(self, name, data):
        data = data.encode() if isinstance(data, str) else bytes(data)
        name_b = name.encode()
        offset = len(self.out)
        start = offset + 30 + len(name_b) + 4
        padding = (-start) % self.ALIGN
        extra = b"FB" + struct.pack("<H", padding) + b"Z" * padding
        flags = 0x0800 | (0x0008 if data else 0)
        self.out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 0, flags, 0, 0, 0, 0, 0, 0, len(name_b), len(extra))
        self.out += name_b + extra
        assert len(self.out) % self.ALIGN == 0
        self.out += data
        crc = zlib.crc32(data)
        if data:
            self.out += struct.pack("<IIII", 0x08074B50, crc, len(data), len(data))
        self.central.append((name_b, crc, len(data), offset))

    def finish(self):
        cd_offset = len(self.out)
        for name_b, crc, size, offset in self.central:
            if self.force_zip64:
                extra = struct.pack("<HHQQQ", 1, 24, size, size, offset)
                size32 = offset32 = 0xFFFFFFFF
            else:
                extra, size32, offset32 = b"", size, offset
            self.out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0, 0, 0x0800, 0, 0, 0, crc, size32, size32,
                                    len(name_b), len(extra), 0, 0, 0, 0, offset32)
            self.out += name_b + extra
        cd_size = len(self.out) - cd_offset
        n = len(self.central)
        zip64_at = len(self.out)
        self.out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 0x002D, 0, 0, n, n, cd_size, cd_offset)
        self.out += struct.pack("<IIQI", 0x07064B50, 0, zip64_at, 1)
        if self.force_zip64:
            self.out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
        else:
            self.out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cd_size, cd_offset, 0)
        return bytes(self.out)


def torch_save(obj, path, folder="archive", force_zip64=False):
    data_pkl, storages = pickle_like_torch(obj)
    w = StreamWriter(force_zip64)
    w.write_record(f"{folder}/data.pkl", data_pkl)
    w.write_record(f"{folder}/.format_version", "1")
    w.write_record(f"{folder}/.storage_alignment", "64")
    w.write_record(f"{folder}/byteorder", "little")
    for key, s in storages.items():
        w.write_record(f"{folder}/data/{key}", s.array.tobytes())
    w.write_record(f"{folder}/version", "3\n")
    w.write_record(f"{folder}/.data/serialization_id", "0" * 40)
    blob = w.finish()
    with open(path, "wb") as f:
        f.write(blob)
    with zipfile.ZipFile(path) as z:  # Python's own zip reader agrees, CRCs included.
        assert z.testzip() is None and z.namelist()[0] == f"{folder}/data.pkl"


def expected(tensors):
    out = collections.OrderedDict()
    for key, (t, name) in tensors.items():
        values = as_float32(t.logical(), name)
        out[key] = {"shape": list(t.size), "values": [float(v) for v in values.reshape(-1)]}
    return out


def make_zip_files(rng):
    golden = collections.OrderedDict()

    # Every dtype, a Parameter, a 0-dim buffer, an empty tensor, strided views and shared storages.
    full = Storage("FloatStorage", rng.standard_normal(12).astype(np.float32))
    bf16_bits = (rng.standard_normal(14).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    conv_b = contiguous("FloatStorage", rng.standard_normal(4).astype(np.float32))
    tensors = collections.OrderedDict([
        ("conv.weight", (contiguous("FloatStorage", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)), "FloatStorage")),
        ("conv.bias", (Parameter(conv_b.storage, 0, (4,), (1,)), "FloatStorage")),
        ("half.weight", (contiguous("HalfStorage", rng.standard_normal((5, 3)).astype(np.float16)), "HalfStorage")),
        ("bf16.weight", (contiguous("BFloat16Storage", bf16_bits.reshape(2, 7)), "BFloat16Storage")),
        ("double.weight", (contiguous("DoubleStorage", rng.standard_normal(6)), "DoubleStorage")),
        ("bn.running_mean", (contiguous("FloatStorage", rng.standard_normal(3).astype(np.float32)), "FloatStorage")),
        ("bn.num_batches_tracked", (contiguous("LongStorage", np.array(1234567, dtype=np.int64)), "LongStorage")),
        ("ints.int32", (contiguous("IntStorage", np.array([-7, 0, 2**20], dtype=np.int32)), "IntStorage")),
        ("ints.int8", (contiguous("CharStorage", np.array([-128, 5, 127], dtype=np.int8)), "CharStorage")),
        ("ints.uint8", (contiguous("ByteStorage", np.array([0, 200, 255], dtype=np.uint8)), "ByteStorage")),
        ("mask", (contiguous("BoolStorage", np.array([True, False, True])), "BoolStorage")),
        ("empty", (contiguous("FloatStorage", np.zeros(0, dtype=np.float32)), "FloatStorage")),
        # Views of one storage of 12 floats: whole, transposed, sliced with an offset, every other.
        ("shared.full", (Tensor(full, 0, (3, 4), (4, 1)), "FloatStorage")),
        ("shared.transposed", (Tensor(full, 0, (4, 3), (1, 4)), "FloatStorage")),
        ("shared.sliced", (Tensor(full, 5, (2, 3), (3, 1)), "FloatStorage")),
        ("shared.every_other", (Tensor(full, 1, (5,), (2,)), "FloatStorage")),
    ])
    sd = collections.OrderedDict((k, t) for k, (t, _) in tensors.items())
    # Module.state_dict() sets _metadata, which pickles as BUILD state of the OrderedDict.
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("bn", {"version": 2})])
    torch_save(sd, os.path.join(OUT, "dtypes.pt"))
    golden["dtypes.pt"] = {"keys": list(tensors), "tensors": expected(tensors)}

    # A training script's checkpoint of a DataParallel model, in an archive folder named after it.
    small = collections.OrderedDict([
        ("module.features.0.weight", (contiguous("FloatStorage", rng.standard_normal((2, 1, 3, 3)).astype(np.float32)), "FloatStorage")),
        ("module.features.0.bias", (contiguous("FloatStorage", rng.standard_normal(2).astype(np.float32)), "FloatStorage")),
        ("module.classifier.weight", (contiguous("HalfStorage", rng.standard_normal((3, 2)).astype(np.float16)), "HalfStorage")),
    ])
    momentum = contiguous("FloatStorage", np.ones(2, dtype=np.float32))
    wrapped = {
        "epoch": 3,
        "arch": "toy",
        "args": argparse.Namespace(lr=0.1, resume=None),
        "best_acc1": 71.5,
        "state_dict": collections.OrderedDict((k, t) for k, (t, _) in small.items()),
        "optimizer": {"state": {0: {"momentum_buffer": momentum}},
                      "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0, 1, 2], "nesterov": False}]},
        "note": b"bytes \x00\xff",
    }
    torch_save(wrapped, os.path.join(OUT, "wrapped.pt"), folder="wrapped")
    stripped = collections.OrderedDict((k[len("module."):], v) for k, v in small.items())
    golden["wrapped.pt"] = {"keys": list(stripped), "tensors": expected(stripped)}

    # ZIP64 fields everywhere.
    z64 = collections.OrderedDict([
        ("fc.weight", (contiguous("FloatStorage", rng.standard_normal((3, 5)).astype(np.float32)), "FloatStorage")),
        ("fc.bias", (contiguous("FloatStorage", rng.standard_normal(3).astype(np.float32)), "FloatStorage")),
    ])
    torch_save(collections.OrderedDict((k, t) for k, (t, _) in z64.items()), os.path.join(OUT, "zip64.pt"),
               force_zip64=True)
    golden["zip64.pt"] = {"keys": list(z64), "tensors": expected(z64)}

    # The same archive re-zipped with DEFLATE, which the reader must refuse clearly.
    with zipfile.ZipFile(os.path.join(OUT, "zip64.pt")) as src, \
            zipfile.ZipFile(os.path.join(OUT, "deflated.pt"), "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible bytes
            dst.writestr(info, src.read(name), compress_type=zipfile.ZIP_DEFLATED)
    golden["deflated.pt"] = {"error": "DEFLATE"}
    return golden


def make_safetensors(rng):
    from safetensors.numpy import save_file
    arrays = collections.OrderedDict([
        ("conv.weight", rng.standard_normal((2, 3, 1, 1)).astype(np.float32)),
        ("conv.bias", rng.standard_normal(2).astype(np.float32)),
        ("half", rng.standard_normal((2, 2)).astype(np.float16)),
        ("double", rng.standard_normal(3)),
        ("bn.num_batches_tracked", np.array(17, dtype=np.int64)),
        ("bytes", np.array([1, 2, 250], dtype=np.uint8)),
    ])
    path = os.path.join(OUT, "numpy.safetensors")
    save_file(dict(arrays), path, metadata={"format": "pt"})
    # Keys in the order of their bytes in the file: what the reader reports as file order.
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    order = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
    return {"numpy.safetensors": {
        "keys": order,
        "tensors": {k: {"shape": list(arrays[k].shape),
                        "values": [float(v) for v in arrays[k].astype(np.float32).reshape(-1)]} for k in order}}}


def layout(path):
    """Facts about a zip archive's records, to set ours beside a real torch-written one."""
    data = open(path, "rb").read()
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
    facts = collections.Counter()
    for i in infos:
        sig, need, flags, method = struct.unpack("<IHHH", data[i.header_offset:i.header_offset + 10])
        nl, el = struct.unpack("<HH", data[i.header_offset + 26:i.header_offset + 30])
        extra = data[i.header_offset + 30 + nl:i.header_offset + 30 + nl + el]
        start = i.header_offset + 30 + nl + el
        facts[f"local: need={need} flags={flags:#06x} method={method} extra={extra[:2]!r} aligned64={start % 64 == 0}"] += 1
    has_zip64 = data.rfind(b"PK\x06\x06") >= 0
    facts[f"zip64 end record: {has_zip64}"] += 1
    facts[f"records: {[i.filename.split('/', 1)[1] for i in infos if '/code/' not in i.filename][:6]}"] += 1
    return facts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layout", help="a real torch-written zip archive to compare layouts with")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    if args.layout:
        for name, path in (("real", args.layout), ("ours", os.path.join(OUT, "dtypes.pt"))):
            print(f"== {name}: {path}")
            for fact, count in sorted(layout(path).items()):
                print(f"  {count:4d} x {fact}")
        return

    rng = np.random.default_rng(20240601)
    with open(os.path.join(OUT, "efficientnet_lite0.json"), "w") as f:
        json.dump(golden_real(), f, indent=0)
    golden = make_zip_files(rng)
    golden.update(make_safetensors(rng))
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(golden, f, indent=1)
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
