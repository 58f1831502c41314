#!/bin/bash
# bench.sh: times e2qimage against the tools people use today, on the same
# filesystems in the same run, and prints a table, the ratios and whether
# each performance target is met (PASS/MISS).  A benchmark, not a test:
# nothing here decides whether the project's tests pass.
#
#   meta fs (8 GiB, >= 500,000 inodes in use):
#     e2qimage -Q   vs e2image -Q          target: e2qimage >= 2x faster
#                   none of them waits for the disk; waiting too:
#                   e2qimage -Q --sync vs e2image -Q followed by `sync FILE`
#     e2qimage -r   vs e2image -r
#     e2qimage -Qa  vs cp --sparse=always  target: e2qimage <= 1.2x cp's time
#                   waiting for the disk too: e2qimage -Qa --sync (3.6 GiB
#                   O_DIRECT, fsync) vs cp followed by `sync FILE`
#     e2qimage -Qa  vs e2image -Qa
#   data fs (1.5 GiB, >= 1 GiB of system files):
#     e2qimage -Qaz vs qemu-img convert -c -W -O qcow2
#                   target: >= 2x faster and a file no larger
#     e2qimage -Qaz vs qemu-img convert -c -O qcow2
#     e2qimage -Qaz --threads=1 (scaling)
#
# Every command runs with warm caches (the device's data is read once,
# untimed, before its commands); the runs are interleaved (A B C, A B C, ...)
# so that a change in the machine's load hits every command alike, and the
# best of N wall-clock times counts.  The table also shows the CPU time
# (user + system) of that run, which other work on the machine disturbs
# less.  Outputs go to a scratch folder under the cache folder, removed at
# the end.  Exit status 0, or 1 when a command failed or a tool is missing.
#
# As root, the script and every command it times run at nice -20: other
# work on the machine (builds, tests) then disturbs all of them less.
#
# Usage: bench.sh [--quick] [--cold] [--runs N] [--build DIR] [--dir DIR] [--keep]
#   --quick      small filesystems (1 GiB / 50,000 inodes; 320 MiB data)
#   --cold       cold caches: the page cache is dropped before every command
#                (root only); times -Q, -Qa, e2image and cp on the meta
#                filesystem, no targets (they are set for warm caches)
#   --runs N     timed runs per command, best counts (default 3)
#   --build DIR  a build folder: use DIR/e2qimage/e2qimage
#   --dir DIR    cache folder for the filesystems (default $E2Q_BENCH_DIR
#                or /var/tmp/e2q-bench)
#   --keep       keep the output files (of the last run)
# E2QIMAGE=PATH overrides the binary (default: from --build, else PATH).
set -euo pipefail

export LC_ALL=C TZ=UTC
export PATH="/usr/sbin:/sbin:$PATH"
export SOURCE_DATE_EPOCH=1700000000

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "bench: $*" >&2; exit 1; }
usage() {  # usage [STATUS]: prints the usage; exits STATUS (default 2)
  sed -n 's/^# \{0,1\}//; /^Usage:/,/^E2QIMAGE=/p' "$0" >&2
  exit "${1:-2}"
}

quick=0
cold=0
runs=3
build=
keep=0
dir=${E2Q_BENCH_DIR:-/var/tmp/e2q-bench}
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --cold) cold=1 ;;
    --keep) keep=1 ;;
    --runs) [ $# -ge 2 ] || usage; runs=$2; shift ;;
    --runs=*) runs=${1#--runs=} ;;
    --build) [ $# -ge 2 ] || usage; build=$2; shift ;;
    --build=*) build=${1#--build=} ;;
    --dir) [ $# -ge 2 ] || usage; dir=$2; shift ;;
    --dir=*) dir=${1#--dir=} ;;
    -h|--help) usage 0 ;;
    *) echo "bench: unknown argument '$1'" >&2; usage ;;
  esac
  shift
