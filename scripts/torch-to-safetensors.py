"""Converts a PyTorch checkpoint in the legacy (pre-1.6, non-zip) format to
safetensors, without PyTorch: Candle reads only the zip form, and the
example EfficientNet-Lite0 weights ship in the legacy one.

The legacy format is five things back to back: four pickles (a magic
number, the protocol version, system info, then the state dict whose
tensors refer to storages by key) and a pickle listing the storage keys in
the order their raw bytes follow, each as a little-endian int64 element
count then the data. Tensors are rebuilt here as (storage, offset, shape,
stride) descriptions and written out contiguous, whatever their strides
(these weights, converted from TensorFlow, have channels-last strides).

The output is deterministic (tensors sorted by name, no metadata), so its
SHA-256 can be pinned in a bundle's wick.toml.

Usage: torch-to-safetensors.py IN.pth OUT.safetensors [--skip SUFFIX]...
"""

import json
import pickle
import struct
import sys

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL = 1001

# PyTorch storage classes: (safetensors dtype, bytes per element).
STORAGES = {
    "FloatStorage": ("F32", 4),
    "DoubleStorage": ("F64", 8),
    "HalfStorage": ("F16", 2),
    "BFloat16Storage": ("BF16", 2),
    "LongStorage": ("I64", 8),
    "IntStorage": ("I32", 4),
    "ShortStorage": ("I16", 2),
    "CharStorage": ("I8", 1),
    "ByteStorage": ("U8", 1),
    "BoolStorage": ("BOOL", 1),
}


class Storage:
    def __init__(self, kind, key, elements):
        self.kind, self.key, self.elements = kind, key, elements


class Tensor:
    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset = storage, offset
        self.shape, self.stride = tuple(shape), tuple(stride)


def rebuild_tensor(storage, offset, shape, stride, *_rest):
    return Tensor(storage, offset, shape, stride)


class StorageType:
    def __init__(self, name):
        self.name = name


class Unpickler(pickle.Unpickler):
    """Reads the state dict with stand-ins for torch's classes."""

    def __init__(self, file, storages):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return rebuild_tensor
        if module == "torch" and name in STORAGES:
            return StorageType(name)
        if module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected class {module}.{name} in the checkpoint")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, elements = pid[:5]
        if kind != "storage" or not isinstance(storage_type, StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        storage = self.storages.setdefault(key, Storage(storage_type.name, key, elements))
        return storage


def read_checkpoint(path):
    with open(path, "rb") as f:
        if pickle.load(f) != MAGIC:
            sys.exit(f"{path}: not a legacy PyTorch checkpoint (no magic number)")
        if pickle.load(f) != PROTOCOL:
            sys.exit(f"{path}: unsupported checkpoint protocol")
        pickle.load(f)  # system info: endianness and type sizes
        storages = {}
        state = Unpickler(f, storages).load()
        keys = pickle.load(f)
        data = {}
        for key in keys:
            (elements,) = struct.unpack("<q", f.read(8))
            size = STORAGES[storages[key].kind][1]
            data[key] = f.read(elements * size)
            if len(data[key]) != elements * size:
                sys.exit(f"{path}: storage {key} is truncated")
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state, data


def contiguous_stride(shape):
    stride, step = [], 1
    for dim in reversed(shape):
        stride.append(step)
        step *= dim
    return tuple(reversed(stride))


def tensor_bytes(tensor, data):
    """The tensor's elements in row-major order, as raw bytes."""
    dtype, size = STORAGES[tensor.storage.kind]
    count = 1
    for dim in tensor.shape:
        count *= dim
    storage = memoryview(data[tensor.storage.key])
    if count <= 1 or tensor.stride == contiguous_stride(tensor.shape):
        start = tensor.offset * size
        return dtype, bytes(storage[start : start + count * size])
    # Element offsets in row-major order of the shape, then a gather.
    offsets = [tensor.offset]
    for dim, step in zip(tensor.shape, tensor.stride):
        offsets = [base + i * step for base in offsets for i in range(dim)]
    out = bytearray(count * size)
    for index, offset in enumerate(offsets):
        out[index * size : (index + 1) * size] = storage[offset * size : (offset + 1) * size]
    return dtype, bytes(out)


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        dtype, shape, raw = tensors[name]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    source, target = argv[1], argv[2]
    skip = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--skip" and i + 1 < len(argv)]
    state, data = read_checkpoint(source)
    tensors = {}
    for name, tensor in state.items():
        if any(name.endswith(suffix) for suffix in skip):
            continue
        if not isinstance(tensor, Tensor):
            sys.exit(f"{name} is not a tensor")
        dtype, raw = tensor_bytes(tensor, data)
        tensors[name] = (dtype, tensor.shape, raw)
    write_safetensors(target, tensors)
    print(f"torch-to-safetensors: {len(tensors)} tensors from {source} to {target}")


if __name__ == "__main__":
    main(sys.argv)
