#!/bin/sh
# Sets everything up, builds e2qimage and runs the whole test suite
# (unit and functional tests; `make check`).  Prints a closing line
# "N passed, N failed, N skipped" and exits non-zero on any failure.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${E2Q_BUILD:-$top/_build}
"$top/scripts/deps.sh"
"$top/scripts/build.sh" "$@"
cd "$build"
rc=0
make -j"$(nproc)" check >/dev/null 2>&1 || rc=$?
log=tests/test-suite.log
if [ -f "$log" ]; then
  # Show the failing logs, then the summary.
  sed -n '/^FAIL:/,/^$/p;/^ERROR:/,/^$/p' "$log" | head -200
  for t in $(find tests -name '*.log' ! -name test-suite.log); do
    if grep -qE '^:test-result: (FAIL|ERROR)' "${t%.log}.trs" 2>/dev/null; then
      echo "=== $t"; tail -40 "$t"
    fi
  done
  grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' "$log" || true
  pass=$(sed -n 's/^# PASS: *//p' "$log"); fail=$(sed -n 's/^# FAIL: *//p' "$log")
  err=$(sed -n 's/^# ERROR: *//p' "$log"); skip=$(sed -n 's/^# SKIP: *//p' "$log")
  echo "${pass:-0} passed, $(( ${fail:-0} + ${err:-0} )) failed, ${skip:-0} skipped"
else
  echo "0 passed, 1 failed"
  rc=1
fi
exit $rc
