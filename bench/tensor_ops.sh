#!/usr/bin/env bash
# Tensor op timings, ddpmcpp beside PyTorch, same shapes, same thread count, one run.
# Usage: bench/tensor_ops.sh [build-dir] [cpu|cuda]   (needs python3-torch for the PyTorch column)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
dev=${2:-cpu}
threads=$(nproc)
export OMP_NUM_THREADS=$threads
ours=$(mktemp); theirs=$(mktemp)
"$build/bench/bench_tensor" "$dev" >"$ours"
py=python3
/usr/bin/python3 -c "import torch" 2>/dev/null && py=/usr/bin/python3  # Debian's python3-torch
if $py -c "import torch" 2>/dev/null; then
  $py bench/tensor_ops_torch.py "$dev" "$threads" >"$theirs"
else
  echo "(python3-torch is not installed: PyTorch column empty)" >&2
fi
printf "%-42s %12s %12s %8s\n" "op ($dev, $threads threads)" "ddpmcpp ms" "pytorch ms" "ratio"
awk -F'\t' 'FILENAME == ARGV[1] { t[$1] = $2; next }
  { p = ($1 in t) ? t[$1] : ""; r = (p != "" && p > 0) ? sprintf("%.2f", $2 / p) : "";
    printf "%-42s %12s %12s %8s\n", $1, $2, p, r }' "$theirs" "$ours"
rm -f "$ours" "$theirs"
