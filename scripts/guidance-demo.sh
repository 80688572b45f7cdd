#!/usr/bin/env bash
# Class conditioning and guidance, measured: trains the class-conditional tiny DDPM on Fashion-MNIST with
# the demo's budget and a noise-aware classifier, then draws 50 images of each class at guidance
# w = 0, 1 and 3 (and with classifier guidance on the unconditional demo model when it exists) and
# scores each with tools/eval --fd: the share classified as the class asked for, the Frechet distance
# of the classifier's features (not FID), and the grids.
#
#   scripts/guidance-demo.sh              # the defaults below, on the CPU (about 35 minutes on 2 cores)
#   DEVICE=cuda scripts/guidance-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/fashion-tiny-cond}
STEPS=${STEPS:-1500}
CLASSIFIER_STEPS=${CLASSIFIER_STEPS:-6000}
PER_CLASS=${PER_CLASS:-50}
DEVICE=${DEVICE:-cpu}
if [ "$DEVICE" = cpu ]; then cuda=OFF; else cuda=AUTO; fi
BUILD=${BUILD:-build-demo-$DEVICE}
scripts/setup.sh
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDDPM_CUDA=$cuda -DBUILD_TESTING=OFF -DDDPM_BUILD_BENCH=OFF \
  > /dev/null
cmake --build "$BUILD" -j"$(nproc)" --target ddpm_tool_train ddpm_tool_sample ddpm_tool_eval ddpm_tool_train-classifier
T="$BUILD/tools"
mkdir -p "$OUT"
if [ ! -f "$OUT/trained-$STEPS" ]; then
  resume=(); [ -f "$OUT/state.safetensors" ] && resume=(--resume)
  "$T/train" --preset tiny --data fashion-mnist --class-cond --p-uncond 0.1 --steps "$STEPS" --batch 64 --lr 1e-3 \
    --warmup 100 --ema-decay 0.999 --sample-every 500 --checkpoint-every 250 --device "$DEVICE" --out "$OUT" "${resume[@]}"
  touch "$OUT/trained-$STEPS"
fi
if [ ! -f "$OUT/classifier.safetensors" ]; then
  "$T/train-classifier" --steps "$CLASSIFIER_STEPS" \
    --batch 64 --device "$DEVICE" --out "$OUT/classifier.safetensors.tmp"
  mv "$OUT/classifier.safetensors.tmp" "$OUT/classifier.safetensors"
fi
for w in 0 1 3; do
  "$T/sample" --checkpoint "$OUT/model.safetensors" --class all --n "$PER_CLASS" --guidance "$w" --sampler ddim \
    --steps 50 --seed 1 --device "$DEVICE" --out "$OUT/w$w-all.png" --npy "$OUT/w$w.npy"
  echo "== guidance w = $w"
  "$T/eval" --fd --samples "$OUT/w$w.npy" --classifier "$OUT/classifier.safetensors" --device "$DEVICE"
  "$T/sample" --checkpoint "$OUT/model.safetensors" --class all --n 8 --guidance "$w" --sampler ddim --steps 100 \
    --seed 2 --device "$DEVICE" --out "$OUT/grid-w$w.png"
done
UNCOND=${UNCOND:-runs/fashion-tiny/model.safetensors}  # the demo's unconditional model, if trained
if [ -f "$UNCOND" ]; then
  for s in 1 3; do
    "$T/sample" --checkpoint "$UNCOND" --class all --n "$PER_CLASS" --classifier "$OUT/classifier.safetensors" \
      --classifier-scale "$s" --sampler ddim --steps 50 --seed 1 --device "$DEVICE" --out "$OUT/cg$s-all.png" \
      --npy "$OUT/cg$s.npy"
    echo "== classifier guidance s = $s on $UNCOND"
    "$T/eval" --fd --samples "$OUT/cg$s.npy" --classifier "$OUT/classifier.safetensors" --device "$DEVICE"
  done
fi
echo "grids: $OUT/grid-w{0,1,3}.png (a row per class)"
