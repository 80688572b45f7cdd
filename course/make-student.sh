#!/usr/bin/env bash
# Writes the student version of the repository to OUT: every region between "// BEGIN SOLUTION NAME" and
# "// END SOLUTION" is replaced by a stub that throws "not implemented: NAME"; everything else (the
# graders, the rest of the library, the docs) is copied as it is, and the result builds.
#
#   course/make-student.sh OUT                      # the version to hand out
#   course/make-student.sh OUT --keep A,B           # keep the solutions named A and B (tests of the grader)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: course/make-student.sh OUT [--keep NAME,NAME]}
keep=""
if [ "${2:-}" = "--keep" ]; then keep=",${3:?--keep needs names},"; fi
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
  echo "make-student: $out exists and is not empty; pick a new folder" >&2; exit 1
fi
mkdir -p "$out"
# The tracked files only: no build folders, runs or git history (which would hold the solutions).
git ls-files -z | while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue
  mkdir -p "$out/$(dirname "$f")"
  if [[ "$f" =~ \.(cpp|hpp|cu|cuh)$ ]] && grep -q "// BEGIN SOLUTION" "$f"; then
    awk -v keep="$keep" -v file="$f" '
      /\/\/ BEGIN SOLUTION / {
        name = $0; sub(/.*BEGIN SOLUTION /, "", name); sub(/[ \t\r]+$/, "", name)
        indent = $0; sub(/[^ ].*/, "", indent)
        if (index(keep, "," name ",") > 0) { kept = 1; next }
        print indent "// YOUR CODE (" name "): replace the line below with your solution."
        print indent "throw std::logic_error(\"not implemented: " name " (" file "; see course/)\");"
        skipping = 1; next
      }
      /\/\/ END SOLUTION/ { if (skipping) { skipping = 0 } else if (kept) { kept = 0 } else { print } ; next }
      skipping { next }
      { print }
      END { if (skipping) { print "make-student: " file ": a BEGIN SOLUTION without its END SOLUTION" > "/dev/stderr"; exit 1 } }
    ' "$f" > "$out/$f"
  else
    cp -p "$f" "$out/$f"
  fi
done
if grep -rq "BEGIN SOLUTION" "$out" --include='*.cpp' --include='*.hpp'; then
  echo "make-student: solution markers are left in $out" >&2; exit 1
fi
stubs=$(grep -rl "not implemented: " "$out" --include='*.cpp' | wc -l)
echo "make-student: wrote $out ($(grep -rh "YOUR CODE (" "$out" --include='*.cpp' | wc -l) stubs in $stubs files${keep:+; kept ${keep//,/ }})"
