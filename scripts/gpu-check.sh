#!/usr/bin/env bash
# One command that proves the whole GPU path on a lent H100/H200 machine in about 8 minutes: builds
# everything for sm_90, runs the whole test suite with DDPM_EXPECT_GPU=1, compute-sanitizer memcheck
# over a few CUDA test cases of each kernel family, a 200-step training run whose loss must fall and
# whose first 5 losses must match the CPU's, the bound (tools/eval) on the GPU against the CPU and a
# learned-range run, class-conditional training, a classifier, guided sampling and its quality score
# against the CPU's, benchmarks beside PyTorch (training step and sampling;
# eager float32, bf16 autocast channels_last, torch.compile), and our model.safetensors loaded by the
# safetensors package into bench/unet_torch.py and compared with our forward. Writes OUTDIR/summary.md
# (also printed last) and OUTDIR/logs.tar.gz (every log); exit code 0 when every step passed, else 1.
# Without a GPU (nvidia-smi missing, failing or listing none) it prints one line and exits 0.
#
# Usage: scripts/gpu-check.sh OUTDIR
#
# The device call (after scripts/gpu-prepare.sh has filled .gpu-deps/ here: the GPU machine has no
# network and no Debian packages, so the build's dependencies and Fashion-MNIST travel with the tree):
#   scripts/gpu-prepare.sh                                   # here, on the Debian machine
#   run(command="scripts/gpu-check.sh $OUT/gpu-check", carry=[".gpu-deps"], timeout_s=600)
# $OUT/gpu-check then holds exactly two files, summary.md and logs.tar.gz (the device returns at most
# 8 files); both are rewritten after every step, so a run cut short still brings back what it did.
# Every step has a time limit, and all of them end by DDPM_GPU_CHECK_DEADLINE (560 s) after the start,
# inside the device's 600 s per command: a step with no time left is reported as not run.
#
# Environment (all optional):
#   DDPM_GPU_CHECK_DEVICE=cpu   a CPU REHEARSAL that shakes out this script's logic on a machine without
#                               a GPU: CPU-only build (DDPM_CUDA=OFF), ctest -L tools, no sanitizer, a short
#                               CPU training run compared with itself, CPU benchmarks of tiny; its summary
#                               says on every line that it ran on the CPU and proves nothing about the GPU.
#   DDPM_GPU_CHECK_BUILD_DIR    build folder (default build-gpu; build-gpu-check-cpu in the rehearsal)
#   DDPM_GPU_CHECK_TARGETS      build only these targets (default: everything)
#   DDPM_GPU_CHECK_JOBS         build jobs (default: every core)
#   DDPM_GPU_CHECK_KEEP_LOGS=1  also leave the logs unpacked in OUTDIR/logs/
#   DDPM_GPU_CHECK_DEADLINE     seconds after the start by which every step has ended (default 560)
#   DDPM_GPU_CHECK_NVIDIA_SMI   the nvidia-smi to ask (default nvidia-smi; the ctest test names a missing
#                               one, so that it checks the no-GPU path even on a GPU machine, never recursing)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
REPO=$PWD
MODE=${DDPM_GPU_CHECK_DEVICE:-cuda}
SMI=${DDPM_GPU_CHECK_NVIDIA_SMI:-nvidia-smi}

[ "$MODE" = cuda ] || [ "$MODE" = cpu ] || { echo "gpu-check: error: DDPM_GPU_CHECK_DEVICE is '$MODE', expected cuda or cpu" >&2; exit 2; }

# ---- 0. no GPU: one line, exit 0 (CI runs it that way) -------------------------------------------
if [ "$MODE" = cuda ]; then
  if ! command -v "$SMI" >/dev/null 2>&1; then
    echo "gpu-check: no GPU: $SMI not found; nothing to check"
    exit 0
  fi
  gpu_list=$(timeout 30 "$SMI" -L 2>&1); rc=$?
  if [ $rc != 0 ]; then
    echo "gpu-check: no GPU: '$SMI -L' failed (exit $rc${gpu_list:+: $(head -1 <<<"$gpu_list")}); nothing to check"
    exit 0
  fi
  if ! grep -q '^GPU [0-9]' <<<"$gpu_list"; then
    echo "gpu-check: no GPU: '$SMI -L' lists none; nothing to check"
    exit 0
  fi
else
  gpu_list="(none: CPU rehearsal)"