done
case $runs in ''|*[!0-9]*|0) die "--runs wants a positive number, not '$runs'" ;; esac
if [ $cold = 1 ] && ! { [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ]; }; then
  die "--cold needs root and a writable /proc/sys/vm/drop_caches"
fi

for tool in e2image qemu-img cp dumpe2fs python3 awk; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done

# The binary under test.  Without a working one, only the other tools run
# and every target line says SKIP.
if [ -z "${E2QIMAGE:-}" ]; then
  if [ -n "$build" ]; then
    E2QIMAGE=$build/e2qimage/e2qimage
  else
    E2QIMAGE=$(command -v e2qimage || true)
  fi
fi
have_e2q=0
if [ -n "$E2QIMAGE" ] && [ -x "$E2QIMAGE" ] && "$E2QIMAGE" --help >/dev/null 2>&1; then
  have_e2q=1
else
  echo "bench: no working e2qimage (${E2QIMAGE:-not on PATH}): timing the other tools only" >&2
fi

mkfs_args=(--dir "$dir")
[ $quick = 1 ] && mkfs_args+=(--quick)
images=$(bash "$here/mkbenchfs.sh" "${mkfs_args[@]}" meta data) ||
  die "could not build the benchmark filesystems"
meta_img=$(awk '$1 == "meta" { print $2 }' <<<"$images")
data_img=$(awk '$1 == "data" { print $2 }' <<<"$images")

out=$(mktemp -d "$dir/run.XXXXXX")
cleanup() { if [ $keep = 0 ]; then rm -rf "$out"; else echo "bench: outputs kept in $out" >&2; fi; }
trap cleanup EXIT

# ---- helpers -------------------------------------------------------------

declare -A T CPU SIZE ALLOC CHECK ERR

# now_us: wall clock in microseconds.
now_us() { local t=$EPOCHREALTIME; echo $((10#${t/./})); }

# child_cpu_us VAR: sets VAR to the user + system CPU time of all finished
# children, in microseconds.  Bash's `times` must run in this shell, not in
# a $(...) subshell, which would count only its own children.
child_cpu_us() {
  times > "$out/times"
  printf -v "$1" '%s' "$(awk 'NR == 2 {
    t = 0
    for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] }
    printf "%.0f", t * 1e6 }' "$out/times")"
}

# secs US: microseconds as seconds with three decimals.
secs() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1e6 }'; }

# human BYTES
human() {
  awk -v b="$1" 'BEGIN {
    split("B KiB MiB GiB TiB", u, " "); i = 1
    while (b >= 1024 && i < 5) { b /= 1024; i++ }
    printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'
}

# warm DEVICE: reads every allocated extent of the device file once, so that
# the first timed command does not pay for a cold cache.  Holes are skipped:
# no tool reads them (they are unused blocks) and reading them would fill
# the cache with zero pages.
warm() {
  python3 - "$1" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
end = os.fstat(fd).st_size
off = 0
while off < end:
    try:
        data = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    hole = os.lseek(fd, data, os.SEEK_HOLE)
    pos = data
    while pos < hole:
        n = len(os.pread(fd, min(8 << 20, hole - pos), pos))
        if n == 0:
            break
        pos += n
    off = hole
os.close(fd)
PY
}

# add KEY OUTPUT CMD...: queues CMD, which must write OUTPUT, for run_all.
KEYS=()
declare -A OUTPUT CMD
add() {
  local key=$1
  KEYS+=("$key")
  OUTPUT[$key]=$2
  shift 2
  CMD[$key]=$(printf '%q ' "$@")
}

# e2q KEY OUTPUT ARGS...: queues an e2qimage run, or notes why there is none.
e2q() {
  local key=$1 output=$2
  shift 2
  if [ $have_e2q = 1 ]; then
    add "$key" "$output" "$E2QIMAGE" "$@"
  else
    ERR[$key]="e2qimage not available"
  fi
}

