"""The safetensors writer of the reference scripts (make_reference.py, make_vlb_reference.py), by hand with
struct and json so that the `safetensors` package is not needed, and a reader that checks what it wrote."""
import json
import os
import struct

import torch

DTYPE_NAMES = {torch.float32: "F32", torch.float64: "F64", torch.bfloat16: "BF16", torch.float16: "F16",
               torch.int32: "I32", torch.int64: "I64", torch.bool: "BOOL"}


def tensor_bytes(t):
    # Through uint8, because numpy has no bfloat16; reshape(-1) gives 0-dim tensors a dim to view.
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def write_safetensors(path, named, meta):
    # Largest elements first, so that each tensor's offset is a multiple of its element size.
    order = sorted(named, key=lambda n: -named[n].element_size())
    header = {"__metadata__": meta}
    blobs, offset = [], 0
    for name in order:
        data = tensor_bytes(named[name])
        header[name] = {"dtype": DTYPE_NAMES[named[name].dtype], "shape": list(named[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
    os.replace(tmp, path)


def read_safetensors(path):
    """Reads the file back, to check the writer above (not a general reader: it trusts the file)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    by_name = {v: k for k, v in DTYPE_NAMES.items()}
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        raw = bytearray(blob[8 + n + begin:8 + n + end])
        t = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.zeros(0, dtype=torch.uint8)
        out[name] = t.view(by_name[info["dtype"]]).reshape(info["shape"])
    return out, meta


def write_and_check(path, tensors, metadata):
    """Writes the file, reads it back, checks every tensor and the metadata, and says what it wrote."""
    write_safetensors(path, tensors, metadata)
    back, back_meta = read_safetensors(path)
    assert back_meta == metadata and back.keys() == tensors.keys()
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and back[name].shape == t.shape and torch.equal(back[name], t), name
    print(f"wrote {path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")