fi
[ $# -eq 1 ] || { echo "usage: scripts/gpu-check.sh OUTDIR" >&2; exit 2; }

OUT=$(mkdir -p "$1" && cd "$1" && pwd) || { echo "gpu-check: error: cannot create $1" >&2; exit 2; }
rm -rf "$OUT/logs" "$OUT/summary.md" "$OUT/logs.tar.gz"
T_START=$EPOCHREALTIME
DEADLINE=${DDPM_GPU_CHECK_DEADLINE:-560}
NPROC=$(nproc)
JOBS=${DDPM_GPU_CHECK_JOBS:-$NPROC}
if [ "$MODE" = cpu ]; then
  B=${DDPM_GPU_CHECK_BUILD_DIR:-build-gpu-check-cpu}
  DEV=cpu
  TAG=" (CPU rehearsal)"
else
  B=${DDPM_GPU_CHECK_BUILD_DIR:-build-gpu}
  DEV=cuda
  TAG=""
fi
B=$(mkdir -p "$B" && cd "$B" && pwd)
RUNS=$B/gpu-check-runs  # training runs and dumps: big files stay out of OUTDIR
LOGS=$B/gpu-check-logs  # tarred into OUTDIR/logs.tar.gz after every step
rm -rf "$RUNS" "$LOGS"; mkdir -p "$RUNS" "$LOGS"

log() { echo "gpu-check: $*"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }'; }
# lim SECONDS: that, or less where the deadline comes first (20 s kept for the summary)
lim() { local left=$(( DEADLINE - 20 - $(elapsed "$T_START") )); echo $(( left < $1 ? (left < 0 ? 0 : left) : $1 )); }

# ---- the step runner: each step is timed, logged, and its failure does not stop the rest ----------
STEP_NAMES=(); STEP_RESULTS=(); STEP_SECS=(); STEP_NOTES=()
step_begin() {  # step_begin NAME: prints a banner; the step's body follows
  CUR_STEP=$1; CUR_T0=$EPOCHREALTIME
  log "---- $1$TAG ($(elapsed "$T_START") s in)"
}
step_end() {  # step_end PASS|FAIL|SKIP "key numbers"
  STEP_NAMES+=("$CUR_STEP"); STEP_RESULTS+=("$1"); STEP_SECS+=("$(elapsed "$CUR_T0")"); STEP_NOTES+=("$2")
  log "$CUR_STEP: $1 in $(elapsed "$CUR_T0") s: $2"
  write_summary partial
}
# A timed command (at most SECONDS, and not past the deadline) with its output in a log; returns its
# exit code (124: it ran out of time, or had none left).
run_logged() {  # run_logged LOG SECONDS command...
  local logf=$1 secs; secs=$(lim "$2"); shift 2
  echo "\$ $*   (limit $secs s)" >>"$logf"
  if [ "$secs" -lt 5 ]; then echo "not run: the ${DEADLINE} s deadline" >>"$logf"; return 124; fi
  timeout --kill-after=10 "$secs" "$@" >>"$logf" 2>&1
}
# Like run_logged, with stdout (the numbers) also in OUTFILE.
run_to() {  # run_to LOG OUTFILE SECONDS command...
  local logf=$1 outf=$2 secs rc; secs=$(lim "$3"); shift 3
  : >"$outf"
  echo "\$ $*   (limit $secs s)" >>"$logf"
  if [ "$secs" -lt 5 ]; then echo "not run: the ${DEADLINE} s deadline" >>"$logf"; return 124; fi
  timeout --kill-after=10 "$secs" "$@" >"$outf" 2>>"$logf"; rc=$?
  cat "$outf" >>"$logf"
  return $rc
}
# summary.md and logs.tar.gz in OUTDIR, rewritten after every step; the last one is printed.
write_summary() {  # write_summary partial|final
  local s=$OUT/summary.md passed=0 failed=0 skipped=0 i r f
  for r in "${STEP_RESULTS[@]}"; do
    case $r in PASS) passed=$((passed + 1)) ;; FAIL) failed=$((failed + 1)) ;; *) skipped=$((skipped + 1)) ;; esac
  done
  {
    echo "# gpu-check$TAG"
    echo
    sed 's/^/- /' "$LOGS/header.txt"
    echo "- total: $(elapsed "$T_START") s$([ "$1" = partial ] && echo " so far (PARTIAL: still running, or cut short)"); every log in logs.tar.gz (tar xzf logs.tar.gz)"
    echo
    echo "| step | result | seconds | key numbers |"
    echo "|---|---|---:|---|"
    for i in "${!STEP_NAMES[@]}"; do
      echo "| ${STEP_NAMES[$i]}$TAG | ${STEP_RESULTS[$i]} | ${STEP_SECS[$i]} | ${STEP_NOTES[$i]//|/\\|} |"
    done
    [ -f "$LOGS/bench_tables.md" ] && { echo; cat "$LOGS/bench_tables.md"; }
    echo
    if [ "$1" = partial ]; then echo "**gpu-check$TAG: PARTIAL, $passed passed and $failed failed so far**"
    elif [ $failed -eq 0 ]; then echo "**gpu-check$TAG: all $passed steps passed$([ $skipped -gt 0 ] && echo ", $skipped skipped")**"
    else echo "**gpu-check$TAG: $failed of ${#STEP_NAMES[@]} steps FAILED**"; fi
  } >"$s.tmp" && mv "$s.tmp" "$s"
  for f in "$RUNS"/*/log.csv; do [ -f "$f" ] && cp "$f" "$LOGS/$(basename "$(dirname "$f")")-log.csv"; done
  cp "$s" "$LOGS/summary.md"
  tar -czf "$OUT/logs.tar.gz.tmp" -C "$B" "$(basename "$LOGS")" && mv "$OUT/logs.tar.gz.tmp" "$OUT/logs.tar.gz"
  if [ "$1" = final ]; then
    [ "${DDPM_GPU_CHECK_KEEP_LOGS:-0}" = 1 ] && rm -rf "$OUT/logs" && cp -r "$LOGS" "$OUT/logs"
    echo
    cat "$s"
    [ $failed -eq 0 ]
  fi
}
# The Python with PyTorch: python3 (the GPU machine's PyTorch 2.x), else Debian's /usr/bin/python3.
PY=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c "import torch" >/dev/null 2>&1; then PY=$p; break; fi
done

# ---- the header: the machine, the date, the source ----------------------------------------------
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  if [ "$MODE" = cuda ]; then
    echo "GPU: $("$SMI" --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -4 | tr '\n' ';')"
  else
    echo "GPU: none: CPU REHEARSAL (DDPM_GPU_CHECK_DEVICE=cpu), nothing here says anything about the GPU path"
  fi
  if git rev-parse HEAD >/dev/null 2>&1; then
    echo "source: commit $(git rev-parse HEAD) ($(git log -1 --format=%s | cut -c1-80)), $(git status --porcelain --untracked-files=no | wc -l) tracked files changed"
  elif [ -f .gpu-deps/source.txt ]; then
    echo "source: as recorded by scripts/gpu-prepare.sh: $(tr '\n' ';' <.gpu-deps/source.txt)"
  else
    echo "source: unknown (no .git and no .gpu-deps/source.txt)"
  fi
  echo "host: $(uname -srm), $NPROC cores; $(cmake --version | head -1); nvcc: $( (nvcc --version || /usr/local/cuda/bin/nvcc --version) 2>/dev/null | grep -o 'release [0-9.]*' | head -1)"
  echo "python: ${PY:-none with torch}$([ -n "$PY" ] && "$PY" -c 'import sys, torch; print(f" (Python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda})")' 2>/dev/null)"
} >"$LOGS/header.txt"
cat "$LOGS/header.txt"
echo "$gpu_list" >"$LOGS/nvidia-smi.txt"; [ "$MODE" = cuda ] && "$SMI" >>"$LOGS/nvidia-smi.txt" 2>&1

# ---- 1. dependencies: the .debs from gpu-prepare.sh unpacked into the build folder (never into /) -----
step_begin deps
DEPS=$REPO/.gpu-deps
ROOT=$B/gpu-deps-root
deps_note=""
if ls "$DEPS"/debs/*.deb >/dev/null 2>&1; then
  stamp=$(cd "$DEPS/debs" && ls *.deb | sort | tr '\n' ' ')
  if [ "$(cat "$ROOT/.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$ROOT"; mkdir -p "$ROOT"
    for deb in "$DEPS"/debs/*.deb; do
      if command -v dpkg >/dev/null; then
        dpkg -x "$deb" "$ROOT" >>"$LOGS/deps.log" 2>&1 || deps_note+="dpkg -x $(basename "$deb") failed; "
      else  # a .deb is an ar archive holding data.tar.*
        tmp=$(mktemp -d)
        (cd "$tmp" && ar x "$deb" && tar -xf data.tar.* -C "$ROOT") >>"$LOGS/deps.log" 2>&1 ||
          deps_note+="unpacking $(basename "$deb") failed; "
        rm -rf "$tmp"
      fi
    done
    # Absolute symlinks point into this machine's /, where the target may not be (zlib1g-dev's libz.so ->
    # /lib/x86_64-linux-gnu/libz.so.1.2.13): point them at the unpacked copy.
    while IFS= read -r l; do
      t=$(readlink "$l")
      [[ "$t" == /* ]] && [ -e "$ROOT$t" ] && ln -sfn "$ROOT$t" "$l"
    done < <(find "$ROOT" -type l)
    # Debian's doctestTargets.cmake hard-codes its prefix /usr: make it relative to where it lies.
    f=$ROOT/usr/lib/cmake/doctest/doctestTargets.cmake
    [ -f "$f" ] && sed -i 's|^set(_IMPORT_PREFIX "/usr")|get_filename_component(_IMPORT_PREFIX "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)|' "$f"
    echo "$stamp" >"$ROOT/.stamp"
  fi
  # find_package and find_library look here first (the environment variable, so that the nested CMake
  # project of the install_find_package test finds them too); stb's headers have no CMake target.
  export CMAKE_PREFIX_PATH="$ROOT/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export CXXFLAGS="-isystem $ROOT/usr/include${CXXFLAGS:+ $CXXFLAGS}"
  # libstb.so.0 at run time (the build tree's RUNPATH has it too): a folder with nothing else in it.
  mkdir -p "$ROOT/stblib" && ln -sf "$ROOT"/usr/lib/x86_64-linux-gnu/libstb.so.0* "$ROOT/stblib/" 2>/dev/null
  export LD_LIBRARY_PATH="$ROOT/stblib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  deps_note+="$(wc -w <<<"$stamp") .debs unpacked into $ROOT; "
else
  deps_note+="no .gpu-deps/debs (run scripts/gpu-prepare.sh before the device call): the system's packages; "
fi
if [ -f "$DEPS/fashion-mnist/train-images-idx3-ubyte.gz" ] && [ -f "$DEPS/fashion-mnist/t10k-images-idx3-ubyte.gz" ]; then
  export DDPM_FASHION_MNIST_DIR=$DEPS/fashion-mnist
  deps_note+="Fashion-MNIST from .gpu-deps"
else
  deps_note+="Fashion-MNIST from ${DDPM_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
fi
# Where each header resolves (the preprocessor's view, as the build will see it).
CXX_PROBE=${CXX:-$(command -v c++ || command -v g++ || echo c++)}
{
  echo "CMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH:-}"; echo "CXXFLAGS=${CXXFLAGS:-}"; echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  printf '#include <doctest/doctest.h>\n#include <stb/stb_image.h>\n#include <cxxopts.hpp>\n#include <zlib.h>\n' |
    $CXX_PROBE ${CXXFLAGS:-} -std=c++17 -E -H -x c++ - 2>&1 >/dev/null | grep -E '^\. ' | sed 's/^/header: /'
} >>"$LOGS/deps.log" 2>&1
missing_headers=$(printf '#include <doctest/doctest.h>\n#include <stb/stb_image.h>\n#include <cxxopts.hpp>\n#include <zlib.h>\n' |
  $CXX_PROBE ${CXXFLAGS:-} -std=c++17 -fsyntax-only -x c++ - 2>&1 | grep -o "[a-z_/]*\.h[p]*: No such file" | tr '\n' ' ')
if [ -z "$missing_headers" ] && [[ "$deps_note" != *failed* ]]; then step_end PASS "$deps_note"
else step_end FAIL "$deps_note ${missing_headers:+missing: $missing_headers}"; fi

# ---- 2. configure and build everything (sm_90 only, all cores) ---------------------------------------
step_begin build
gen=()  # Ninja where there is one, unless the folder was configured before (its generator stays)
[ ! -f "$B/CMakeCache.txt" ] && command -v ninja >/dev/null && gen=(-G Ninja)
if [ "$MODE" = cuda ]; then
  cfg=(-DCMAKE_CUDA_ARCHITECTURES=90 -DDDPM_CUDA=ON -DCMAKE_BUILD_TYPE=Release)
else
  cfg=(-DDDPM_CUDA=OFF -DCMAKE_BUILD_TYPE=Release)
fi
targets=()
for t in ${DDPM_GPU_CHECK_TARGETS:-}; do targets+=(--target "$t"); done
build_ok=0
run_logged "$LOGS/build.log" 180 cmake -S . -B "$B" "${gen[@]}" "${cfg[@]}"; rc=$?
if [ $rc = 0 ]; then run_logged "$LOGS/build.log" 420 cmake --build "$B" -j "$JOBS" "${targets[@]}"; rc=$?; fi
[ $rc = 0 ] && build_ok=1
# Where CMake found the dependencies.
found=$(grep -E '^(Eigen3_DIR|doctest_DIR|cxxopts_DIR|DDPM_STB_LIBRARY|ZLIB_INCLUDE_DIR|ZLIB_LIBRARY_RELEASE|CMAKE_CUDA_ARCHITECTURES)[:=]' \
  "$B/CMakeCache.txt" 2>/dev/null | sed 's/:[A-Z]*=/=/')
echo "$found" >>"$LOGS/deps.log"
from_deps=$(grep -c "$ROOT" <<<"$found")
if [ $build_ok = 1 ]; then
  step_end PASS "$([ "$MODE" = cuda ] && echo "sm_90, ")$JOBS jobs${targets:+, targets ${DDPM_GPU_CHECK_TARGETS}}; $from_deps of 6 dependency paths from .gpu-deps (deps.log)"
else
  step_end FAIL "$([ $rc = 124 ] && echo "ran out of time; ")see build.log: $(grep -m1 -E 'error:|Error' "$LOGS/build.log" | cut -c1-160)"
fi

if [ $build_ok != 1 ]; then
  write_summary final
  exit 1
fi

# ---- 3a. the whole test suite; a CUDA test that would skip fails instead -------------------------
step_begin ctest
ctest_args=(-j "$NPROC" --output-on-failure --timeout 120)
[ "$MODE" = cpu ] && ctest_args+=(-L tools)  # the rehearsal builds only a few targets
# The course's student-version check builds a CPU-only copy of the tree: CI's job, not the GPU's.
ctest_args+=(-E course_student_version_scores_nothing)
export OMP_NUM_THREADS=2  # 16 tests at once on 16 cores
if [ "$MODE" = cuda ]; then
  DDPM_EXPECT_GPU=1 run_logged "$LOGS/ctest.log" 200 ctest --test-dir "$B" "${ctest_args[@]}"
else
  run_logged "$LOGS/ctest.log" 200 ctest --test-dir "$B" "${ctest_args[@]}"
fi
rc=$?
unset OMP_NUM_THREADS
total=$(grep -oE 'tests failed out of [0-9]+' "$LOGS/ctest.log" | grep -oE '[0-9]+$' | tail -1)
nfail=$(grep -oE '[0-9]+ tests failed out of' "$LOGS/ctest.log" | grep -oE '^[0-9]+' | tail -1)
nskip=$(grep -E '\*\*\*Skipped' "$LOGS/ctest.log" | grep -c . )
failed_names=$(sed -n '/The following tests FAILED:/,/^[^ \t]/p' "$LOGS/ctest.log" | grep -E '^\s+[0-9]+ - ' |
  sed -E 's/^\s+[0-9]+ - //' | head -12 | tr '\n' ';' | sed 's/;$//')
total=${total:-0}; nfail=${nfail:-?}
npass=$([ "$nfail" != "?" ] && echo $((total - nfail - nskip)) || echo "?")
note="$npass passed, $nfail failed, $nskip skipped of $total$([ $rc = 124 ] && echo "; ran out of time (200 s)")"
[ -n "$failed_names" ] && note+="; failed: $failed_names"
if [ $rc = 0 ] && [ "$total" -gt 0 ] && [ "$nskip" = 0 ]; then step_end PASS "$note"; else step_end FAIL "$note"; fi

# ---- 3b. compute-sanitizer memcheck over a few CUDA test cases of each kernel family ----------------
step_begin memcheck
# binary|doctest test-case patterns (comma-separated; -ts=cuda selects the CUDA suite), most needed first:
# every kernel of the table once (the harness's small cases); elementwise, reductions and softmax,
# random; conv and im2col; group norm (and attention, upsampling); the optimizer's multi-tensor
# kernels; matmul, index ops and copies; a few backward passes.
sanitizer_cases=(
  "test_backend_ops|*: the cuda kernel matches the cpu in every harness case"
  "test_backend_ops_parity|unary: cuda float unary ops*,binary: cuda binary ops with broadcasting*,reduce: cuda reductions over various dims*,softmax: cuda softmax and log_softmax match*,random: the generator gives the same numbers*"
  "test_nn_conv|cuda parity conv2d forward*,cuda parity silu_conv2d*,cuda parity conv_transpose2d*,cuda parity conv kernels im2col*"
  "test_nn_functional|cuda parity group_norm*,cuda parity attention*,cuda parity upsample_nearest2d*"
  "test_nn_optim|cuda adamw multi-tensor*,cuda ema multi-tensor*,cuda clip_grad_norm*"
  "test_backend_ops_parity|gemm: cuda matmul matches the cpu*,index_select gather index_add and scatter_add: cuda ops match*"
  "test_cuda_parity|cuda cat stack split*"
  "test_autograd_ops|cuda parity softmax backward*,cuda parity matmul backward*,cuda parity scatter_add backward*"
)
SAN_LIMIT=40 SAN_BUDGET=120  # seconds per binary run, and for all of them
SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if [ "$MODE" = cpu ]; then
  step_end SKIP "not in the CPU rehearsal (memcheck checks CUDA kernels)"
elif [ ! -x "$SAN" ]; then
  step_end FAIL "compute-sanitizer not found"
else
  san_t0=$EPOCHREALTIME; san_cases=0; san_errors=0; san_bad=""; san_runs=0
  for entry in "${sanitizer_cases[@]}"; do
    bin=${entry%%|*}; pats=${entry#*|}
    left=$(( SAN_BUDGET - $(elapsed "$san_t0") ))
    if [ ! -x "$B/tests/$bin" ]; then san_bad+="$bin not built; "; continue; fi
    if [ $left -lt 10 ]; then san_bad+="$bin not run (${SAN_BUDGET} s spent); "; continue; fi
    ml=$LOGS/memcheck-$bin-$san_runs.log; san_runs=$((san_runs + 1))
    DDPM_EXPECT_GPU=1 run_logged "$ml" $(( left < SAN_LIMIT ? left : SAN_LIMIT )) "$SAN" --tool memcheck \
      --error-exitcode 99 --print-limit 20 "$B/tests/$bin" -ts=cuda "-tc=$pats"
    rc=$?
    ran=$(grep -oE 'test cases: +[0-9]+' "$ml" | tail -1 | grep -oE '[0-9]+$')
    errs=$(grep -oE 'ERROR SUMMARY: [0-9]+' "$ml" | tail -1 | grep -oE '[0-9]+$')
    san_cases=$((san_cases + ${ran:-0})); san_errors=$((san_errors + ${errs:-0}))
    case $rc in
      0) [ "${ran:-0}" -gt 0 ] || san_bad+="$bin: no test case matched; " ;;
      99) san_bad+="$bin: memcheck errors; " ;;
      124) san_bad+="$bin: timed out; " ;;
      *) san_bad+="$bin: exit $rc (a test failed); " ;;
    esac
  done
  note="$san_cases test cases in ${#sanitizer_cases[@]} runs, $san_errors memcheck errors${san_bad:+; $san_bad}"
  note+=" (the caching allocator pools blocks: only accesses outside cudaMalloc'd blocks are caught)"
  if [ -z "$san_bad" ] && [ $san_errors = 0 ] && [ $san_cases -gt 0 ]; then step_end PASS "$note"; else step_end FAIL "$note"; fi
fi

# ---- 3c. training: the loss falls on the GPU, and the first 5 steps match the CPU's --------------
step_begin training
if [ "$MODE" = cuda ]; then train_steps=200; train_batch=64; else train_steps=60; train_batch=16; fi
train_args=(--preset tiny --data fashion-mnist --batch "$train_batch" --lr 1e-3 --warmup 20 --seed 0
            --sample-every 0 --sample-count 4 --sample-steps 5 --checkpoint-every 0)
run_logged "$LOGS/train-$DEV.log" 150 "$B/tools/train" "${train_args[@]}" --steps "$train_steps" --device "$DEV" --out "$RUNS/train-$DEV"
rc_dev=$?
run_logged "$LOGS/train-cpu5.log" 100 "$B/tools/train" "${train_args[@]}" --steps 5 --device cpu --out "$RUNS/train-cpu5"
rc_cpu=$?
csv_dev=$RUNS/train-$DEV/log.csv; csv_cpu=$RUNS/train-cpu5/log.csv
note=""; ok=1
if [ $rc_dev = 0 ] && [ -f "$csv_dev" ]; then
  read -r n first last ratio ips <<<"$(awk -F, -v b="$train_batch" 'NR > 1 { n++; loss[n] = $2; sec[n] = $5 }
    END { w = (n >= 80) ? 20 : int(n / 4); if (w < 1) w = 1
          for (i = 1; i <= w; i++) { f += loss[i]; l += loss[n - i + 1] }
          f /= w; l /= w; ips = (sec[n] > sec[1]) ? (n - 1) * b / (sec[n] - sec[1]) : 0
          printf "%d %.4f %.4f %.3f %.0f", n, f, l, l / f, ips }' "$csv_dev")"
  note+="$DEV: $n steps, loss $first -> $last (mean of first/last $( [ "$n" -ge 80 ] && echo 20 || echo $((n / 4)) )), ratio $ratio (< 0.7), $ips img/s"
  awk -v r="$ratio" 'BEGIN { exit !(r < 0.7) }' || ok=0
else
  note+="$DEV run failed (exit $rc_dev, train-$DEV.log)"; ok=0
fi
if [ $rc_cpu != 0 ] || [ ! -f "$csv_cpu" ]; then
  note+="; the 5-step cpu run failed (exit $rc_cpu, train-cpu5.log)"; ok=0
elif [ ! -f "$csv_dev" ]; then
  note+="; the 5-step cpu run passed, no $DEV losses to compare it with"; ok=0
else
  maxrel=$(awk -F, 'FNR == 1 { next } FILENAME == ARGV[1] { c[$1] = $2; next }
    ($1 in c) && $1 <= 5 { d = $2 - c[$1]; if (d < 0) d = -d; r = d / (c[$1] < 0 ? -c[$1] : c[$1]); if (r > m) m = r; k++ }
    END { if (k < 5) print "only " k " steps"; else printf "%.2e", m }' "$csv_cpu" "$csv_dev")
  note+="; first 5 losses $DEV vs cpu: max rel diff $maxrel (< 1e-3)$([ "$MODE" = cpu ] && echo ", cpu vs cpu in the rehearsal")"
  awk -v m="$maxrel" 'BEGIN { exit !(m + 0 == m && m < 1e-3) }' || ok=0
  [[ "$maxrel" == only* ]] && ok=0
fi
if [ $ok = 1 ]; then step_end PASS "$note"; else step_end FAIL "$note"; fi

# ---- 3e. our model.safetensors in PyTorch via the safetensors package (before the benchmarks: short) ----
step_begin safetensors
model=$RUNS/train-$DEV/model.safetensors
if [ ! -f "$model" ]; then
  step_end FAIL "no $model (the training step failed)"
elif [ -z "$PY" ]; then
  step_end FAIL "no python3 with torch"
else
  note=""; ok=1
  devs=(cpu); [ "$MODE" = cuda ] && devs=(cuda cpu)
  for d in "${devs[@]}"; do  # our forward on each device, against PyTorch float64
    sl=$LOGS/safetensors-ours-$d.log
    if run_logged "$sl" 60 "$B/bench/bench_forward_dump" "$model" "$RUNS/dump-$d" "$d" &&
       run_logged "$sl" 90 "$PY" bench/check_safetensors.py "$model" "$RUNS/dump-$d" --device "$DEV" --tol 1e-4; then
      :
    else
      ok=0
    fi
    res=$(grep -E '^check_safetensors: (PASS|FAIL)' "$sl" | tail -1 | sed 's/^check_safetensors: //')
    note+="ours on $d: ${res:-no result ($(basename "$sl"))}; "
    grep -q "^note: the safetensors package is not installed" "$sl" && fallback=1
  done
  [ -n "${fallback:-}" ] && note+="FALLBACK READER: no safetensors package, the file was read by our own unet_torch.read_safetensors"
  if [ $ok = 1 ]; then step_end PASS "$note"; else step_end FAIL "$note"; fi
fi

# ---- 3f. the bound and learned variances: eval's bits/dim on the GPU equal the CPU's (same noise), and a
# learned-range run with the hybrid loss trains on the GPU -----------------------------------------
step_begin bound
note=""; ok=1
if [ -f "$model" ]; then
  eval_args=(--checkpoint "$model" --nll --n 16 --batch 16 --steps 50 --seed 3)
  run_logged "$LOGS/eval-$DEV.log" 60 "$B/tools/eval" "${eval_args[@]}" --device "$DEV"; rc_e=$?
  # the reference run has its own log: in the rehearsal $DEV is cpu too
  run_logged "$LOGS/eval-cpu-reference.log" 90 "$B/tools/eval" "${eval_args[@]}" --device cpu; rc_c=$?
  bpd_dev=$(awk '/^bits\/dim/ { v = $2 } END { print v }' "$LOGS/eval-$DEV.log")
  bpd_cpu=$(awk '/^bits\/dim/ { v = $2 } END { print v }' "$LOGS/eval-cpu-reference.log")
  if [ $rc_e = 0 ] && [ $rc_c = 0 ] && [ -n "$bpd_dev" ] && [ -n "$bpd_cpu" ]; then
    note+="eval --steps 50 on 16 images: $DEV $bpd_dev, cpu $bpd_cpu bits/dim (within 1e-3)"
    awk -v a="$bpd_dev" -v b="$bpd_cpu" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-3 * b) }' || ok=0
  else
    note+="eval failed ($DEV exit $rc_e, cpu exit $rc_c: eval-$DEV.log, eval-cpu-reference.log)"; ok=0
  fi
else
  note+="no $model (the training step failed)"; ok=0
fi
run_logged "$LOGS/train-learned-$DEV.log" 90 "$B/tools/train" --preset tiny --data fashion-mnist --batch 32 --lr 1e-3 \
  --warmup 10 --steps 60 --variance learned-range --sample-every 0 --sample-count 4 --sample-steps 5 \
  --checkpoint-every 0 --device "$DEV" --out "$RUNS/train-learned-$DEV"; rc_l=$?
csv_l=$RUNS/train-learned-$DEV/log.csv
if [ $rc_l = 0 ] && [ -f "$csv_l" ]; then
  ratio=$(awk -F, 'NR > 1 { n++; loss[n] = $2 } END { for (i = 1; i <= 10; i++) { f += loss[i]; l += loss[n - i + 1] }
                   printf "%.3f", l / f }' "$csv_l")
  note+="; learned-range hybrid 60 steps on $DEV: last/first loss $ratio (< 0.7)"
  awk -v r="$ratio" 'BEGIN { exit !(r < 0.7) }' || ok=0
else
  note+="; the learned-range run failed (exit $rc_l, train-learned-$DEV.log)"; ok=0
fi
if [ $ok = 1 ]; then step_end PASS "$note"; else step_end FAIL "$note"; fi

# ---- 3c2. class conditioning, guidance and the quality score on the device --------------------------
step_begin guidance
note=""; ok=1
G=$RUNS/guidance-$DEV
run_logged "$LOGS/train-cond-$DEV.log" 90 "$B/tools/train" --preset tiny --data fashion-mnist --class-cond --batch 32 \
  --lr 1e-3 --warmup 10 --steps 40 --sample-every 0 --sample-count 10 --sample-steps 5 --checkpoint-every 0 \
  --device "$DEV" --out "$G"; rc_t=$?
run_logged "$LOGS/train-classifier-$DEV.log" 90 "$B/tools/train-classifier" --steps 60 --batch 64 --device "$DEV" \
  --out "$G/classifier.safetensors"; rc_c=$?
if [ $rc_t = 0 ] && [ $rc_c = 0 ]; then
  note+="$(grep -o 'test accuracy.*' "$LOGS/train-classifier-$DEV.log" | head -c 90)"
  run_logged "$LOGS/sample-guided-$DEV.log" 60 "$B/tools/sample" --checkpoint "$G/model.safetensors" --class all --n 4 \
    --guidance 3 --classifier "$G/classifier.safetensors" --classifier-scale 2 --sampler ddim --steps 10 \
    --device "$DEV" --out "$G/guided.png" --npy "$G/guided.npy"; rc_s=$?
  for dev in "$DEV" cpu; do
    run_logged "$LOGS/eval-fd-$dev.log" 60 "$B/tools/eval" --fd --samples "$G/guided.npy" \
      --classifier "$G/classifier.safetensors" --n 500 --device "$dev"
  done
  fd_of() { awk '/^Frechet/ { sub(/.*\(not FID\): /, ""); print $1 }' "$1"; }
  fd_dev=$(fd_of "$LOGS/eval-fd-$DEV.log"); fd_cpu=$(fd_of "$LOGS/eval-fd-cpu.log")
  if [ $rc_s = 0 ] && [ -n "$fd_dev" ] && [ -n "$fd_cpu" ]; then
    note+="; guided samples scored on $DEV: fd $fd_dev, on cpu $fd_cpu (within 1%)"
    awk -v a="$fd_dev" -v b="$fd_cpu" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.01 * b + 1e-6) }' || ok=0
  else
    note+="; guided sampling or eval --fd failed (sample-guided-$DEV.log, eval-fd-*.log)"; ok=0
  fi
else
  note+="class-conditional training (exit $rc_t) or train-classifier (exit $rc_c) failed"; ok=0
fi
if [ $ok = 1 ]; then step_end PASS "$note"; else step_end FAIL "$note"; fi

# ---- 3d. benchmarks beside PyTorch on the same device ------------------------------------------
step_begin benchmarks
BL=$LOGS/bench.log
declare -A R    # R[kind|mode|preset|batch] = ms, or why there is no number
declare -A WHY  # WHY[mode] = the error line of a PyTorch mode that cannot run here (its cells say n/a)
if [ "$MODE" = cuda ]; then
  train_sets=("64|tiny small" "128|cifar10"); sample_presets=(tiny small cifar10); tsteps=10; sevals=20; sbatches=64,1
else
  train_sets=("16|tiny"); sample_presets=(tiny); tsteps=2; sevals=3; sbatches=16,1
fi
COMPILE_LIMIT=60 COMPILE_BUDGET=120  # torch.compile: each process at most 60 s, all of them 120 s
export OMP_NUM_THREADS=$NPROC
bench_ok=1
tmpf=$RUNS/bench.out
put_train() {  # put_train MODE BATCH: "preset<TAB>seconds[<TAB>memory columns]" lines of $tmpf
  local p sec rest
  while IFS=$'\t' read -r p sec rest; do
    [[ "$sec" =~ ^[0-9.]+$ ]] && R["train|$1|$p|$2"]=$(awk -v s="$sec" 'BEGIN { printf "%.2f", s * 1000 }')
  done <"$tmpf"
}
put_sample() {  # put_sample MODE: "preset<TAB>batch<TAB>ms" lines of $tmpf
  local p b ms
  while IFS=$'\t' read -r p b ms; do [[ "$ms" =~ ^[0-9.]+$ ]] && R["sample|$1|$p|$b"]=$ms; done <"$tmpf"
}
why() {  # why RC LIMIT: a short note for a run that gave no number
  case $1 in
    124|137) echo "> $2 s" ;;
    2) echo "n/a" ;;
    *) echo "failed (exit $1)" ;;
  esac
}
fill() {  # fill KIND MODE RC LIMIT KEYS...: the keys still without a number get the reason
  local kind=$1 mode=$2 rc=$3 limit=$4 k note; shift 4
  note=$(why "$rc" "$limit"); [ "$mode" = compile ] && [[ "$note" == ">"* ]] && note="compile $note"
  [ "$rc" = 2 ] && WHY[$mode]=$(grep 'error:' "$BL" | tail -1 | sed 's/.*error: //' | tr -d '|')
  for k in "$@"; do [ -n "${R["$kind|$mode|$k"]:-}" ] || R["$kind|$mode|$k"]=$note; done
}
train_keys() { local p; for p in $2; do echo "$p|$1"; done; }  # train_keys BATCH "presets"
sample_keys() { local p b; for p in "$@"; do for b in ${sbatches//,/ }; do echo "$p|$b"; done; done; }
# ours
for set in "${train_sets[@]}"; do
  batch=${set%%|*}; presets=${set#*|}
  run_to "$BL" "$tmpf" 120 "$B/bench/bench_train_step" "$DEV" "$batch" "$tsteps" $presets; rc=$?
  put_train ours "$batch"; fill train ours $rc 120 $(train_keys "$batch" "$presets"); [ $rc = 0 ] || bench_ok=0
done
run_to "$BL" "$tmpf" 120 "$B/bench/bench_sample" "$DEV" "$sevals" "$sbatches" "${sample_presets[@]}"; rc=$?
put_sample ours; fill sample ours $rc 120 $(sample_keys "${sample_presets[@]}"); [ $rc = 0 ] || bench_ok=0
# PyTorch: eager float32 and bf16 channels_last, one process per batch size (the eager one must run)
pyargs=(--device "$DEV" --threads "$NPROC")
if [ -n "$PY" ]; then
  for mode in eager bf16; do
    for set in "${train_sets[@]}"; do
      batch=${set%%|*}; presets=${set#*|}
      run_to "$BL" "$tmpf" 90 "$PY" bench/train_step_torch.py "${pyargs[@]}" --batch "$batch" --steps "$tsteps" --mode $mode $presets
      rc=$?; put_train $mode "$batch"; fill train $mode $rc 90 $(train_keys "$batch" "$presets")
      [ $mode = eager ] && [ $rc != 0 ] && bench_ok=0
    done
    run_to "$BL" "$tmpf" 90 "$PY" bench/sample_torch.py "${pyargs[@]}" --batches "$sbatches" --steps "$sevals" --mode $mode \
      "${sample_presets[@]}"
    rc=$?; put_sample $mode; fill sample $mode $rc 90 $(sample_keys "${sample_presets[@]}")
    [ $mode = eager ] && [ $rc != 0 ] && bench_ok=0
  done
  # torch.compile: one process per preset and kind, each within the limit, all within the budget
  compile_t0=$EPOCHREALTIME
  compile_lim() { local left=$(( COMPILE_BUDGET - $(elapsed "$compile_t0") )); echo $(( left < COMPILE_LIMIT ? left : COMPILE_LIMIT )); }
  for set in "${train_sets[@]}"; do
    batch=${set%%|*}
    for p in ${set#*|}; do
      l=$(compile_lim)
      if [ "$l" -lt 15 ]; then R["train|compile|$p|$batch"]="not run (${COMPILE_BUDGET} s budget spent)"; continue; fi
      run_to "$BL" "$tmpf" "$l" "$PY" bench/train_step_torch.py "${pyargs[@]}" --batch "$batch" --steps "$tsteps" --mode compile "$p"
      rc=$?; put_train compile "$batch"; fill train compile $rc "$l" "$p|$batch"
    done
  done
  for p in "${sample_presets[@]}"; do
    l=$(compile_lim)
    if [ "$l" -lt 15 ]; then for k in $(sample_keys "$p"); do R["sample|compile|$k"]="not run (${COMPILE_BUDGET} s budget spent)"; done; continue; fi
    run_to "$BL" "$tmpf" "$l" "$PY" bench/sample_torch.py "${pyargs[@]}" --batches "$sbatches" --steps "$sevals" --mode compile "$p"
    rc=$?; put_sample compile; fill sample compile $rc "$l" $(sample_keys "$p")
  done
else
  bench_ok=0
  for set in "${train_sets[@]}"; do for mode in eager bf16 compile; do fill train $mode 1 0 $(train_keys "${set%%|*}" "${set#*|}"); done; done
fi
unset OMP_NUM_THREADS
# The tables: ms, images/s, and our speed ratio (PyTorch's time / ours: above 1, we are faster).
cell_ms() { local v=${R["$1"]:-}; [[ "$v" =~ ^[0-9.]+$ ]] && printf "%.2f" "$v" || echo "${v:-?}"; }
cell_ips() { local v=${R["$1"]:-}; [[ "$v" =~ ^[0-9.]+$ ]] && awk -v v="$v" -v b="$2" 'BEGIN { printf "%.0f", b * 1000 / v }' || echo ""; }
cell_ratio() { local o=${R["$1"]:-} t=${R["$2"]:-}; [[ "$o" =~ ^[0-9.]+$ && "$t" =~ ^[0-9.]+$ ]] && awk -v o="$o" -v t="$t" 'BEGIN { printf "%.2f", t / o }' || echo ""; }
table() {  # table KIND TITLE rows ("preset|batch")...
  local kind=$1 title=$2; shift 2
  echo "### $title"
  echo
  echo "| preset | batch | ours ms | eager fp32 ms | bf16 CL ms | compile ms | ours img/s | eager img/s | bf16 img/s | compile img/s | ours vs eager | vs bf16 | vs compile |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  local row p b k
  for row in "$@"; do
    p=${row%|*}; b=${row#*|}; k="|$p|$b"
    echo "| $p | $b | $(cell_ms "$kind|ours$k") | $(cell_ms "$kind|eager$k") | $(cell_ms "$kind|bf16$k") | $(cell_ms "$kind|compile$k") |" \
         "$(cell_ips "$kind|ours$k" "$b") | $(cell_ips "$kind|eager$k" "$b") | $(cell_ips "$kind|bf16$k" "$b") | $(cell_ips "$kind|compile$k" "$b") |" \
         "$(cell_ratio "$kind|ours$k" "$kind|eager$k") | $(cell_ratio "$kind|ours$k" "$kind|bf16$k") | $(cell_ratio "$kind|ours$k" "$kind|compile$k") |"
  done
  echo
}
train_rows=(); for set in "${train_sets[@]}"; do for p in ${set#*|}; do train_rows+=("$p|${set%%|*}"); done; done
sample_rows=(); for p in "${sample_presets[@]}"; do for b in ${sbatches//,/ }; do sample_rows+=("$p|$b"); done; done
{
  table train "Training step$TAG on $DEV: ms per step (loss, backward, AdamW), median after warm-up" "${train_rows[@]}"
  table sample "Sampling$TAG on $DEV: ms per U-Net evaluation (one sampler step, no grad, eval mode)" "${sample_rows[@]}"
  echo "ours: float32 (cuBLAS in full FP32, no TF32). PyTorch $( [ -n "$PY" ] && "$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null):" \
       "eager fp32 with its defaults (cuDNN may use TF32 for convolutions); bf16 CL: bfloat16 autocast with channels_last;" \
       "compile: torch.compile, float32, each process given at most ${COMPILE_LIMIT} s (Python start, compiling and timing)," \
       "all of them ${COMPILE_BUDGET} s. \"ours vs X\" = X's time / ours: above 1, we are faster."
  compiled=$(grep -E 'compiled and warmed up in' "$BL" | sed 's/^/- torch.compile: /')
  [ -n "$compiled" ] && { echo; echo "$compiled"; }
  for m in "${!WHY[@]}"; do echo; echo "- n/a for $m: ${WHY[$m]}"; done
} >"$LOGS/bench_tables.md"
ours_missing=0; for k in "${!R[@]}"; do [[ "$k" == *"|ours|"* ]] && [[ ! "${R[$k]}" =~ ^[0-9.]+$ ]] && ours_missing=1; done
[ ${#R[@]} -gt 0 ] || bench_ok=0
with_ms() { [[ "$1" =~ ^[0-9.]+$ ]] && echo "$1 ms" || echo "$1"; }
note="tables below; training ${train_rows[0]/|/ at batch }: ours $(with_ms "$(cell_ms "train|ours|${train_rows[0]}")"),"
note+=" PyTorch eager $(with_ms "$(cell_ms "train|eager|${train_rows[0]}")")"
if [ $bench_ok = 1 ] && [ $ours_missing = 0 ]; then step_end PASS "$note"; else step_end FAIL "$note (bench.log)"; fi

write_summary final