# run_all: runs the queued commands $runs times, interleaved (A B C, A B C,
# ...) so that a change in the machine's load hits all of them alike, and
# keeps each one's best wall-clock time.  The first run also records the
# output's size, allocation and (qcow2) qemu-img check exit status.  A
# command that fails is reported and not run again.
run_all() {
  local round key output t0 t1 dt rc c0 c1
  for ((round = 1; round <= runs; round++)); do
    echo "  run $round of $runs:" >&2
    for key in "${KEYS[@]}"; do
      [ -z "${ERR[$key]:-}" ] || continue
      output=${OUTPUT[$key]}
      rm -f "$output"
      sync
      if [ $cold = 1 ]; then echo 3 > /proc/sys/vm/drop_caches; fi
      rc=0
      child_cpu_us c0
      t0=$(now_us)
      eval "${CMD[$key]}" >/dev/null 2>"$out/stderr" || rc=$?
      t1=$(now_us)
      child_cpu_us c1
      if [ $rc -ne 0 ] || [ ! -e "$output" ]; then
        ERR[$key]="FAILED, exit $rc: $(head -c 300 "$out/stderr" | tr '\n' ' ')"
        printf '    %-44s %s\n' "$key" "${ERR[$key]}" >&2
        rm -f "$output"
        continue
      fi
      dt=$((t1 - t0))
      if [ -z "${T[$key]:-}" ] || [ "$dt" -lt "${T[$key]}" ]; then
        T[$key]=$dt
        CPU[$key]=$((c1 - c0))
      fi
      printf '    %-44s %8s s (cpu %s s)\n' "$key" "$(secs "$dt")" "$(secs $((c1 - c0)))" >&2
      if [ $round = 1 ]; then
        SIZE[$key]=$(stat -c %s "$output")
        ALLOC[$key]=$(($(stat -c %b "$output") * $(stat -c %B "$output")))
        if [ "$(head -c 4 "$output" | od -An -tx1 | tr -d ' \n')" = 514649fb ]; then
          rc=0
          qemu-img check "$output" >/dev/null 2>&1 || rc=$?
          CHECK[$key]=$rc
        fi
      fi
      # The last run's output stays with --keep; the others go at once to
      # spare disk space.
      if [ $keep = 0 ] || [ "$round" -lt "$runs" ]; then rm -f "$output"; fi
    done
  done
  KEYS=()
}

row() {
  local key=$1 t size alloc check
  if [ -n "${T[$key]:-}" ]; then
    t=$(secs "${T[$key]}")
    size=$(human "${SIZE[$key]}")
    alloc=$(human "${ALLOC[$key]}")
    check=${CHECK[$key]:--}
    case $check in 0) check="0 (ok)" ;; 3) check="3 (leaks)" ;; -) ;; *) check="$check (errors)" ;; esac
    printf '  %-36s %9s %8s %11s %11s  %s\n' "$key" "$t" "$(secs "${CPU[$key]}")" \
      "$size" "$alloc" "$check"
  else
    printf '  %-36s %9s  %s\n' "$key" "-" "${ERR[$key]:-not run}"
  fi
}

header() {
  printf '  %-36s %9s %8s %11s %11s  %s\n' "command" "wall (s)" "cpu (s)" "file size" \
    "allocated" "qemu-img check"
}

# ratio A B: T[B] / T[A] (how many times faster A is than B), or empty.
ratio() {
  if [ -n "${T[$1]:-}" ] && [ -n "${T[$2]:-}" ] && [ "${T[$1]}" -gt 0 ]; then
    awk -v a="${T[$1]}" -v b="${T[$2]}" 'BEGIN { printf "%.2f", b / a }'
  fi
}

# speed A B: a line comparing two timings.
speed() {
  local r
  r=$(ratio "$1" "$2")
  if [ -n "$r" ]; then
    printf '  %-58s %sx\n' "$1 vs $2:" "$r"
  else
    printf '  %-58s n/a\n' "$1 vs $2:"
  fi
}

