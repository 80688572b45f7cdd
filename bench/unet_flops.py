"""The arithmetic of the U-Net presets at batch 64: forward GFLOP (convolutions and linear layers, from
forward hooks on bench/unet_torch.py) and a training step's (3x the forward: backward computes each layer's
input and weight gradients, less the input gradient of the first conv). Attention's matmuls are not counted.
Usage: python3 bench/unet_flops.py"""
import sys, torch
sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
import unet_torch
for preset in ("tiny", "small"):
    net = unet_torch.UNet(**unet_torch.PRESETS[preset]).eval()
    tot = {"conv": 0, "first": 0, "linear": 0, "attn": 0}
    def hook(m, inp, out):
        if isinstance(m, torch.nn.Conv2d):
            f = 2 * out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
            tot["conv"] += f
            if m.in_channels == net.config["in_channels"]: tot["first"] += f
        elif isinstance(m, torch.nn.Linear):
            tot["linear"] += 2 * out.numel() * m.in_features
    for m in net.modules(): m.register_forward_hook(hook)
    B = 64; r = net.config["resolution"]; c = net.config["in_channels"]
    with torch.no_grad(): net(torch.randn(B, c, r, r), torch.randint(0, 1000, (B,)))
    fwd = tot["conv"] + tot["linear"]
    step = 3 * fwd - tot["first"]  # backward: dx and dW of every layer, no dx for the input conv
    print(preset, "forward GFLOP %.2f (conv %.2f)  training step GFLOP %.2f (attention matmuls not counted)" % (fwd/1e9, tot["conv"]/1e9, step/1e9))
