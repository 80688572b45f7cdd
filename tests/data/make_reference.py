#!/usr/bin/env python3
"""Writes tests/data/reference.safetensors: inputs, outputs and gradients computed by PyTorch for the
nn ops and three AdamW steps. tests/test_nn_reference.cpp compares ours with them, so no test needs
PyTorch to run (llm.c's test_gpt2 works the same way).

Run once, from any directory, with Debian's python3-torch and nothing else, then commit the file:

    /usr/bin/python3 tests/data/make_reference.py

The output is the same on every run (fixed seed, CPU, deterministic kernels). It is written in the
safetensors format by hand, with struct and json, so the `safetensors` package is not needed.

For each op case `<case>` the file holds its inputs `<case>.<input>`, the output `<case>.out`, a random
cotangent `<case>.cotangent` and the gradients `<case>.grad_<input>` of sum(out * cotangent) with
respect to every input. Cases are float64, so the C++ side can compare to ~1e-10; the `_f32` cases
check the float32 kernels. The op settings (stride, padding, ...) are listed in the metadata.
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.safetensors")

torch.manual_seed(0)
torch.use_deterministic_algorithms(True)

tensors = {}   # name -> tensor, in the order they were made
metadata = {}  # string -> string


def put(name, t):
    assert name not in tensors, name
    tensors[name] = t.detach().contiguous().clone()


def record_op(case, fn, inputs, settings):
    """Runs fn(**inputs), backpropagates sum(out * cotangent) and stores everything under `case`."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    out = fn(**leaves)
    cotangent = torch.randn(out.shape, dtype=out.dtype)
    (out * cotangent).sum().backward()
    for k, v in inputs.items():
        put(f"{case}.{k}", v)
    put(f"{case}.out", out)
    put(f"{case}.cotangent", cotangent)
    for k, v in leaves.items():
        put(f"{case}.grad_{k}", v.grad)
    metadata[case] = settings
    if out.dtype == torch.float32:
        check_float32_accuracy(case, fn, inputs, cotangent)


def check_float32_accuracy(case, fn, inputs, cotangent):
    """The C++ test compares float32 results to 1e-5 relative; make sure PyTorch's own float32 results
    are well inside that of the exact (float64) values, so the tolerance is not spent on its errors."""
    leaves = {k: v.double().requires_grad_(True) for k, v in inputs.items()}
    out = fn(**leaves)
    (out * cotangent.double()).sum().backward()
    pairs = [("out", tensors[f"{case}.out"], out)] + [
        (f"grad_{k}", tensors[f"{case}.grad_{k}"], v.grad) for k, v in leaves.items()]
    for name, ours, exact in pairs:
        err = ((ours.double() - exact).abs() / (exact.abs() + 1.0)).max().item()
        print(f"{case}.{name}: torch float32 within {err:.1e} of float64")
        assert err < 2e-6, f"{case}.{name}: torch float32 is {err:.2e} from float64"


def randn(*shape, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype)


# ---- conv2d: x [B, Cin, H, W], weight [Cout, Cin, kh, kw], bias [Cout] ------------------------------
for case, dtype in [("conv2d_s1p1", torch.float64), ("conv2d_s1p1_f32", torch.float32)]:
    record_op(case, lambda x, weight, bias: F.conv2d(x, weight, bias, stride=1, padding=1),
              {"x": randn(2, 3, 6, 5, dtype=dtype), "weight": randn(4, 3, 3, 3, dtype=dtype),
               "bias": randn(4, dtype=dtype)},
              "conv2d(x, weight, bias, stride=1, padding=1)")
# Odd input sizes: the output size floors (7 + 2 - 3) / 2 + 1 = 4.
record_op("conv2d_s2p1", lambda x, weight, bias: F.conv2d(x, weight, bias, stride=2, padding=1),
          {"x": randn(2, 3, 7, 6), "weight": randn(5, 3, 3, 3), "bias": randn(5)},
          "conv2d(x, weight, bias, stride=2, padding=1)")

# ---- conv_transpose2d: x [B, Cin, H, W], weight [Cin, Cout, kh, kw], bias [Cout] -------------------
# The U-Net's transposed upsampler (k=4, stride 2, padding 1) and a k=3 one with output_padding 1.
record_op("conv_transpose2d_k4s2p1",
          lambda x, weight, bias: F.conv_transpose2d(x, weight, bias, stride=2, padding=1),
          {"x": randn(2, 4, 5, 4), "weight": randn(4, 3, 4, 4), "bias": randn(3)},
          "conv_transpose2d(x, weight, bias, stride=2, padding=1, output_padding=0)")
record_op("conv_transpose2d_k3s2p1op1",
          lambda x, weight, bias: F.conv_transpose2d(x, weight, bias, stride=2, padding=1, output_padding=1),
          {"x": randn(2, 3, 4, 5), "weight": randn(3, 2, 3, 3), "bias": randn(2)},
          "conv_transpose2d(x, weight, bias, stride=2, padding=1, output_padding=1)")