# times_or_na RATIO: "2.50x", or "n/a" when not measured.
times_or_na() { if [ -n "$1" ]; then echo "${1}x"; else echo n/a; fi; }

# target OK? TEXT: a PASS/MISS/SKIP line. OK is 1, 0 or empty (not measured).
target() {
  local ok=$1 text=$2 tag
  case $ok in 1) tag=PASS ;; 0) tag=MISS ;; *) tag=SKIP ;; esac
  printf '  %-4s  %s\n' "$tag" "$text"
}

# fs_summary IMAGE: size, inodes and blocks in use.
fs_used_bytes() {
  dumpe2fs -h "$1" 2>/dev/null | awk -F: '
    /^Block count/ { bc = $2 } /^Free blocks/ { fb = $2 } /^Block size/ { bs = $2 }
    END { printf "%.0f", (bc - fb) * bs }'
}
fs_used_inodes() {
  dumpe2fs -h "$1" 2>/dev/null | awk -F: '
    /^Inode count/ { ic = $2 } /^Free inodes/ { fi = $2 } END { printf "%d", ic - fi }'
}

# ---- run -----------------------------------------------------------------

echo "bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
  "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
  "$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
if [ $have_e2q = 1 ]; then
  echo "bench: $("$E2QIMAGE" --version 2>&1 | head -1) ($E2QIMAGE)"
else
  echo "bench: e2qimage not available"
fi
echo "bench: e2image from $(dumpe2fs -V 2>&1 | head -1);" \
  "$(qemu-img --version | head -1); $(cp --version | head -1)"
prio=
if [ "$(id -u)" = 0 ] && renice -n -20 -p $$ >/dev/null 2>&1; then
  prio=', nice -20'
fi
echo "bench: best of $runs runs, $([ $cold = 1 ] && echo 'cold cache (dropped before every command)' || echo 'warm cache')$([ $quick = 1 ] && echo ', quick mode')$prio"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# cold: reading the device from the disk, as on a first run.
if [ $cold = 1 ]; then
  m=$out/meta
  echo "bench: meta: timing with cold caches" >&2
  e2q "e2qimage -Q" "$m.e2q-Q.qcow2" -Q "$meta_img" "$m.e2q-Q.qcow2"
  add "e2image -Q" "$m.e2i-Q.qcow2" e2image -Q "$meta_img" "$m.e2i-Q.qcow2"
  e2q "e2qimage -Qa" "$m.e2q-Qa.qcow2" -Qa "$meta_img" "$m.e2q-Qa.qcow2"
  add "e2image -Qa" "$m.e2i-Qa.qcow2" e2image -Qa "$meta_img" "$m.e2i-Qa.qcow2"
  add "cp --sparse=always" "$m.cp.img" cp --sparse=always "$meta_img" "$m.cp.img"
  run_all
  echo "bench: load average (1/5/15 min): $load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
  echo
  echo "meta: $meta_img: $(human "$(stat -c %s "$meta_img")"), $(fs_used_inodes "$meta_img") inodes in use, $(human "$(fs_used_bytes "$meta_img")") in use"
  header
  for k in "e2qimage -Q" "e2image -Q" "e2qimage -Qa" "e2image -Qa" "cp --sparse=always"; do
    row "$k"
  done
  echo
  echo "speed-ups (times faster), cold caches:"
  speed "e2qimage -Q" "e2image -Q"
  speed "e2qimage -Qa" "e2image -Qa"
  speed "e2qimage -Qa" "cp --sparse=always"
  failed=0
  for k in "${!ERR[@]}"; do
    case ${ERR[$k]} in FAILED*) failed=$((failed + 1)) ;; esac
  done
  [ $failed -eq 0 ] || die "$failed command(s) failed (see above)"
  exit 0
fi

