#!/usr/bin/env bash
# The main job, from a fresh machine: installs what is missing, builds the tools, trains the tiny
# DDPM U-Net on Fashion-MNIST on the CPU (about ten minutes on 2 cores), then samples 64 images with
# the paper's sampler (Algorithm 2, all 1000 steps) into runs/fashion-tiny/samples.png.
#
#   scripts/demo.sh                 # the defaults below
#   STEPS=4000 scripts/demo.sh      # longer: better garments
#   DEVICE=cuda scripts/demo.sh     # on a GPU
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/fashion-tiny}
STEPS=${STEPS:-1500}
DEVICE=${DEVICE:-cpu}
# Only the two tools are built, in their own build folder; the CUDA kernels only when a GPU is asked for.
if [ "$DEVICE" = cpu ]; then cuda=OFF; else cuda=AUTO; fi
BUILD=${BUILD:-build-demo-$DEVICE}

scripts/setup.sh
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDDPM_CUDA=$cuda -DBUILD_TESTING=OFF -DDDPM_BUILD_BENCH=OFF
cmake --build "$BUILD" -j"$(nproc)" --target ddpm_tool_train ddpm_tool_sample

# A finished run is kept (delete $OUT, or pick another OUT, to train again); an interrupted one
# (Ctrl-C saves a checkpoint) is resumed.
if [ ! -f "$OUT/trained-$STEPS" ]; then
  resume=()
  [ -f "$OUT/state.safetensors" ] && resume=(--resume)
  "$BUILD/tools/train" --preset tiny --data fashion-mnist --steps "$STEPS" --batch 64 --lr 1e-3 --warmup 100 \
    --ema-decay 0.999 --sample-every 500 --checkpoint-every 250 --device "$DEVICE" --out "$OUT" "${resume[@]}"
  touch "$OUT/trained-$STEPS"
fi
"$BUILD/tools/sample" --checkpoint "$OUT/model.safetensors" --n 64 --sampler ddpm --seed 1 --device "$DEVICE" \
  --out "$OUT/samples.png" --progress "$OUT/progress.png" --progress-frames 10
echo "samples: $OUT/samples.png  (the denoising of each: $OUT/progress.png, the loss: $OUT/log.csv)"
