"""PyTorch's equivalents of some backend kernels' perf cases (bench_backend_ops), timed the same way:
prints "kernel<TAB>case<TAB>ms" with the case labels of tests/backend_op_cases.hpp, so that
bench/backend_ops.sh can put the two side by side. Only kernels with a one-call PyTorch peer are here.
Usage: python3 bench/backend_ops_torch.py [--threads N] [--reps 7]"""
import argparse
import time

import torch
import torch.nn.functional as F


def median_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    return times[len(times) // 2]


def conv_cases():
    for b, c, h, stride in [(64, 128, 32, 1), (64, 64, 32, 2), (64, 16, 32, 1), (64, 32, 16, 1), (64, 32, 8, 1),
                            (1, 32, 16, 1)]:
        x = torch.randn(b, c, h, h)
        w = torch.randn(c, c, 3, 3)
        bias = torch.randn(c)
        geo = f"float32 image [{b}, {c}, {h}, {h}] kernel 3x3 stride {stride} pad 1"
        y = F.conv2d(x, w, bias, stride, 1)
        dy = torch.randn_like(y)
        yield "conv2d", f"{geo} cout {c} bias", lambda x=x, w=w, bias=bias, s=stride: F.conv2d(x, w, bias, s, 1)
        yield ("conv2d_weight_grad", f"{geo} cout {c}",
               lambda x=x, w=w, dy=dy, s=stride: torch.nn.grad.conv2d_weight(x, w.shape, dy, s, 1))


def cases():
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    yield "gemm", "float32 batch 1 m 512 n 512 k 512", lambda: a @ b
    a2, b2 = torch.randn(1024, 1024), torch.randn(1024, 1024)
    yield "gemm", "float32 batch 1 m 1024 n 1024 k 1024 B^T", lambda: a2 @ b2.t()
    x = torch.randn(64, 128, 32, 32)
    y = torch.randn(64, 128, 32, 32)
    ch = torch.randn(1, 128, 1, 1)
    yield "unary", "silu float32 [64, 128, 32, 32] contiguous -> contiguous", lambda: F.silu(x)
    yield ("binary", "add float32 [64, 128, 32, 32] contiguous and [64, 128, 32, 32] contiguous -> [64, 128, 32, 32]",
           lambda: x + y)
    yield ("binary", "add float32 [64, 128, 32, 32] contiguous and [1, 128, 1, 1] contiguous -> [64, 128, 32, 32]",
           lambda: x + ch)
    r = torch.randn(8192, 1024)
    yield "reduce", "sum float32 -> float32 [8192, 1024] contiguous", lambda: r.sum(1)
    yield "reduce", "var correction 0 float32 -> float32 [8192, 1024] contiguous", lambda: r.var(1, unbiased=False)
    yield "softmax", "softmax float32 [8192, 1024] contiguous", lambda: torch.softmax(r, 1)
    gw, gb = torch.randn(128), torch.randn(128)
    yield "group_norm_forward", "float32 x [64, 128, 1024] groups 32", lambda: F.group_norm(x, 32, gw, gb)
    yield "random", "normal (1, 2) float32 [64, 128, 32, 32] offset 5", lambda: torch.randn(64, 128, 32, 32)
    yield from conv_cases()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with torch.no_grad():
        for kernel, label, fn in cases():
            print(f"{kernel}\t{label}\t{median_ms(fn, args.reps):.4f}", flush=True)


if __name__ == "__main__":
    main()
