#!/usr/bin/env bash
# Where the time of a training step (or of a sampler step's U-Net evaluation) goes, by op family:
# `perf record` of bench_train_step (or bench_sample), summed by bench/perf_families.py. Needs perf.
# Usage: bench/profile.sh [build-dir] [train|sample] [preset=tiny] [batch=64] [threads=nproc]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/machine.sh
build=${1:-build}
what=${2:-train}
preset=${3:-tiny}
batch=${4:-64}
export OMP_NUM_THREADS=${5:-$(nproc)}
command -v perf >/dev/null || { echo "profile.sh: perf is not installed (Debian: linux-perf)" >&2; exit 1; }
data=$(mktemp)
trap 'rm -f "$data"' EXIT
if [ "$what" = train ]; then
  perf record -q -o "$data" "$build/bench/bench_train_step" cpu "$batch" 6 "$preset" >/dev/null
else
  perf record -q -o "$data" "$build/bench/bench_sample" cpu 20 "$batch" "$preset" >/dev/null
fi
bench_machine
echo "Profile of $([ "$what" = train ] && echo "a training step" || echo "a U-Net evaluation (sampling)"), $preset preset, batch $batch, $OMP_NUM_THREADS threads (perf, self time):"
echo
python3 bench/perf_families.py "$data"
