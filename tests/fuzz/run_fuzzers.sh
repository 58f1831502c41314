#!/bin/bash
# `make fuzz`: runs each fuzz target for SECONDS, one after the other, at
# low priority, on a corpus in BUILDDIR/fuzz/corpus/TARGET that starts from
# seeds made by make_seeds.sh and the committed regression inputs and
# grows between runs.  Crashes, hangs and leaks are saved as
# BUILDDIR/fuzz/artifacts/TARGET-*; the script then exits 1.
# Usage: run_fuzzers.sh SECONDS SRCDIR BUILDDIR [TARGET...]
set -u
secs=$1 src=$2 build=$3; shift 3
targets=${*:-qcow2 backing ext4}
fuzz=$build/fuzz
mkdir -p "$fuzz/artifacts"
if [ ! -d "$fuzz/seeds" ]; then
  bash "$src/fuzz/make_seeds.sh" "$fuzz/seeds.tmp" && mv "$fuzz/seeds.tmp" "$fuzz/seeds" || exit 1
fi
rc=0
for t in $targets; do
  case $t in
    ext4) max_len=4194304 ;;  # the seeds go up to 3 MiB
    *) max_len=524288 ;;
  esac
  mkdir -p "$fuzz/corpus/$t"
  cp -n "$fuzz/seeds/$t"/* "$fuzz/corpus/$t/" 2>/dev/null
  log=$fuzz/$t.log
  before=$(ls "$fuzz/artifacts" | wc -l)
  nice -n 10 "$fuzz/${t}_fuzzer" -max_total_time="$secs" -timeout=30 \
    -rss_limit_mb=2560 -max_len=$max_len -print_final_stats=1 \
    -artifact_prefix="$fuzz/artifacts/$t-" \
    "$fuzz/corpus/$t" "$src/fuzz/regressions/$t" >"$log" 2>&1
  status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  after=$(ls "$fuzz/artifacts" | wc -l)
  echo "$t: ${execs:-?} executions in ${secs} s, exit $status, $((after - before)) new artifacts (log: $log)"
  if [ "$status" -ne 0 ] || [ "$after" -ne "$before" ]; then rc=1; fi
done
exit $rc
