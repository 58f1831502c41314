# shellcheck shell=bash
# timing.sh: the timing helpers of bench.sh and slow_device.sh, sourced by
# both.  The sourcing script sets timing_dir to a scratch folder of its own
# before calling child_cpu_us.

# now_us: wall clock in microseconds.
now_us() { local t=$EPOCHREALTIME; echo $((10#${t/./})); }

# child_cpu_us VAR: sets VAR to the user + system CPU time of all finished
# children, in microseconds.  Bash's `times` must run in this shell, not in
# a $(...) subshell, which would count only its own children.
child_cpu_us() {
  # shellcheck disable=SC2154  # set by the sourcing script
  times > "$timing_dir/times"
  printf -v "$1" '%s' "$(awk 'NR == 2 {
    t = 0
    for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] }
    printf "%.0f", t * 1e6 }' "$timing_dir/times")"
}

# secs US: microseconds as seconds with three decimals.
secs() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1e6 }'; }
