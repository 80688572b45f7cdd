#!/usr/bin/env bash
# One sampler step's network evaluation (the U-Net forward under no grad, in eval mode) of the presets,
# ddpmcpp beside PyTorch, same batches and thread count; prints a markdown table with the machine it
# ran on. A 1000-step DDPM sample costs 1000 of these. LOAD=1 runs both with one busy process on a core.
# Usage: [EVALS=timed evaluations, default 10] [LOAD=1] bench/sample.sh [build-dir] [cpu|cuda] [batches=64,1]
#        [threads=nproc] [presets... = tiny small]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/machine.sh
build=${1:-build}
dev=${2:-cpu}
batches=${3:-64,1}
threads=${4:-$(nproc)}
shift $(( $# < 4 ? $# : 4 ))
presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(tiny small)
export OMP_NUM_THREADS=$threads
ours=$(mktemp); theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
evals=${EVALS:-10}
run() { if [ "${LOAD:-0}" = 1 ]; then with_load "$@"; else "$@"; fi; }
py=python3
/usr/bin/python3 -c "import torch" 2>/dev/null && py=/usr/bin/python3
run "$build/bench/bench_sample" "$dev" "$evals" "$batches" "${presets[@]}" >"$ours"
if $py -c "import torch" 2>/dev/null; then
  run $py bench/sample_torch.py --device "$dev" --threads "$threads" --batches "$batches" --steps "$evals" \
    "${presets[@]}" >"$theirs" || echo "(the PyTorch run failed: PyTorch column empty)" >&2
else
  echo "(python3-torch is not installed: PyTorch column empty)" >&2
fi
bench_machine
echo "U-Net evaluation under no grad, 32x32 ($dev, $threads threads$([ "${LOAD:-0}" = 1 ] && echo ", one busy process on a core")): milliseconds, median after warm-up"
echo
echo "| preset | batch | ddpmcpp ms | PyTorch ms | PyTorch / ddpmcpp |"
echo "|---|---:|---:|---:|---:|"
awk -F'\t' 'FILENAME == ARGV[1] { t[$1 "/" $2] = $3; next }
  { k = $1 "/" $2; p = (k in t) ? t[k] : "";
    printf "| %s | %d | %.2f | %s | %s |\n", $1, $2, $3, (p == "" ? "" : sprintf("%.2f", p)),
      (p != "" && $3 > 0) ? sprintf("%.2f", p / $3) : "" }' "$theirs" "$ours"
