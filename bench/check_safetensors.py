"""Checks a ddpmcpp model.safetensors against PyTorch: loads it with the `safetensors` package (a reader we did not
write) into bench/unet_torch.py's U-Net with strict=True, its configuration from the file's metadata, runs it on the
x_t and t that bench_forward_dump wrote (x.npy, t.npy) in float32 on --device and in float64 on the CPU, and compares
our output (out.npy) with the float64 one: max |ours - ref| / max |ref| must be under --tol.
Without the safetensors package (Debian has none) it falls back to unet_torch.read_safetensors, our own reader, and
says so: the network is still compared, the file format is then only checked by code we wrote.
Usage: python3 bench/check_safetensors.py MODEL.safetensors DUMP_DIR [--device cuda|cpu] [--tol 1e-4]
Prints one line per comparison and a last line "check_safetensors: PASS ..." or "... FAIL ..."; exit code 0 or 1."""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unet_torch  # noqa: E402


def read_checkpoint(path):
    """({name: tensor}, metadata, which reader)."""
    try:
        from safetensors import safe_open
        from safetensors.torch import load_file
    except ImportError:
        print("note: the safetensors package is not installed: reading the file with unet_torch.read_safetensors "
              "(our own reader) instead, so the file format is not checked independently here", flush=True)
        tensors, meta = unet_torch.read_safetensors(path)
        return tensors, meta, "unet_torch.read_safetensors (fallback)"
    import safetensors
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
    return load_file(path), meta, f"safetensors {getattr(safetensors, '__version__', '?')}"


def rel_diff(a, ref):
    a, ref = np.asarray(a, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return float(np.abs(a - ref).max() / max(np.abs(ref).max(), 1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("dump_dir", help="where bench_forward_dump wrote x.npy, t.npy, out.npy")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()

    tensors, meta, reader = read_checkpoint(args.model)
    config = unet_torch.config_from_metadata(meta)
    model = unet_torch.UNet(**config, init=False).eval()
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)  # missing/unexpected keys raise
    n_params = sum(p.numel() for p in model.parameters())
    print(f"loaded {args.model} with {reader}: {len(tensors)} tensors, {n_params:,} parameters, strict=True; "
          f"config {config}", flush=True)

    x = np.load(os.path.join(args.dump_dir, "x.npy"))
    t = np.load(os.path.join(args.dump_dir, "t.npy")).astype(np.int64)
    ours = np.load(os.path.join(args.dump_dir, "out.npy"))
    print(f"input x {list(x.shape)}, t {t.tolist()}", flush=True)

    dev = torch.device(args.device)
    if dev.type == "cuda":  # float32 as it is computed, no TF32 shortcuts
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    with torch.no_grad():
        ref = model.double()(torch.from_numpy(x).double(), torch.from_numpy(t)).numpy()
        f32 = model.float().to(dev)(torch.from_numpy(x).to(dev), torch.from_numpy(t).to(dev)).cpu().numpy()
    scale = float(np.abs(ref).max())
    d_ours, d_f32, d_ours_f32 = rel_diff(ours, ref), rel_diff(f32, ref), rel_diff(ours, f32)
    print(f"max |ref| (PyTorch float64, cpu) {scale:.6g}", flush=True)
    print(f"ours (float32) vs PyTorch float64: max abs diff / max abs ref = {d_ours:.3e}", flush=True)
    print(f"PyTorch float32 ({dev}) vs PyTorch float64: {d_f32:.3e}", flush=True)
    print(f"ours vs PyTorch float32 ({dev}): {d_ours_f32:.3e}", flush=True)
    if scale < 1e-3:
        print("warning: the network's output is nearly zero (an untrained checkpoint?): the comparison says little",
              flush=True)
    ok = ours.shape == ref.shape and d_ours < args.tol and np.isfinite(ours).all()
    print(f"check_safetensors: {'PASS' if ok else 'FAIL'} ours vs float64 {d_ours:.3e} (tol {args.tol:g}), "
          f"PyTorch float32 on {dev} vs float64 {d_f32:.3e}, reader {reader}", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