# meta
m=$out/meta
echo "bench: meta: warming the cache" >&2
warm "$meta_img"
echo "bench: meta: timing" >&2
e2q "e2qimage -Q" "$m.e2q-Q.qcow2" -Q "$meta_img" "$m.e2q-Q.qcow2"
add "e2image -Q" "$m.e2i-Q.qcow2" e2image -Q "$meta_img" "$m.e2i-Q.qcow2"
e2q "e2qimage -Q --sync" "$m.e2q-Q-sync.qcow2" -Q --sync "$meta_img" \
  "$m.e2q-Q-sync.qcow2"
# shellcheck disable=SC2016  # $1 and $2 are the inner shell's arguments
add "e2image -Q + sync FILE" "$m.e2i-Q-sync.qcow2" \
  bash -c 'e2image -Q "$1" "$2" 2>/dev/null && sync "$2"' e2i-sync "$meta_img" "$m.e2i-Q-sync.qcow2"
e2q "e2qimage -r" "$m.e2q-r.raw" -r "$meta_img" "$m.e2q-r.raw"
add "e2image -r" "$m.e2i-r.raw" e2image -r "$meta_img" "$m.e2i-r.raw"
e2q "e2qimage -Qa" "$m.e2q-Qa.qcow2" -Qa "$meta_img" "$m.e2q-Qa.qcow2"
add "e2image -Qa" "$m.e2i-Qa.qcow2" e2image -Qa "$meta_img" "$m.e2i-Qa.qcow2"
add "cp --sparse=always" "$m.cp.img" cp --sparse=always "$meta_img" "$m.cp.img"
# With --sync, e2qimage fsyncs its output before renaming it into place
# (as qemu-img flushes on close); cp does not.  These rows compare that.
e2q "e2qimage -Qa --sync" "$m.e2q-Qa-sync.qcow2" -Qa --sync "$meta_img" "$m.e2q-Qa-sync.qcow2"
# shellcheck disable=SC2016  # $1 and $2 are the inner shell's arguments
add "cp --sparse=always + sync FILE" "$m.cp-sync.img" \
  bash -c 'cp --sparse=always "$1" "$2" && sync "$2"' cp-sync "$meta_img" "$m.cp-sync.img"
run_all

# data
d=$out/data
echo "bench: data: warming the cache" >&2
warm "$data_img"
echo "bench: data: timing" >&2
e2q "e2qimage -Qaz" "$d.e2q-Qaz.qcow2" -Qaz "$data_img" "$d.e2q-Qaz.qcow2"
e2q "e2qimage -Qaz --threads=1" "$d.e2q-Qaz-t1.qcow2" -Qaz --threads=1 "$data_img" \
  "$d.e2q-Qaz-t1.qcow2"
add "qemu-img convert -c -W -O qcow2" "$d.qemu-cW.qcow2" \
  qemu-img convert -f raw -c -W -O qcow2 "$data_img" "$d.qemu-cW.qcow2"
add "qemu-img convert -c -O qcow2" "$d.qemu-c.qcow2" \
  qemu-img convert -f raw -c -O qcow2 "$data_img" "$d.qemu-c.qcow2"
run_all

# report
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: load average (1/5/15 min): $load_start at start, $load_end at end$(
  awk -v a="${load_start%% *}" -v b="${load_end%% *}" \
    'BEGIN { if (a > 1 || b > 1) printf " (other work running: timings are noisy)" }')"
meta_used=$(fs_used_bytes "$meta_img")
data_used=$(fs_used_bytes "$data_img")
echo
echo "meta: $meta_img: $(human "$(stat -c %s "$meta_img")"), $(fs_used_inodes "$meta_img") inodes in use, $(human "$meta_used") in use"
header
for k in "e2qimage -Q" "e2image -Q" "e2qimage -Q --sync" "e2image -Q + sync FILE" \
         "e2qimage -r" "e2image -r" "e2qimage -Qa" \
         "e2image -Qa" "cp --sparse=always" "e2qimage -Qa --sync" \
         "cp --sparse=always + sync FILE"; do
  row "$k"
