"""Where a benchmark's time goes, by op family: reads a `perf record` file and sums its self time per
family of our kernels (conv/GEMM micro-kernels, their packing, group norm, elementwise, ...).
Usage: python3 bench/perf_families.py perf.data   (bench/profile.sh records one and calls this)"""
import collections
import re
import subprocess
import sys

# First match wins: a symbol belongs to the first family whose pattern it contains.
FAMILIES = [
    ("conv/GEMM micro-kernels (the arithmetic)", r"micro_kernel|dot_tile|gebp_kernel"),
    ("conv/GEMM packing, padding, cropping", r"blocked::gemm|gemm_offset_rows|pad_image|conv2d_stride1|"
     r"conv2d_weight_grad|gemm_pack|_M_fill_assign|Columns|for_each_product|sum_over_batch"),
    ("im2col / col2im (stride-2 convs' backward)", r"im2col|col2im"),
    ("group norm", r"forward_typed|backward_typed|group_norm"),
    ("strided copies (cat, contiguous)", r"copy_typed"),
    ("elementwise (add, mul, silu, ...)", r"map1|map2|map3|unary_typed|binary|where|Walker|for_each_row|exp"),
    ("reductions (bias and broadcast gradients)", r"reduce|sum_run|softmax"),
    ("optimizer (AdamW, EMA, clipping)", r"adamw|ema_|sum_of_squares"),
    ("memcpy / memset", r"memmove|memcpy|memset"),
    ("OpenMP runtime (threads waiting)", r"libgomp"),
    ("kernel (page faults) and allocator", r"kernel.kallsyms|malloc|free|Allocator|_int_"),
]


def main():
    out = subprocess.run(["perf", "report", "-i", sys.argv[1], "--no-children", "--sort", "dso,symbol", "--stdio",
                          "-g", "none"], capture_output=True, text=True, check=True).stdout
    total = collections.Counter()
    other = 0.0
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[.\]\s+(.*)", line)
        if not m:
            continue
        pct, where = float(m.group(1)), m.group(2) + " " + m.group(3)
        for name, pattern in FAMILIES:
            if re.search(pattern, where):
                total[name] += pct
                break
        else:
            other += pct
    print("| op family | share of the time |")
    print("|---|---:|")
    for name, _ in FAMILIES:
        print(f"| {name} | {total[name]:.1f}% |")
    print(f"| other | {other:.1f}% |")


if __name__ == "__main__":
    main()
