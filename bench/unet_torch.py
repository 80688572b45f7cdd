"""The DDPM U-Net of docs/unet.md in plain PyTorch, parameter for parameter ddpmcpp's diffusion/unet.hpp:
the same layout, names, init and presets, so a ddpmcpp model.safetensors loads into it with load_checkpoint().

    import unet_torch
    model = unet_torch.UNet(**unet_torch.PRESETS["tiny"])          # or: model = unet_torch.load_checkpoint(path)
    loss = unet_torch.ddpm_loss(model, x0)                          # eps-prediction MSE (Ho et al. 2020, Alg. 1)

Uses only torch (Debian's python3-torch 1.13 is enough); `python3 bench/unet_torch.py` checks the param counts.
"""
import json
import math
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

# The spec's presets; `params` is the count at 32x32 with nearest upsampling.
PRESETS = {
    "tiny": dict(in_channels=1, ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(),
                 groups=8, dropout=0.0, resolution=32),
    "small": dict(in_channels=1, ch=32, ch_mult=(1, 2, 2), num_res_blocks=2, attn_resolutions=(16,),
                  groups=32, dropout=0.1, resolution=32),
    "cifar10": dict(in_channels=3, ch=128, ch_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,),
                    groups=32, dropout=0.1, resolution=32),
}
PRESET_PARAMS = {"tiny": 267_313, "small": 1_623_169, "cifar10": 35_746_307}


def timestep_embedding(t, dim, dtype=torch.float32):
    """t: [B] timestep indices (0 .. T-1) -> [B, dim]: [sin(t freq), cos(t freq)], freq_i = 10000^(-i / (half - 1)).
    Computed in float64 and then rounded to `dtype`."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64, device=t.device) / (half - 1))
    args = t.to(torch.float64)[:, None] * freq[None, :]  # [B, half]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1).to(dtype)


def group_norm(channels, groups):
    return nn.GroupNorm(min(groups, channels), channels, eps=1e-5, affine=True)


class ResBlock(nn.Module):
    """h = conv1(SiLU(norm1(x))) + temb(SiLU(temb)); h = conv2(Dropout(SiLU(norm2(h)))); out = skip(x) + h."""

    def __init__(self, cin, cout, temb_channels, groups, dropout):
        super().__init__()
        self.norm1 = group_norm(cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb_channels, cout)
        self.norm2 = group_norm(cout, groups)
        self.dropout = nn.Dropout(dropout)  # no parameters, so no key in the state_dict
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.skip(x) if hasattr(self, "skip") else x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions: out = x + proj(v softmax(q^T k / sqrt(c))^T)."""

    def __init__(self, c, groups):
        super().__init__()
        self.norm = group_norm(c, groups)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, hh, ww = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3 * c, hh * ww).chunk(3, dim=1)  # each [B, C, HW]
        w = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(c), dim=-1)  # [B, HW(query), HW(key)]
        h = (v @ w.transpose(1, 2)).reshape(b, c, hh, ww)
        return x + self.proj(h)


class Entry(nn.Module):
    """One entry of `down` or `up`: a ResBlock with an optional AttnBlock (res, attn), or a resampler
    (downsample: 3x3 stride-2 conv; upsample: nearest 2x + 3x3 conv, or a k4 s2 p1 transposed conv)."""

    def __init__(self, res=None, attn=None, downsample=None, upsample=None, upsample_kind="nearest"):
        super().__init__()
        for name, m in [("res", res), ("attn", attn), ("downsample", downsample), ("upsample", upsample)]:
            if m is not None:
                setattr(self, name, m)
        self.upsample_kind = upsample_kind

    def forward(self, h, temb):
        if hasattr(self, "downsample"):
            return self.downsample(h)
        if hasattr(self, "upsample"):
            if self.upsample_kind == "nearest":
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            return self.upsample(h)
        h = self.res(h, temb)
        return self.attn(h) if hasattr(self, "attn") else h