done
echo
echo "data: $data_img: $(human "$(stat -c %s "$data_img")"), $(human "$data_used") in use"
header
for k in "e2qimage -Qaz" "e2qimage -Qaz --threads=1" \
         "qemu-img convert -c -W -O qcow2" "qemu-img convert -c -O qcow2"; do
  row "$k"
done
echo
echo "compression (file size / bytes in use on the filesystem):"
for k in "e2qimage -Qaz" "qemu-img convert -c -W -O qcow2" "qemu-img convert -c -O qcow2"; do
  if [ -n "${SIZE[$k]:-}" ]; then
    printf '  %-44s %s\n' "$k" "$(awk -v s="${SIZE[$k]}" -v u="$data_used" 'BEGIN { printf "%.3f", s / u }')"
  fi
done
echo
echo "speed-ups (times faster):"
speed "e2qimage -Q" "e2image -Q"
speed "e2qimage -Q --sync" "e2image -Q + sync FILE"
speed "e2qimage -r" "e2image -r"
speed "e2qimage -Qa" "e2image -Qa"
speed "e2qimage -Qa" "cp --sparse=always"
speed "e2qimage -Qa --sync" "cp --sparse=always + sync FILE"
speed "e2qimage -Qaz" "qemu-img convert -c -W -O qcow2"
speed "e2qimage -Qaz" "qemu-img convert -c -O qcow2"
speed "e2qimage -Qaz" "e2qimage -Qaz --threads=1"
echo
echo "targets:"
r=$(ratio "e2qimage -Q" "e2image -Q")
target "$([ -n "$r" ] && awk -v r="$r" 'BEGIN { print (r >= 2) ? 1 : 0 }')" \
  "e2qimage -Q at least 2x faster than e2image -Q ($(times_or_na "$r"))"
r=$(ratio "e2qimage -Q --sync" "e2image -Q + sync FILE")
target "$([ -n "$r" ] && awk -v r="$r" 'BEGIN { print (r >= 2) ? 1 : 0 }')" \
  "  both waiting for the disk: e2qimage -Q --sync vs e2image -Q + sync FILE ($(times_or_na "$r"))"
r=$(ratio "e2qimage -Qa" "cp --sparse=always")
target "$([ -n "$r" ] && awk -v r="$r" 'BEGIN { print (1 / r <= 1.2) ? 1 : 0 }')" \
  "e2qimage -Qa within 1.2x of cp's time ($([ -n "$r" ] && awk -v r="$r" 'BEGIN { printf "%.2fx", 1 / r }' || echo n/a))"
r=$(ratio "e2qimage -Qa --sync" "cp --sparse=always + sync FILE")
target "$([ -n "$r" ] && awk -v r="$r" 'BEGIN { print (1 / r <= 1.2) ? 1 : 0 }')" \
  "  both waiting for the disk: e2qimage -Qa --sync vs cp + sync FILE ($([ -n "$r" ] && awk -v r="$r" 'BEGIN { printf "%.2fx", 1 / r }' || echo n/a))"
r=$(ratio "e2qimage -Qaz" "qemu-img convert -c -W -O qcow2")
ok=
if [ -n "$r" ]; then
  ok=$(awk -v r="$r" -v a="${SIZE["e2qimage -Qaz"]}" -v b="${SIZE["qemu-img convert -c -W -O qcow2"]}" \
       'BEGIN { print (r >= 2 && a <= b) ? 1 : 0 }')
  sizes="$(human "${SIZE["e2qimage -Qaz"]}") vs $(human "${SIZE["qemu-img convert -c -W -O qcow2"]}")"
fi
target "$ok" "e2qimage -Qaz at least 2x faster than qemu-img convert -c -W, file no larger ($(times_or_na "$r"); ${sizes:-n/a})"

failed=0
for k in "${!ERR[@]}"; do
  case ${ERR[$k]} in FAILED*) failed=$((failed + 1)) ;; esac
done
if [ $failed -gt 0 ]; then
  echo "bench: $failed command(s) failed (see above)" >&2
  exit 1
fi
