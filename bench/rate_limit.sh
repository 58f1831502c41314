#!/bin/bash
# --rate-limit (issue 14): does a paced run stay within 5% of its rate?
# For each mode and rate, the bytes e2qimage moves to and from the device
# are counted by strace (pread64/pwrite64/fallocate on the device's fd,
# judged by the kernel's return values, not by e2qimage), divided by the
# wall time, and printed beside the limit, with an unlimited run for
# comparison.  Modes: -Qa (export), -I of a full image onto an empty
# replica, -U of that install.  No timing here is a pass/fail test.
#
#   bench/rate_limit.sh [--build DIR] [--dir DIR] [--size MIB]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/_build
dir=/tmp/e2q-rate
size=256
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift ;;
    --dir) dir=$2; shift ;;
    --size) size=$2; shift ;;
    *) echo "usage: $0 [--build DIR] [--dir DIR] [--size MIB]" >&2; exit 2 ;;
  esac
  shift
done
E2Q=$build/e2qimage/e2qimage
[ -x "$E2Q" ] || { echo "bench: $E2Q not built" >&2; exit 1; }
command -v strace >/dev/null || { echo "bench: strace needed" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir" || exit 1
export SOURCE_DATE_EPOCH=1700000000

# A filesystem about half full of incompressible files.
if [ ! -f fs.img ]; then
  rm -rf root; mkdir root
  n=$((size / 8))
  for i in $(seq 1 "$n"); do head -c 4M /dev/urandom > "root/f$i"; done
  truncate -s "${size}M" fs.img
  mke2fs -q -F -t ext4 -d root fs.img || exit 1
  rm -rf root
fi
"$E2Q" -Qa fs.img full.qcow2 || exit 1

# run LABEL LIMIT DEVICE CMD...: prints the achieved device rate.
run() {
  local label=$1 limit=$2 dev=$3; shift 3
  local t0 t1 bytes secs
  t0=$(date +%s.%N)
  rm -f trace.*
  # -ff: one trace file per thread, so that no call is split across lines.
  strace -ff -qq -y -e trace=pread64,pwrite64,fallocate,ioctl -o trace "$@" \
    >/dev/null 2>err.txt || { echo "$label: failed: $(cat err.txt)"; return; }
  cat trace.* > trace.txt
  t1=$(date +%s.%N)
  bytes=$(python3 - "$dev" <<'PY'
import re, sys
dev = sys.argv[1]
total = 0
for line in open('trace.txt'):
    if '<' + dev not in line and dev + '>' not in line:
        continue
    m = re.search(r'(pread64|pwrite64)\(\d+<[^>]*>, .*\) = (\d+)', line)
    if m:
        total += int(m.group(2)); continue
    m = re.search(r'fallocate\(\d+<[^>]*>, [^,]+, \d+, (\d+)\) = 0', line)
    if m:
        total += int(m.group(1))
print(total)
PY
)
  secs=$(echo "$t1 - $t0" | bc -l)
  python3 - "$label" "$limit" "$bytes" "$secs" <<'PY'
import sys
label, limit, b, s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
rate = b / s / 2**20
if limit == 'none':
    print('%-28s %8.1f MiB in %6.2f s: %8.1f MiB/s (no limit)' % (label, b / 2**20, s, rate))
else:
    lim = float(limit.rstrip('M'))
    print('%-28s %8.1f MiB in %6.2f s: %8.1f MiB/s, limit %5.1f: %5.1f%% of it'
          % (label, b / 2**20, s, rate, lim, 100 * rate / lim))
PY
}

echo "device: $dir/fs.img, ${size} MiB; rates in MiB/s of device I/O"
for limit in none 16M 64M; do
  opt=(); [ "$limit" = none ] || opt=(--rate-limit="$limit")
  rm -f out.qcow2
  run "-Qa ${opt[*]:-}" "$limit" fs.img "$E2Q" -Qa "${opt[@]}" fs.img out.qcow2
  rm -f rep.img undo.qcow2; truncate -s "${size}M" rep.img
  run "-I ${opt[*]:-}" "$limit" rep.img "$E2Q" -I "${opt[@]}" full.qcow2 rep.img undo.qcow2
  run "-U ${opt[*]:-}" "$limit" rep.img "$E2Q" -U "${opt[@]}" undo.qcow2 rep.img
done
rm -f out.qcow2 rep.img undo.qcow2 trace.* err.txt
