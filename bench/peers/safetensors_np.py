"""The safetensors format read and written with numpy alone, so that the peer scripts run where the
`safetensors` package is not installed (the GPU machine). Layout: an 8-byte little-endian header length,
a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the raw
little-endian data. The dtypes the project writes: F32, F64, I32 (and I64, F16 for reading others' files).
"""
import json
import os
import struct
import tempfile

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "F16": np.float16}
NAMES = {(np.dtype(v).kind, np.dtype(v).itemsize): k for k, v in DTYPES.items()}


def read(path):
    """Returns ({name: array}, {metadata}); names in file order. Checks every byte range."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: {len(raw)} bytes, shorter than the 8-byte header length")
    (hlen,) = struct.unpack("<Q", raw[:8])
    if 8 + hlen > len(raw):
        raise ValueError(f"{path}: header length {hlen} does not fit a file of {len(raw)} bytes")
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = memoryview(raw)[8 + hlen:]
    tensors = {}
    for name, t in header.items():
        if t["dtype"] not in DTYPES:
            raise ValueError(f"{path}: tensor '{name}' has dtype {t['dtype']}; supported: {sorted(DTYPES)}")
        dt = np.dtype(DTYPES[t["dtype"]]).newbyteorder("<")
        begin, end = t["data_offsets"]
        count = int(np.prod(t["shape"], dtype=np.int64))
        if not (0 <= begin <= end <= len(data)) or end - begin != count * dt.itemsize:
            raise ValueError(f"{path}: tensor '{name}': byte range [{begin}, {end}) does not hold {t['shape']} of "
                             f"{t['dtype']} within {len(data)} data bytes")
        tensors[name] = np.frombuffer(data[begin:end], dtype=dt).reshape(t["shape"]).astype(dt.newbyteorder("="))
    return tensors, dict(meta)


def header_bytes(tensors, metadata=None):
    """The 8-byte length and the JSON header (padded to 8 bytes) for [(name, little-endian contiguous array)]."""
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, a in tensors:
        dtype = NAMES.get((a.dtype.kind, a.dtype.itemsize))
        if dtype is None:
            raise ValueError(f"tensor '{name}': dtype {a.dtype} is not one of {sorted(DTYPES)}")
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    js += b" " * ((8 - len(js) % 8) % 8)  # the format aligns the data start to 8 bytes
    return struct.pack("<Q", len(js)) + js


def write_atomic(path, writer):
    """Calls writer(file) on a temporary sibling of path, syncs it, then renames it over path."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write(path, tensors, metadata=None):
    """Writes {name: array} (F32, F64, I32, I64, F16) and string metadata; atomic (temporary sibling, then rename).
    The arrays are streamed, not copied into one buffer (the converter writes whole datasets through this)."""
    arrays = [(name, np.ascontiguousarray(a, dtype=np.asarray(a).dtype.newbyteorder("<"))) for name, a in tensors.items()]
    head = header_bytes(arrays, metadata)

    def writer(f):
        f.write(head)
        for _, a in arrays:
            f.write(memoryview(a.reshape(-1)).cast("B"))
    write_atomic(path, writer)
