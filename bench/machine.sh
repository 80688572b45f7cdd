#!/usr/bin/env bash
# Prints the machine a benchmark table was measured on (sourced by bench/*.sh): the CPU model, its
# cores and the SIMD flags that decide which kernels run, and the date. Speed figures hold only beside
# their peer measured in the same run on the same machine.
bench_machine() {
  local model flags
  model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
  flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' |
    grep -xE 'avx2|fma|avx512f|avx512bw|avx512_bf16|avx512_fp16|amx_bf16|amx_tile' | tr '\n' ' ')
  echo "Machine: ${model:-unknown CPU}, $(nproc) cores, flags: ${flags:-none of avx2/avx512}($(date -u +%Y-%m-%d))"
}

# Runs "$@" while one busy process spins on a core (LOAD=1 in the scripts): a machine shared with
# other work. The busy loop is stopped when the command ends.
with_load() {
  (while :; do :; done) &
  local busy=$!
  sleep 0.5
  "$@"
  local rc=$?
  kill "$busy" 2>/dev/null
  wait "$busy" 2>/dev/null || true
  return $rc
}
