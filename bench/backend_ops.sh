#!/usr/bin/env bash
# Each backend kernel's perf cases (bench_backend_ops) beside PyTorch's one-call equivalent where it
# has one (bench/backend_ops_torch.py), same shapes and thread count; prints a markdown table with the
# machine it ran on. "PyTorch / ours" above 1: we are faster.
# Usage: bench/backend_ops.sh [build-dir] [cpu] [threads=nproc] [kernel...]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/machine.sh
build=${1:-build}
dev=${2:-cpu}
threads=${3:-$(nproc)}
shift $(( $# < 3 ? $# : 3 ))
export OMP_NUM_THREADS=$threads
ours=$(mktemp); theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
"$build/bench/bench_backend_ops" "$dev" "$@" | tail -n +2 >"$ours"
py=python3
/usr/bin/python3 -c "import torch" 2>/dev/null && py=/usr/bin/python3
if [ "$dev" = cpu ] && $py -c "import torch" 2>/dev/null; then
  $py bench/backend_ops_torch.py --threads "$threads" >"$theirs" || echo "(the PyTorch run failed)" >&2
fi
bench_machine
echo "Backend kernels on $dev, $threads threads: median ms; GB/s and GFLOP/s are ours"
echo
echo "| kernel | case | ours ms | GB/s | GFLOP/s | PyTorch ms | PyTorch / ours |"
echo "|---|---|---:|---:|---:|---:|---:|"
awk -F'\t' 'FILENAME == ARGV[1] { t[$1 "|" $2] = $3; next }
  { k = $1 "|" $2; p = (k in t) ? t[k] : "";
    printf "| %s | %s | %.3f | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, (p == "" ? "" : sprintf("%.3f", p)),
      (p != "" && $3 > 0) ? sprintf("%.2f", p / $3) : "" }' "$theirs" "$ours"
