#!/bin/bash
# slow_device.sh: times metadata exports (-Q) from a device with real
# latency and a bounded queue depth, which this virtual machine's disk
# (cached by its host) does not have.
#
# The benchmark filesystems (bench/mkbenchfs.sh) are served through
# bench/slowdev.c, a FUSE file system whose reads each wait a set latency
# plus a transfer time, with at most a set number of requests served at
# once.  Before every command the FUSE file's page cache is dropped (the
# backing file stays in memory, so only the simulated device is slow).
# For each command the median of interleaved runs is printed with its CPU
# time, the requests the device served and the most it served at once;
# then cold e2qimage -Q against cold e2image -Q (issue 17's target: 3x).
#
# Usage: slow_device.sh [--build DIR] [--dir DIR] [--fs LIST] [--runs N]
#                       [--latency-us N] [--depth N] [--mbps N]
#   --build DIR      use DIR/e2qimage/e2qimage (otherwise $E2QIMAGE or PATH)
#   --dir DIR        cache folder of mkbenchfs.sh (default /var/tmp/e2q-bench)
#   --fs LIST        filesystems (default meta,usr); made when missing
#   --runs N         timed runs per command (default 5)
#   --latency-us N   service time of one request (default 200)
#   --depth N        requests the device serves at once (default 32)
#   --mbps N         transfer rate in MB/s (default 500)
#
# Needs gcc, libfuse3-dev and fuse3 (a user who may mount FUSE file
# systems: root here), python3, e2fsprogs; the filesystems as for bench.sh.
set -euo pipefail

die() { echo "slow_device: $*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
dir=${E2Q_BENCH_DIR:-/var/tmp/e2q-bench}
fs_list=meta,usr
runs=5
latency=200
depth=32
mbps=500
E2QIMAGE=${E2QIMAGE:-e2qimage}
while [ $# -gt 0 ]; do
  case $1 in
    --build) E2QIMAGE=$2/e2qimage/e2qimage; shift ;;
    --dir) dir=$2; shift ;;
    --fs) fs_list=$2; shift ;;
    --runs) runs=$2; shift ;;
    --latency-us) latency=$2; shift ;;
    --depth) depth=$2; shift ;;
    --mbps) mbps=$2; shift ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
export PATH="/usr/sbin:/sbin:$PATH"
command -v "$E2QIMAGE" >/dev/null || die "no e2qimage at $E2QIMAGE (use --build DIR)"
command -v e2image >/dev/null || die "e2image is missing (e2fsprogs)"
command -v fusermount3 >/dev/null || die "fusermount3 is missing (apt-get install fuse3)"
pkg-config --exists fuse3 || die "libfuse3 is missing (apt-get install libfuse3-dev)"

mkdir -p "$dir"
slowdev=$dir/slowdev
if [ ! -x "$slowdev" ] || [ "$here/slowdev.c" -nt "$slowdev" ]; then
  # shellcheck disable=SC2046  # pkg-config prints several words
  gcc -O2 -Wall -o "$slowdev" "$here/slowdev.c" $(pkg-config --cflags --libs fuse3) -lpthread
fi

work=$(mktemp -d "$dir/slow.XXXXXX")
mnt=$work/mnt
mkdir "$mnt"
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  fusermount3 -u "$mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# now_us, child_cpu_us, secs
timing_dir=$work
# shellcheck source=bench/timing.sh
. "$here/timing.sh"
# drop FILE: drops FILE's pages from the page cache.
drop() {
  python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)' "$1"
}
stat_field() { awk -v k="$1" '$1 == k { print $2 }' "$work/stats"; }

declare -A RUNS MED
c0=0 c1=0
NAMES=("e2qimage -Q" "e2qimage -Q --threads=1" "e2image -Q")
run_cmd() {  # run_cmd NAME DEVICE OUTPUT
  case $1 in
    "e2qimage -Q") "$E2QIMAGE" -Q "$2" "$3" ;;
    "e2qimage -Q --threads=1") "$E2QIMAGE" -Q --threads=1 "$2" "$3" ;;
    "e2image -Q") e2image -Q "$2" "$3" ;;
  esac
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "slow_device: $(date -u '+%F %H:%M UTC'), load average $load, nice $(nice)"
echo "slow_device: device: ${latency} us per request + ${mbps} MB/s, at most $depth requests at once (bench/slowdev.c)"
echo "slow_device: median of $runs interleaved runs, FUSE page cache dropped before each"
status=0
IFS=, read -r -a filesystems <<< "$fs_list"
for f in "${filesystems[@]}"; do
  img=$dir/$f.img
  [ -e "$img" ] || "$here/mkbenchfs.sh" --dir "$dir" "$f" >&2
  "$slowdev" "$img" "$mnt" --latency-us="$latency" --depth="$depth" \
    --mbps="$mbps" -o ro,max_threads=$((depth + 8))
  dev=$mnt/dev
  for ((round = 1; round <= runs; round++)); do
    for name in "${NAMES[@]}"; do
      out=$work/out
      rm -f "$out"
      drop "$dev"
      cat "$mnt/.stats" > /dev/null  # resets the counters
      child_cpu_us c0
      t0=$(now_us)
      rc=0
      run_cmd "$name" "$dev" "$out" > /dev/null 2> "$work/err" || rc=$?
      t1=$(now_us)
      child_cpu_us c1
      cat "$mnt/.stats" > "$work/stats"
      if [ $rc -ne 0 ]; then
        echo "slow_device: $f: $name failed (exit $rc): $(head -c 300 "$work/err")" >&2
        status=1
        continue
      fi
      RUNS[$f:$name]="${RUNS[$f:$name]:-}$((t1 - t0)) $((c1 - c0)) $(stat_field requests) $(stat_field max_in_flight)
"
      printf '  %s run %d: %-26s %s s\n' "$f" "$round" "$name" "$(secs $((t1 - t0)))" >&2
    done
  done
  fusermount3 -u "$mnt"
  echo
  echo "$f ($(du -h --apparent-size "$img" | cut -f1) image):"
  printf '  %-26s %9s %8s %10s %14s\n' command "wall (s)" "cpu (s)" requests "most at once"
  for name in "${NAMES[@]}"; do
    [ -n "${RUNS[$f:$name]:-}" ] || continue
    read -r t c r m < <(printf '%s' "${RUNS[$f:$name]}" | sort -n |
      awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')
    MED[$f:$name]=$t
    printf '  %-26s %9s %8s %10s %14s\n' "$name" "$(secs "$t")" "$(secs "$c")" "$r" "$m"
  done
  for name in "e2qimage -Q" "e2qimage -Q --threads=1"; do
    a=${MED[$f:$name]:-}
    b=${MED[$f:e2image -Q]:-}
    if [ -z "$a" ] || [ -z "$b" ]; then continue; fi
    x=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')
    verdict=$(awk -v x="$x" 'BEGIN { print (x >= 3 ? "PASS" : "MISS") }')
    echo "  $name: ${x}x faster than e2image -Q (target 3x: $verdict)"
  done
done
exit $status
