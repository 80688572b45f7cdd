#!/usr/bin/env bash
# One DDPM training step (forward, backward, AdamW) of the U-Net presets, ddpmcpp beside PyTorch, same
# batch and thread count; prints a markdown table. Note: on a machine shared with other jobs, OpenMP
# threads contend for the cores and both columns slow down a lot; compare runs taken together.
# MODE=bf16 or MODE=compile runs PyTorch in that mode (bench/train_step_torch.py --mode; default eager float32).
# Usage: [STEPS=timed steps, default 10] [MODE=eager|bf16|compile] bench/train_step.sh [build-dir] [cpu|cuda] [batch=64] [threads=nproc]
#        [presets... = tiny small]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
dev=${2:-cpu}
batch=${3:-64}
threads=${4:-$(nproc)}
shift $(( $# < 4 ? $# : 4 ))
presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(tiny small)
export OMP_NUM_THREADS=$threads
ours=$(mktemp); theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
steps=${STEPS:-10}
mode=${MODE:-eager}
"$build/bench/bench_train_step" "$dev" "$batch" "$steps" "${presets[@]}" >"$ours"
py=python3
/usr/bin/python3 -c "import torch" 2>/dev/null && py=/usr/bin/python3  # Debian's python3-torch
if $py -c "import torch" 2>/dev/null; then
  $py bench/train_step_torch.py --device "$dev" --threads "$threads" --batch "$batch" --steps "$steps" --mode "$mode" "${presets[@]}" >"$theirs" ||
    echo "(the PyTorch run failed: PyTorch column empty)" >&2
else
  echo "(python3-torch is not installed: PyTorch column empty)" >&2
fi
echo "Training step at batch $batch, 32x32 ($dev, $threads threads; PyTorch $mode): seconds per step, median after warm-up"
echo
echo "| preset | ddpmcpp s/step | PyTorch s/step | ddpmcpp images/s | PyTorch images/s |"
echo "|---|---:|---:|---:|---:|"
awk -F'\t' -v b="$batch" 'FILENAME == ARGV[1] { t[$1] = $2; next }
  { p = ($1 in t) ? t[$1] : "";
    pi = (p != "" && p > 0) ? sprintf("%.1f", b / p) : "";
    printf "| %s | %.3f | %s | %.1f | %s |\n", $1, $2, (p == "" ? "" : sprintf("%.3f", p)), b / $2, pi }' \
  "$theirs" "$ours"
