#!/bin/sh
# Sets everything up, builds e2qimage and runs the whole test suite
# (unit and functional tests; `make check`; about 20 minutes on two
# cores).  Prints a line per test case as it ends, then the logs of the
# failed ones and a closing line "N passed, N failed, N skipped"; exits
# non-zero on any failure.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${E2Q_BUILD:-$top/_build}
"$top/scripts/deps.sh"
"$top/scripts/build.sh" "$@"
cd "$build"
rc=0
# One line per test case as it ends (the harness's PASS:/FAIL:/SKIP:
# lines); the rest of make's output is dropped.  make's exit status goes
# through a file, since the shell's pipeline status is grep's.
rcfile=$(mktemp)
{ make -j"$(nproc)" check 2>&1 || echo $? > "$rcfile"; } |
  grep --line-buffered -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' || true
[ ! -s "$rcfile" ] || rc=$(cat "$rcfile")
rm -f "$rcfile"
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