class UNet(nn.Module):
    def __init__(self, in_channels=1, ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(),
                 groups=32, dropout=0.0, resolution=32, upsample="nearest", out_channels=None, init=True):
        super().__init__()
        levels = len(ch_mult)
        assert ch % 2 == 0 and ch >= 4, "ch must be even and >= 4 (the timestep embedding's size)"
        assert resolution % (2 ** (levels - 1)) == 0, "resolution must be divisible by 2^(levels - 1)"
        assert upsample in ("nearest", "transposed"), upsample
        self.config = dict(in_channels=in_channels, ch=ch, ch_mult=tuple(ch_mult), num_res_blocks=num_res_blocks,
                           attn_resolutions=tuple(attn_resolutions), groups=groups, dropout=dropout,
                           resolution=resolution, upsample=upsample, out_channels=out_channels or in_channels)
        temb_ch = 4 * ch
        self.temb1 = nn.Linear(ch, temb_ch)
        self.temb2 = nn.Linear(temb_ch, temb_ch)
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)

        # Down: every entry's output (and conv_in's) goes on the skip stack; track its channels.
        self.down = nn.ModuleList()
        skip_chs, cur, res = [ch], ch, resolution
        for i, m in enumerate(ch_mult):
            for _ in range(num_res_blocks):
                block = ResBlock(cur, ch * m, temb_ch, groups, dropout)
                cur = ch * m
                attn = AttnBlock(cur, groups) if res in attn_resolutions else None
                self.down.append(Entry(res=block, attn=attn))
                skip_chs.append(cur)
            if i != levels - 1:
                self.down.append(Entry(downsample=nn.Conv2d(cur, cur, 3, stride=2, padding=1)))
                res //= 2
                skip_chs.append(cur)

        self.mid1 = ResBlock(cur, cur, temb_ch, groups, dropout)
        self.mid_attn = AttnBlock(cur, groups)
        self.mid2 = ResBlock(cur, cur, temb_ch, groups, dropout)

        self.up = nn.ModuleList()
        for i, m in reversed(list(enumerate(ch_mult))):
            for _ in range(num_res_blocks + 1):
                block = ResBlock(cur + skip_chs.pop(), ch * m, temb_ch, groups, dropout)
                cur = ch * m
                attn = AttnBlock(cur, groups) if res in attn_resolutions else None
                self.up.append(Entry(res=block, attn=attn))
            if i != 0:
                conv = (nn.Conv2d(cur, cur, 3, padding=1) if upsample == "nearest"
                        else nn.ConvTranspose2d(cur, cur, 4, stride=2, padding=1))
                self.up.append(Entry(upsample=conv, upsample_kind=upsample))
                res *= 2
        assert not skip_chs

        self.norm_out = group_norm(cur, groups)
        # out_channels: 2 * in_channels for a learned-range model (eps, then the variance interpolation v)
        self.conv_out = nn.Conv2d(cur, out_channels or in_channels, 3, padding=1)
        if init:
            self.reset_parameters()

    def reset_parameters(self):
        """The paper's init: fan-average uniform (variance scale 1) weights, zero biases, and zero weights
        for every ResBlock's conv2, AttnBlock's proj and conv_out (each residual branch starts as the identity)."""
        for name, mod in self.named_modules():
            if isinstance(mod, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(mod.weight)
                limit = math.sqrt(3.0 / ((fan_in + fan_out) / 2.0))
                with torch.no_grad():
                    mod.weight.uniform_(-limit, limit)
                    mod.bias.zero_()
                last = name.rsplit(".", 1)[-1]
                if last in ("conv2", "proj", "conv_out"):
                    nn.init.zeros_(mod.weight)
            elif isinstance(mod, nn.GroupNorm):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)

    def forward(self, x, t):
        """x: [B, in_channels, res, res], t: [B] integer timestep indices -> eps prediction, same shape as x."""
        temb = timestep_embedding(t, self.config["ch"], x.dtype).to(x.device)
        temb = self.temb2(F.silu(self.temb1(temb)))  # [B, 4ch]
        h = self.conv_in(x)
        skips = [h]
        for entry in self.down:
            h = entry(h, temb)
            skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, temb)), temb)
        for entry in self.up:
            if hasattr(entry, "res"):
                h = torch.cat([h, skips.pop()], dim=1)  # h first, then the skip
            h = entry(h, temb)
        assert not skips
        return self.conv_out(F.silu(self.norm_out(h)))


