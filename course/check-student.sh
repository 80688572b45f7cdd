#!/usr/bin/env bash
# CI's check of the grader itself, on a student version made from the tracked files:
#  1. every graded check fails (a grader that an empty stub passes is a bug);
#  2. with assignment 1's solutions put back but the gradient doubled, its two gradient checks lose
#     their points and its two forward checks keep theirs.
# Usage: course/check-student.sh WORKDIR   (builds a CPU-only copy in WORKDIR: a few minutes on 2 cores)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=${1:?usage: course/check-student.sh WORKDIR}
rm -rf "$work" && mkdir -p "$work"
"$src/course/make-student.sh" "$work/src"
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DDDPM_CUDA=OFF -DDDPM_BUILD_BENCH=OFF \
  > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" -j"$(nproc)" --target course_grade > "$work/build.log" 2>&1 || { tail -50 "$work/build.log"; exit 1; }
grade() { "$work/build/course/course_grade" --grade --json "$1" > "$1.txt"; }
score_of() { grep -F "\"name\": \"$2\"" "$1" | sed 's/.*"score": \([0-9.]*\),.*/\1/'; }

grade "$work/student.json"
total=$(grep -c '"max_score"' "$work/student.json")
zero=$(grep '"name"' "$work/student.json" | grep -c '"score": 0,')
echo "student version: $zero of $total checks scored 0"
if [ "$zero" != "$total" ] || [ "$total" -lt 1 ]; then
  echo "FAIL: a stub earned points:"; grep -v '"score": 0,' "$work/student.json" | grep '"name"'; exit 1
fi
grep -q "not implemented: softplus_forward" "$work/student.json" || { echo "FAIL: the stub's message is not in the report"; exit 1; }

# 2: assignment 1 solved, but with the gradient doubled
"$src/course/make-student.sh" "$work/keep" --keep softplus_forward,softplus_backward > /dev/null
f=autograd/functions_elementwise.cpp
grep -q "return g \* ops::sigmoid(x);" "$work/keep/$f" || { echo "FAIL: the solution line to break is not in $f"; exit 1; }
sed 's/return g \* ops::sigmoid(x);/return 2.0 * g * ops::sigmoid(x);/' "$work/keep/$f" > "$work/src/$f"
cmake --build "$work/build" -j"$(nproc)" --target course_grade >> "$work/build.log" 2>&1 || { tail -50 "$work/build.log"; exit 1; }
grade "$work/wrong-gradient.json"
ok=1
for check in "a1 softplus forward matches the reference (2 points)" "a1 softplus forward does not overflow (1 point)"; do
  [ "$(score_of "$work/wrong-gradient.json" "$check")" != 0 ] || { echo "FAIL: '$check' lost its points"; ok=0; }
done
for check in "a1 softplus backward passes gradcheck (3 points)" "a1 softplus backward is g times the sigmoid (1 point)"; do
  [ "$(score_of "$work/wrong-gradient.json" "$check")" = 0 ] || { echo "FAIL: '$check' kept its points with a doubled gradient"; ok=0; }
done
grep -A3 "^a1:" "$work/wrong-gradient.json.txt" || true
[ $ok = 1 ] || exit 1
echo "PASS: the stubs score nothing, and a doubled gradient loses exactly the gradient checks"
