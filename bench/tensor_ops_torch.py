"""The same ops and shapes as bench_tensor.cpp, timed with PyTorch. Prints name<TAB>milliseconds.
Usage: python3 bench/tensor_ops_torch.py [cpu|cuda] [threads]"""
import sys
import time

import torch

dev = sys.argv[1] if len(sys.argv) > 1 else "cpu"
if len(sys.argv) > 2:
    torch.set_num_threads(int(sys.argv[2]))
reps = 7 if dev == "cpu" else 50
g = torch.Generator(device=dev).manual_seed(0)


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


def report(name, fn):
    fn()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    print(f"{name}\t{times[len(times) // 2]:.3f}", flush=True)


def randn(*shape):
    return torch.randn(*shape, generator=g, device=dev)


with torch.no_grad():
    a512, b512 = randn(512, 512), randn(512, 512)
    report("matmul 512x512x512", lambda: a512 @ b512)
    report("matmul 512x512x512 (B transposed view)", lambda: a512 @ b512.t())
    q, k = randn(16, 256, 64), randn(16, 256, 64)
    report("batched matmul 16x[256x64 @ 64x256]", lambda: q @ k.transpose(1, 2))
    x, bias = randn(64, 64, 32, 32), randn(64, 1, 1)
    report("add broadcast [64,64,32,32]+[64,1,1]", lambda: x + bias)
    report("silu [64,64,32,32]", lambda: torch.nn.functional.silu(x))
    report("mul scalar [64,64,32,32]", lambda: x * 0.5)
    report("sum over (2,3) [64,64,32,32]", lambda: x.sum(dim=(2, 3)))
    report("var over (2,3) [64,64,32,32]", lambda: x.var(dim=(2, 3)))
    s = randn(4096, 1024)
    report("softmax rows [4096,1024]", lambda: torch.softmax(s, -1))
    report("permute+contiguous NCHW->NHWC", lambda: x.permute(0, 2, 3, 1).contiguous())
    report("cat 2x[64,64,32,32] dim 1", lambda: torch.cat([x, x], 1))
    report("randn 4M", lambda: torch.randn(4 << 20, generator=g, device=dev))
