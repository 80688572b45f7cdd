#!/usr/bin/env bash
# Grades the assignments: builds the grader (in BUILD, default build) and runs it over one assignment
# (a1, a4, a5, a6) or all of them. Prints each check's points and, for a failed one, why (what was
# computed, the worst element, expected against got), and writes results.json (Gradescope's format).
#
#   course/grade.sh            # every assignment
#   course/grade.sh a4         # one
#   BUILD=build-student course/grade.sh a1
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
assignment=${1:-}
if [ -n "$assignment" ] && ! ls -d course/"$assignment"_* > /dev/null 2>&1; then
  echo "grade: no assignment '$assignment'; the assignments are: $(ls -d course/a*_*/ | xargs -n1 basename | cut -d_ -f1 | tr '\n' ' ')" >&2
  exit 1
fi
[ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$BUILD" -j"$(nproc)" --target course_grade > "$BUILD/course-build.log" 2>&1 ||
  { tail -30 "$BUILD/course-build.log"; echo "grade: the build failed (the whole log: $BUILD/course-build.log)" >&2; exit 1; }
"$BUILD/course/course_grade" --grade $assignment --json results.json
