"""One sampler step's network evaluation, the U-Net forward under torch.no_grad() in eval mode, of the presets
at 32x32 in PyTorch: the peer of bench_sample.cpp. Prints "preset<TAB>batch<TAB>ms per U-Net evaluation", the
median of several evaluations after warm-up. --mode eager (default): float32; bf16: bfloat16 autocast,
channels_last; compile: torch.compile of the U-Net, float32 (PyTorch >= 2.0; each batch size compiles once in the
warm-up, whose time goes to stderr).
Usage: python3 bench/sample_torch.py [--device cpu|cuda] [--threads N] [--batches 64,1] [--steps N]
                                     [--mode eager|bf16|compile] [presets...]"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_modes  # noqa: E402
import unet_torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    torch_modes.add_common_args(ap)
    ap.add_argument("--batches", default="64,1", help="comma-separated batch sizes")
    ap.add_argument("--steps", type=int, default=None, help="timed evaluations (default 5 on cpu, 30 on cuda)")
    args = ap.parse_args()
    dev = torch_modes.device_for(args)
    try:
        batches = [int(b) for b in args.batches.split(",")]
        assert all(b >= 1 for b in batches)
    except (ValueError, AssertionError):
        torch_modes.fail(f"--batches is '{args.batches}', expected positive integers separated by commas")
    steps = args.steps or (5 if dev.type == "cpu" else 30)

    def sync():
        torch_modes.sync(dev)

    with torch_modes.failing_clearly(args.mode, dev):
        for preset in args.presets:
            torch.manual_seed(0)
            net = unet_torch.UNet(**unet_torch.PRESETS[preset]).to(dev).eval()
            model = torch_modes.prepare_model(net, args.mode)
            res, c = net.config["resolution"], net.config["in_channels"]
            for batch in batches:
                x_t = torch_modes.prepare_input(torch.randn(batch, c, res, res, device=dev), args.mode)
                t = torch.randint(0, unet_torch.T, (batch,), device=dev)
                with torch.no_grad(), torch_modes.autocast(args.mode, dev):
                    with torch_modes.WarmupTimer(f"{preset} batch {batch} forward", args.mode):
                        for _ in range(2):  # warm-up
                            model(x_t, t)
                        sync()
                    times = []
                    for _ in range(steps):
                        t0 = time.perf_counter()
                        model(x_t, t)
                        sync()
                        times.append((time.perf_counter() - t0) * 1e3)
                times.sort()
                print(f"{preset}\t{batch}\t{times[len(times) // 2]:.3f}", flush=True)


if __name__ == "__main__":
    main()
