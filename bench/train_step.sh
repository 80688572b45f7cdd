#!/usr/bin/env bash
# One DDPM training step (forward, backward, AdamW) of the U-Net presets, ddpmcpp beside PyTorch, same
# batch and thread count, each preset in its own process (so peak RSS is per preset); prints a markdown
# table with the machine it ran on. Note: on a machine shared with other jobs both columns slow down;
# compare runs taken together. LOAD=1 runs both with one busy process spinning on a core.
# MODE=bf16 or MODE=compile runs PyTorch in that mode (bench/train_step_torch.py --mode; default eager float32).
# Usage: [STEPS=timed steps, default 10] [MODE=eager|bf16|compile] [LOAD=1] bench/train_step.sh [build-dir] [cpu|cuda]
#        [batch=64] [threads=nproc] [presets... = tiny small]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/machine.sh
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
run() { if [ "${LOAD:-0}" = 1 ]; then with_load "$@"; else "$@"; fi; }
py=python3
/usr/bin/python3 -c "import torch" 2>/dev/null && py=/usr/bin/python3  # Debian's python3-torch
have_torch=1
$py -c "import torch" 2>/dev/null || { have_torch=0; echo "(python3-torch is not installed: PyTorch column empty)" >&2; }
for p in "${presets[@]}"; do
  run "$build/bench/bench_train_step" "$dev" "$batch" "$steps" "$p" >>"$ours"
  if [ $have_torch = 1 ]; then
    run $py bench/train_step_torch.py --device "$dev" --threads "$threads" --batch "$batch" --steps "$steps" \
      --mode "$mode" "$p" >>"$theirs" || echo "(the PyTorch run of $p failed: its PyTorch column is empty)" >&2
  fi
done
bench_machine
echo "Training step at batch $batch, 32x32 ($dev, $threads threads; PyTorch $mode$([ "${LOAD:-0}" = 1 ] && echo ", one busy process on a core")):"
echo "seconds per step (median after warm-up); peak resident memory of the process; our allocator's peak of"
echo "live tensors and how many of its requests reached malloc in the timed steps"
echo
echo "| preset | ddpmcpp s/step | PyTorch s/step | PyTorch / ddpmcpp | ddpmcpp images/s | PyTorch images/s | ddpmcpp peak RSS MiB | PyTorch peak RSS MiB | ddpmcpp tensor peak MiB | mallocs in timed steps |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' -v b="$batch" 'FILENAME == ARGV[1] { t[$1] = $2; r[$1] = $3; next }
  { p = ($1 in t) ? t[$1] : "";
    pi = (p != "" && p > 0) ? sprintf("%.1f", b / p) : "";
    ratio = (p != "" && $2 > 0) ? sprintf("%.2f", p / $2) : "";
    printf "| %s | %.3f | %s | %s | %.1f | %s | %.0f | %s | %.0f | %d |\n", $1, $2, (p == "" ? "" : sprintf("%.3f", p)),
      ratio, b / $2, pi, $5, ($1 in r) ? sprintf("%.0f", r[$1]) : "", $3, $4 }' \
  "$theirs" "$ours"
