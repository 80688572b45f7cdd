"""One DDPM training step (loss forward, backward, AdamW update) of the U-Net presets at 32x32 in PyTorch,
the peer of bench_train_step.cpp. Prints "preset<TAB>seconds per step<TAB>peak RSS MiB", the median of several
steps after warm-up (run one preset per process for a per-preset RSS, as bench/train_step.sh does).
--mode eager (default): float32; bf16: bfloat16 autocast, channels_last (AdamW on the float32 weights);
compile: torch.compile of the U-Net, float32 (needs PyTorch >= 2.0; the warm-up compiles, its time goes to stderr).
Usage: python3 bench/train_step_torch.py [--device cpu|cuda] [--threads N] [--batch 64] [--steps N]
                                         [--mode eager|bf16|compile] [presets...]"""
import argparse
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_modes  # noqa: E402
import unet_torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    torch_modes.add_common_args(ap)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 5 on cpu, 20 on cuda)")
    args = ap.parse_args()
    dev = torch_modes.device_for(args)
    steps = args.steps or (5 if dev.type == "cpu" else 20)

    def sync():
        torch_modes.sync(dev)

    with torch_modes.failing_clearly(args.mode, dev):
        for preset in args.presets:
            torch.manual_seed(0)
            net = unet_torch.UNet(**unet_torch.PRESETS[preset]).to(dev).train()
            model = torch_modes.prepare_model(net, args.mode)
            opt = torch.optim.AdamW(net.parameters(), lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
            res, c = net.config["resolution"], net.config["in_channels"]
            x0 = torch.rand(args.batch, c, res, res, device=dev) * 2 - 1  # one fixed batch in [-1, 1]
            x0 = torch_modes.prepare_input(x0, args.mode)

            def step():
                with torch_modes.autocast(args.mode, dev):
                    loss = unet_torch.ddpm_loss(model, x0)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)

            with torch_modes.WarmupTimer(f"{preset} training step", args.mode):
                for _ in range(2):  # warm-up
                    step()
                sync()
            times = []
            for _ in range(steps):
                t0 = time.perf_counter()
                step()
                sync()
                times.append(time.perf_counter() - t0)
            times.sort()
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # peak resident MiB
            print(f"{preset}\t{times[len(times) // 2]:.4f}\t{rss:.1f}", flush=True)


if __name__ == "__main__":
    main()