# ---- DDPM training loss (Ho et al. 2020, Algorithm 1): linear betas 1e-4 .. 0.02, T = 1000 -------------
T = 1000
BETAS = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
ALPHAS_CUMPROD = torch.cumprod(1.0 - BETAS, dim=0)
_ALPHAS_CUMPROD_ON = {}


def _alphas_cumprod(device):
    """ALPHAS_CUMPROD on `device`, copied there once."""
    key = str(device)
    if key not in _ALPHAS_CUMPROD_ON:
        _ALPHAS_CUMPROD_ON[key] = ALPHAS_CUMPROD.to(device)
    return _ALPHAS_CUMPROD_ON[key]


def ddpm_loss(model, x0, generator=None):
    """t ~ U{0 .. T-1}, eps ~ N(0, I), x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps; mean((eps - model(x_t, t))^2).
    t and eps are drawn on x0's device, or on the CPU (then copied) from a CPU `generator` when one is given."""
    b = x0.shape[0]
    draw = "cpu" if generator is not None else x0.device
    t = torch.randint(0, T, (b,), generator=generator, device=draw).to(x0.device)
    eps = torch.randn(x0.shape, generator=generator, device=draw, dtype=x0.dtype).to(x0.device)
    abar = _alphas_cumprod(x0.device)[t].to(x0.dtype).view(b, 1, 1, 1)
    x_t = abar.sqrt() * x0 + (1.0 - abar).sqrt() * eps
    return F.mse_loss(model(x_t, t), eps)


# ---- Loading a ddpmcpp checkpoint (safetensors, read by hand: the safetensors package is not needed) ----
_DTYPES = {"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16, "F16": torch.float16,
           "I32": torch.int32, "I64": torch.int64, "BOOL": torch.bool}


def read_safetensors(path):
    """Returns ({name: tensor}, metadata) of a safetensors file (little-endian hosts)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        raw = bytearray(blob[8 + n + begin:8 + n + end])
        flat = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.zeros(0, dtype=torch.uint8)
        tensors[name] = flat.view(_DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors, meta


def config_from_metadata(meta):
    """The UNet keyword arguments from a checkpoint's metadata. Numbers come as strings; lists as
    comma-separated (or JSON) strings. Keys that are not UNet arguments (the diffusion's) are ignored."""
    def ints(s):
        s = s.strip().strip("[]()")
        return tuple(int(v) for v in s.replace(",", " ").split())

    out = {}
    for key, value in meta.items():
        k = key.split(".", 1)[1] if key.startswith("unet.") else key
        if k in ("in_channels", "out_channels", "ch", "num_res_blocks", "groups", "resolution"):
            out[k] = int(value)
        elif k in ("ch_mult", "attn_resolutions"):
            out[k] = ints(value)
        elif k == "dropout":
            out[k] = float(value)
        elif k == "upsample":
            out[k] = value
    return out


def load_checkpoint(path, **overrides):
    """A UNet built from the checkpoint's metadata (or `overrides`) with its weights loaded, strictly."""
    tensors, meta = read_safetensors(path)
    config = {**config_from_metadata(meta), **overrides}
    model = UNet(**config, init=False)
    # Keys such as "ema." prefixes are the caller's business: pass a dict with exactly the model's keys.
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    return model


if __name__ == "__main__":
    for preset, config in PRESETS.items():
        n = sum(p.numel() for p in UNet(**config).parameters())
        print(f"{preset}: {n:,} parameters")
        assert n == PRESET_PARAMS[preset], (preset, n, PRESET_PARAMS[preset])