# ---- group_norm: x [B, C, H, W], weight and bias [C]; channels with different means and scales ----
for case, dtype, shape, groups in [("group_norm", torch.float64, (2, 6, 5, 4), 3),
                                   ("group_norm_f32", torch.float32, (2, 8, 4, 4), 4)]:
    c = shape[1]
    x = randn(*shape, dtype=dtype) * (1.0 + torch.arange(c, dtype=dtype).view(1, c, 1, 1)) + 0.5
    record_op(case, lambda x, weight, bias, g=groups: F.group_norm(x, g, weight, bias, eps=1e-5),
              {"x": x, "weight": randn(c, dtype=dtype), "bias": randn(c, dtype=dtype)},
              f"group_norm(x, groups={groups}, weight, bias, eps=1e-5)")

# ---- linear: x [..., in], weight [out, in], bias [out] ---------------------------------------------
for case, dtype in [("linear", torch.float64), ("linear_f32", torch.float32)]:
    record_op(case, lambda x, weight, bias: F.linear(x, weight, bias),
              {"x": randn(2, 3, 5, dtype=dtype), "weight": randn(4, 5, dtype=dtype), "bias": randn(4, dtype=dtype)},
              "linear(x, weight, bias)")

# ---- attention: q [B, heads, Lq, d], k [B, heads, Lk, d], v [B, heads, Lk, dv] -> [B, heads, Lq, dv]
# Lq != Lk and d != dv, so a transposed operand cannot go unnoticed.
def attention(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v


for case, dtype in [("attention", torch.float64), ("attention_f32", torch.float32)]:
    record_op(case, attention,
              {"q": randn(2, 3, 5, 4, dtype=dtype), "k": randn(2, 3, 6, 4, dtype=dtype),
               "v": randn(2, 3, 6, 3, dtype=dtype)},
              "softmax(q k^T / sqrt(d)) v")

# ---- AdamW: three steps on float32 parameters ------------------------------------------------------
# Non-default betas and weight decay, and a bias whose gradients are ~1e-7, the size of eps, so
# that where eps is added (after the bias correction of sqrt(v), as PyTorch does) shows.
ADAMW = dict(lr=0.05, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
params = {"weight": randn(4, 3, dtype=torch.float32), "bias": randn(4, dtype=torch.float32)}
grad_scale = {"weight": 1.0, "bias": 1e-7}
for name, p in params.items():
    put(f"adamw.{name}", p)
live = [p.clone().requires_grad_(True) for p in params.values()]
opt = torch.optim.AdamW(live, foreach=False, **ADAMW)
for step in range(1, 4):
    for (name, _), p in zip(params.items(), live):
        p.grad = randn(*p.shape, dtype=torch.float32) * grad_scale[name]
        put(f"adamw.step{step}.grad_{name}", p.grad)
    opt.step()
    for (name, _), p in zip(params.items(), live):
        put(f"adamw.step{step}.{name}", p)
metadata["adamw"] = ("torch.optim.AdamW(lr=0.05, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1), "
                     "adamw.step<k>.<param> after step k with gradients adamw.step<k>.grad_<param>")

# ---- One small tensor of every dtype, exactly representable in each: checks the byte layouts -------
values = [-2.5, -1.0, 0.0, 0.5, 1.0, 3.25]
for suffix, dtype in [("f32", torch.float32), ("f64", torch.float64), ("bf16", torch.bfloat16),
                      ("f16", torch.float16)]:
    put(f"dtypes.{suffix}", torch.tensor(values, dtype=dtype).view(2, 3))
put("dtypes.i32", torch.tensor([-2147483648, -1, 0, 1, 7, 2147483647], dtype=torch.int32).view(2, 3))
put("dtypes.i64", torch.tensor([-(2**62) - 3, -1, 0, 1, 2**40 + 1, 2**63 - 1], dtype=torch.int64).view(2, 3))
put("dtypes.bool", torch.tensor([True, False, False, True, True, False]).view(2, 3))
put("dtypes.scalar_f64", torch.tensor(1.5, dtype=torch.float64))
put("dtypes.empty_f32", torch.zeros(0, 3, dtype=torch.float32))
metadata["dtypes"] = "dtypes.<f32|f64|bf16|f16> hold " + ", ".join(str(v) for v in values)

metadata["generator"] = f"tests/data/make_reference.py with torch {torch.__version__}"

# ---- The safetensors writer ------------------------------------------------------------------------
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


write_safetensors(OUT_PATH, tensors, metadata)
back, back_meta = read_safetensors(OUT_PATH)
assert back_meta == metadata and back.keys() == tensors.keys()
for name, t in tensors.items():
    assert back[name].dtype == t.dtype and back[name].shape == t.shape and torch.equal(back[name], t), name
print(f"wrote {OUT_PATH}: {len(tensors)} tensors, {os.path.getsize(OUT_PATH)} bytes")
