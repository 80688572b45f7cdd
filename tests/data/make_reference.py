#!/usr/bin/env python3
"""Writes tests/data/reference.safetensors: inputs, outputs and gradients computed by PyTorch for the
nn ops, three AdamW steps, the timestep embedding and a small U-Net (built by bench/unet_torch.py).
tests/test_nn_reference.cpp and tests/test_unet.cpp compare ours with them, so no test needs PyTorch
to run (llm.c's test_gpt2 works the same way). New cases are appended after the old ones, so that
what the old ones hold stays byte for byte the same.

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
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_writer import write_and_check  # noqa: E402

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

# ---- timestep_embedding: exact (float64) values for a few t and two sizes ----------------------------
# The U-Net's module is bench/unet_torch.py, the spec's network in plain PyTorch.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import unet_torch  # noqa: E402

steps = torch.tensor([0, 1, 3, 17, 250, 517, 999], dtype=torch.int64)
put("timestep_embedding.t", steps)
for dim in (16, 128):
    put(f"timestep_embedding.dim{dim}", unet_torch.timestep_embedding(steps, dim, torch.float64))
metadata["timestep_embedding"] = ("timestep_embedding.dim<d> = [sin(t freq), cos(t freq)], freq_i = "
                                  "exp(-ln(10000) i / (d/2 - 1)), of timestep_embedding.t, in float64")

# ---- The U-Net (docs/unet.md): a small configuration with every block type --------------------------
# At 16x16 with ch_mult (1, 2) and attention at 8: a ResBlock with an identity skip (8 -> 8), a
# Downsample, a ResBlock with a 1x1 skip and an AttnBlock (8 -> 16), the mid blocks, up ResBlocks on
# concatenated skips with attention, an Upsample, and the output head. The weights are random, not
# the zero init, so that every branch matters: conv and linear weights N(0, 1 / fan_in), biases
# N(0, 0.2^2), GroupNorm weights 1 + N(0, 0.2^2) and biases N(0, 0.2^2), each rounded to float32 and
# stored as float32 (exact in either dtype, and half the bytes). The network runs in float64: the C++
# test moves its UNet to float64 and compares to ~1e-10 (and runs it in float32 too, to ~1e-4).
# Case "unet" upsamples by nearest + conv; "unet_transposed" uses the same parameters except its
# ConvTranspose2d upsampler's, which it stores (unet_transposed.param.up.2.upsample.*). Gradients
# (float64) are stored for x, every 1-dim parameter, and the weights in UNET_GRAD_WEIGHTS, which
# touch every block type, to keep the file small.
UNET_CONFIG = dict(in_channels=1, ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(8,), groups=4,
                   dropout=0.0, resolution=16)
# Weights whose gradients are stored (with x's and every 1-dim parameter's): at least one of each
# block type and position (identity and 1x1 skips, attention in down / mid / up, the resamplers).
UNET_GRAD_WEIGHTS = ["temb1.weight", "temb2.weight", "conv_in.weight", "down.0.res.conv1.weight",
                     "down.0.res.temb.weight", "down.0.res.conv2.weight", "down.1.downsample.weight",
                     "down.2.res.skip.weight", "down.2.attn.qkv.weight", "down.2.attn.proj.weight",
                     "mid1.temb.weight", "mid_attn.qkv.weight", "up.0.res.skip.weight", "up.1.attn.proj.weight",
                     "up.2.upsample.weight", "up.3.res.skip.weight", "up.4.res.conv1.weight", "conv_out.weight"]
unet_gen = torch.Generator().manual_seed(1234)  # independent of the draws above


def random_unet_param(name, shape, fan_in):
    """float64 values that float32 holds exactly (see above)."""
    z = torch.randn(shape, generator=unet_gen, dtype=torch.float64)
    if len(shape) > 1:
        v = z / math.sqrt(fan_in)
    else:
        v = (1.0 if name.endswith(".weight") else 0.0) + 0.2 * z  # 1-dim weights are the GroupNorms'
    return v.float().double()


def record_unet(case, model, x, t, cotangent, grads_of):
    """Stores model(x, t), and the gradients of sum(out * cotangent) w.r.t. x and the params in grads_of."""
    xl = x.clone().requires_grad_(True)
    out = model(xl, t)
    (out * cotangent).sum().backward()
    put(f"{case}.out", out)
    put(f"{case}.grad.x", xl.grad)
    named = dict(model.named_parameters())
    for name in grads_of:
        put(f"{case}.grad.{name}", named[name].grad)
    return out


unet = unet_torch.UNet(**UNET_CONFIG, upsample="nearest").double()
with torch.no_grad():
    for name, p in unet.named_parameters():
        fan_in = torch.nn.init._calculate_fan_in_and_fan_out(p)[0] if p.dim() > 1 else 0
        p.copy_(random_unet_param(name, p.shape, fan_in))
        put(f"unet.param.{name}", p.float())
unet_x = torch.randn(2, 1, 16, 16, generator=unet_gen, dtype=torch.float64)
unet_t = torch.tensor([3, 517], dtype=torch.int64)
unet_cot = torch.randn(2, 1, 16, 16, generator=unet_gen, dtype=torch.float64)
put("unet.x", unet_x)
put("unet.t", unet_t)
put("unet.cotangent", unet_cot)
unet_grads = [n for n, p in unet.named_parameters() if p.dim() == 1] + UNET_GRAD_WEIGHTS
unet_out = record_unet("unet", unet, unet_x, unet_t, unet_cot, unet_grads)

unet_tr = unet_torch.UNet(**UNET_CONFIG, upsample="transposed").double()
with torch.no_grad():
    for name, p in unet_tr.named_parameters():
        if name.startswith("up.2.upsample."):
            # ConvTranspose2d weight [in, out, 4, 4], stride 2: each output sums in * 2 * 2 products.
            p.copy_(random_unet_param(name, p.shape, p.shape[0] * 4))
            put(f"unet_transposed.param.{name}", p.float())
        else:
            p.copy_(dict(unet.named_parameters())[name])
record_unet("unet_transposed", unet_tr, unet_x, unet_t, unet_cot,
            ["up.2.upsample.weight", "up.2.upsample.bias", "up.3.res.skip.weight", "temb1.weight"])
metadata["unet"] = json.dumps({**UNET_CONFIG, "ch_mult": list(UNET_CONFIG["ch_mult"]),
                               "attn_resolutions": list(UNET_CONFIG["attn_resolutions"]),
                               "upsample": "nearest (unet) / transposed (unet_transposed)",
                               "layout": "unet.param.<name> (float32 values, run in float64), unet.x, unet.t, "
                                         "unet.out, unet.cotangent, unet.grad.x and unet.grad.<name> of "
                                         "sum(out * cotangent)"})


def unet_float32_error():
    """How far a float32 run of the same model (the same parameters, x rounded to float32) is from
    the float64 reference: printed, so that the C++ float32 test's tolerance sits well above it."""
    m = unet_torch.UNet(**UNET_CONFIG).float()
    m.load_state_dict({k: v.float() for k, v in unet.state_dict().items()})
    out = m(unet_x.float(), unet_t)
    return ((out.double() - unet_out).abs() / (unet_out.abs() + 1.0)).max().item()


print(f"unet: output |out| max {unet_out.abs().max().item():.3f}, float32 run within "
      f"{unet_float32_error():.1e} of float64")

metadata["generator"] = f"tests/data/make_reference.py with torch {torch.__version__}"

# ---- The safetensors writer ------------------------------------------------------------------------


write_and_check(OUT_PATH, tensors, metadata)
