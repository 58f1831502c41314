#!/bin/bash
# bench.sh: times e2qimage against the tools people use today, on the same
# filesystems in the same run, and prints a table, the ratios and whether
# each performance target is met (PASS/MISS).  A benchmark, not a test:
# nothing here decides whether the project's tests pass.
#
# Filesystems (bench/mkbenchfs.sh): meta (synthetic: 8 GiB, >= 500,000
# small files), data (1.5 GiB of files copied from /usr/lib), usr (16 GiB,
# `mke2fs -d /usr`: the machine's own system tree), packed (the machine's
# package cache, /var/cache/apt/archives: files compressed already).  On
# every one of them:
#   e2qimage -Q   vs e2image -Q            target: >= 3x faster
#   e2qimage -Q --threads=1 vs e2image -Q  target: >= 2x faster
#   e2qimage -Qa  vs cp --sparse=always    target: <= 0.7x cp's time
#   e2qimage -Qa  vs cp (coreutils 9: copy_file_range in the kernel)
#                                          target: <= 1.0x cp's time
#   e2qimage -Qaz vs qemu-img convert -c -W -O qcow2
#                                          target: >= 3.5x faster, file
#                                          <= 0.94x of qemu's
# and on every one the metadata image sizes side by side: e2image -Q,
# e2qimage -Q, e2qimage -Qz and xz -6 of the raw metadata image.
# And on meta only: -Q --sync vs e2image -Q + sync FILE, -r vs e2image -r,
# -Qa vs e2image -Qa, -Qa --sync vs cp + sync FILE, -Qaz --threads=1 and
# qemu-img convert -c without -W.
#
# Every command runs with warm caches (the device's data is read once,
# untimed, before its commands); the runs are interleaved (A B C, A B C,
# ...) so that a change in the machine's load hits every command alike,
# and the median of N wall-clock times counts (N = 5 by default).  The
# table shows the CPU time (user + system) of that median run beside it,
# which other work on the machine disturbs less, and the load average at
# the start and the end.  Outputs go to a scratch folder under the cache
# folder, each kept until the same command runs again (see run_all),
# removed after each filesystem.  Exit status 0, or 1 when a command
# failed or a tool is missing.
#
# As root, the script and every command it times run at nice -20: other
# work on the machine (builds, tests) then disturbs all of them less.
#
# Usage: bench.sh [--quick] [--cold] [--runs N] [--fs LIST] [--load N] [--build DIR] [--dir DIR] [--keep]
#   --quick      small filesystems (1 GiB / 50,000 inodes; 320 MiB data;
#                /usr/share in 2 GiB; 256 MiB of packed files)
#   --cold       cold caches: the page cache is dropped before every command
#                (root only); times -Q, -Qa, e2image and cp on the meta and
#                usr filesystems; target: cold -Q >= 3x faster than cold
#                e2image -Q
#   --runs N     timed runs per command, the median counts (default 5)
#   --fs LIST    filesystems, comma-separated (default
#                meta,data,usr,packed,scale);
#                scale: empty 1 TiB and 15 TiB ext4 (bench/scale.sh: time,
#                peak RSS and size of e2image -Q, -Q and -Qz, one run each);
#                huge: scale plus an empty 256 TiB ext4 on a btrfs loop
#                mount (root, btrfs-progs; e2image takes minutes and 9 GiB)
#   --load N     a busy machine: N processes spinning on the CPU, at the
#                timed commands' priority, for the whole run
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
runs=5
fslist=meta,data,usr,packed,scale
load=0
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
    --fs) [ $# -ge 2 ] || usage; fslist=$2; shift ;;
    --fs=*) fslist=${1#--fs=} ;;
    --load) [ $# -ge 2 ] || usage; load=$2; shift ;;
    --load=*) load=${1#--load=} ;;
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
case $load in ''|*[!0-9]*) die "--load wants a number, not '$load'" ;; esac
IFS=, read -r -a listed <<<"$fslist"
filesystems=()
scale=
for f in "${listed[@]}"; do
  case $f in
    meta|data|usr|packed) filesystems+=("$f") ;;
    scale) scale=${scale:-scale} ;;
    huge) scale=huge ;;
    *) die "--fs: unknown filesystem '$f' (meta, data, usr, packed, scale, huge)" ;;
  esac
done
if [ $cold = 1 ] && ! { [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ]; }; then
  die "--cold needs root and a writable /proc/sys/vm/drop_caches"
fi

for tool in e2image qemu-img cp dumpe2fs python3 awk xz; do
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
images=
if [ ${#filesystems[@]} -gt 0 ]; then
  images=$(bash "$here/mkbenchfs.sh" "${mkfs_args[@]}" "${filesystems[@]}") ||
    die "could not build the benchmark filesystems"
fi
declare -A IMG
for f in "${filesystems[@]}"; do
  IMG[$f]=$(awk -v k="$f" '$1 == k { print $2 }' <<<"$images")
done

out=$(mktemp -d "$dir/run.XXXXXX")
HOGS=()
cleanup() {
  if [ ${#HOGS[@]} -gt 0 ]; then kill "${HOGS[@]}" 2>/dev/null || true; fi
  if [ $keep = 0 ]; then rm -rf "$out"; else echo "bench: outputs kept in $out" >&2; fi
}
trap cleanup EXIT

# ---- helpers -------------------------------------------------------------

declare -A T CPU SIZE ALLOC CHECK ERR RUNS XZ

# now_us, child_cpu_us, secs
timing_dir=$out
# shellcheck source=bench/timing.sh
. "$here/timing.sh"
# xz_extents RAW
# shellcheck source=bench/xz_extents.sh
. "$here/xz_extents.sh"

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
warm() { python3 "$here/extents.py" warm "$1"; }

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
# keeps each one's median wall-clock time (the lower middle one of an even
# count, so that it is a real run) with that run's CPU time.  The first run
# also records the output's size, allocation and (qcow2) qemu-img check
# exit status.  A command that fails is reported and not run again.
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
        printf '    %-52s %s\n' "$key" "${ERR[$key]}" >&2
        rm -f "$output"
        continue
      fi
      dt=$((t1 - t0))
      RUNS[$key]="${RUNS[$key]:-}$dt $((c1 - c0))
"
      printf '    %-52s %8s s (cpu %s s)\n' "$key" "$(secs "$dt")" "$(secs $((c1 - c0)))" >&2
      if [ $round = 1 ]; then
        SIZE[$key]=$(stat -c %s "$output")
        ALLOC[$key]=$(($(stat -c %b "$output") * $(stat -c %B "$output")))
        if [ "$(head -c 4 "$output" | od -An -tx1 | tr -d ' \n')" = 514649fb ]; then
          rc=0
          qemu-img check "$output" >/dev/null 2>&1 || rc=$?
          CHECK[$key]=$rc
        fi
      fi
      # Each output stays until just before the same command runs again:
      # its pages are then freed a moment before the command needs as
      # many.  On this VM (free page reporting to the host, order 9),
      # memory freed seconds earlier is handed back to the host, and
      # writing into it again faults on the host for every page: -Qa of
      # the usr filesystem took 50 s right after a small command and 12 s
      # right after another large one, dd of 5 GiB of zeros 16.6 s.
    done
  done
  if [ $keep = 0 ]; then
    for key in "${KEYS[@]}"; do rm -f "${OUTPUT[$key]}"; done
  fi
  for key in "${KEYS[@]}"; do
    [ -n "${RUNS[$key]:-}" ] || continue
    read -r "T[$key]" "CPU[$key]" < <(printf '%s' "${RUNS[$key]}" | sort -n |
      awk '{ t[NR] = $1; c[NR] = $2 } END { m = int((NR + 1) / 2); print t[m], c[m] }')
  done
  KEYS=()
}

# row KEY: the table line of a command (its filesystem prefix left out).
row() {
  local key=$1 t size alloc check label=${1#*: }
  if [ -n "${T[$key]:-}" ]; then
    t=$(secs "${T[$key]}")
    size=$(human "${SIZE[$key]}")
    alloc=$(human "${ALLOC[$key]}")
    check=${CHECK[$key]:--}
    case $check in 0) check="0 (ok)" ;; 3) check="3 (leaks)" ;; -) ;; *) check="$check (errors)" ;; esac
    printf '  %-36s %9s %8s %11s %11s  %s\n' "$label" "$t" "$(secs "${CPU[$key]}")" \
      "$size" "$alloc" "$check"
  else
    printf '  %-36s %9s  %s\n' "$label" "-" "${ERR[$key]:-not run}"
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

# speed A B: a line comparing two timings (the filesystem prefix of B left
# out).
speed() {
  local r
  r=$(ratio "$1" "$2")
  printf '  %-66s %s\n' "$1 vs ${2#*: }:" "$(times_or_na "$r")"
}

# times_or_na RATIO: "2.50x", or "n/a" when not measured.
times_or_na() { if [ -n "$1" ]; then echo "${1}x"; else echo n/a; fi; }

# target OK? TEXT: a PASS/MISS/SKIP line. OK is 1, 0 or empty (not
# measured).  Counts the misses in MISSES.
MISSES=0
target() {
  local ok=$1 text=$2 tag
  case $ok in 1) tag=PASS ;; 0) tag=MISS; MISSES=$((MISSES + 1)) ;; *) tag=SKIP ;; esac
  printf '  %-4s  %s\n' "$tag" "$text"
}

# faster A B MIN TEXT: target "A at least MIN times faster than B".
faster() {
  local r
  r=$(ratio "$1" "$2")
  target "$([ -n "$r" ] && awk -v r="$r" -v m="$3" 'BEGIN { print (r >= m) ? 1 : 0 }')" \
    "$4 ($(times_or_na "$r"))"
}

# within A B MAX TEXT: target "A takes at most MAX times B's time".
within() {
  local r shown=n/a
  r=$(ratio "$1" "$2")
  if [ -n "$r" ]; then shown=$(awk -v r="$r" 'BEGIN { printf "%.2fx", 1 / r }'); fi
  target "$([ -n "$r" ] && awk -v r="$r" -v m="$3" 'BEGIN { print (1 / r <= m) ? 1 : 0 }')" \
    "$4 ($shown)"
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
  "$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
  "kernel $(uname -r)"
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
echo "bench: median of $runs interleaved runs, $([ $cold = 1 ] && echo 'cold cache (dropped before every command)' || echo 'warm cache')$([ $quick = 1 ] && echo ', quick mode')$prio"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: load average (1/5/15 min) at start: $load_start"
# Started after the renice, so the hogs share the commands' priority.
for ((i = 0; i < load; i++)); do
  bash -c 'while :; do :; done' &
  HOGS+=($!)
done
if [ "$load" -gt 0 ]; then echo "bench: $load busy process(es) spinning during the run"; fi

# describe FS: the filesystem's line above its table.
describe() {
  local img=${IMG[$1]}
  echo "$1: $img: $(human "$(stat -c %s "$img")"), $(fs_used_inodes "$img") inodes in use, $(human "$(fs_used_bytes "$img")") in use"
}

# queue_fs FS: queues the commands timed on filesystem FS (with --cold,
# -Q, e2image -Q, -Qa and cp --sparse=always).
queue_fs() {
  local f=$1 img=${IMG[$1]} o=$out/$1
  e2q "$f: e2qimage -Q" "$o.e2q-Q.qcow2" -Q "$img" "$o.e2q-Q.qcow2"
  if [ $cold = 0 ]; then
    e2q "$f: e2qimage -Q --threads=1" "$o.e2q-Q-t1.qcow2" -Q --threads=1 "$img" "$o.e2q-Q-t1.qcow2"
    e2q "$f: e2qimage -Qz" "$o.e2q-Qz.qcow2" -Qz "$img" "$o.e2q-Qz.qcow2"
  fi
  add "$f: e2image -Q" "$o.e2i-Q.qcow2" e2image -Q "$img" "$o.e2i-Q.qcow2"
  e2q "$f: e2qimage -Qa" "$o.e2q-Qa.qcow2" -Qa "$img" "$o.e2q-Qa.qcow2"
  add "$f: cp --sparse=always" "$o.cp.img" cp --sparse=always "$img" "$o.cp.img"
  # With --cold, only these four: the page cache is dropped before each.
  [ $cold = 0 ] || return 0
  add "$f: cp" "$o.cp-auto.img" cp "$img" "$o.cp-auto.img"
  e2q "$f: e2qimage -Qaz" "$o.e2q-Qaz.qcow2" -Qaz "$img" "$o.e2q-Qaz.qcow2"
  add "$f: qemu-img convert -c -W -O qcow2" "$o.qemu-cW.qcow2" \
    qemu-img convert -f raw -c -W -O qcow2 "$img" "$o.qemu-cW.qcow2"
  [ "$f" = meta ] || return 0
  e2q "$f: e2qimage -Q --sync" "$o.e2q-Q-sync.qcow2" -Q --sync "$img" "$o.e2q-Q-sync.qcow2"
  # shellcheck disable=SC2016  # $1 and $2 are the inner shell's arguments
  add "$f: e2image -Q + sync FILE" "$o.e2i-Q-sync.qcow2" \
    bash -c 'e2image -Q "$1" "$2" 2>/dev/null && sync "$2"' e2i-sync "$img" "$o.e2i-Q-sync.qcow2"
  e2q "$f: e2qimage -r" "$o.e2q-r.raw" -r "$img" "$o.e2q-r.raw"
  add "$f: e2image -r" "$o.e2i-r.raw" e2image -r "$img" "$o.e2i-r.raw"
  add "$f: e2image -Qa" "$o.e2i-Qa.qcow2" e2image -Qa "$img" "$o.e2i-Qa.qcow2"
  # With --sync, e2qimage fsyncs its output before renaming it into place
  # (as qemu-img flushes on close); cp does not.  These rows compare that.
  e2q "$f: e2qimage -Qa --sync" "$o.e2q-Qa-sync.qcow2" -Qa --sync "$img" "$o.e2q-Qa-sync.qcow2"
  # shellcheck disable=SC2016  # $1 and $2 are the inner shell's arguments
  add "$f: cp --sparse=always + sync FILE" "$o.cp-sync.img" \
    bash -c 'cp --sparse=always "$1" "$2" && sync "$2"' cp-sync "$img" "$o.cp-sync.img"
  e2q "$f: e2qimage -Qaz --threads=1" "$o.e2q-Qaz-t1.qcow2" -Qaz --threads=1 "$img" "$o.e2q-Qaz-t1.qcow2"
  add "$f: qemu-img convert -c -O qcow2" "$o.qemu-c.qcow2" \
    qemu-img convert -f raw -c -O qcow2 "$img" "$o.qemu-c.qcow2"
}

# report_fs FS: its table, ratios and targets.
report_fs() {
  local f=$1 k r ok sizes used
  used=$(fs_used_bytes "${IMG[$f]}")
  echo
  describe "$f"
  header
  for k in "e2qimage -Q" "e2qimage -Q --threads=1" "e2qimage -Qz" "e2image -Q" "e2qimage -Q --sync" \
           "e2image -Q + sync FILE" "e2qimage -r" "e2image -r" "e2qimage -Qa" \
           "e2image -Qa" "cp --sparse=always" "cp" "e2qimage -Qa --sync" \
           "cp --sparse=always + sync FILE" "e2qimage -Qaz" "e2qimage -Qaz --threads=1" \
           "qemu-img convert -c -W -O qcow2" "qemu-img convert -c -O qcow2"; do
    if [ -n "${T[$f: $k]:-}" ] || [ -n "${ERR[$f: $k]:-}" ]; then row "$f: $k"; fi
  done
  echo "metadata image sizes: e2image -Q $(human "${SIZE[$f: e2image -Q]:-0}")," \
    "e2qimage -Q $(human "${SIZE[$f: e2qimage -Q]:-0}"), e2qimage -Qz $(human "${SIZE[$f: e2qimage -Qz]:-0}")," \
    "xz -6 of the raw metadata image $([ -n "${XZ[$f]:-}" ] && human "${XZ[$f]}" || echo n/a)"
  echo "compression (file size / bytes in use):"
  for k in "e2qimage -Qaz" "qemu-img convert -c -W -O qcow2" "qemu-img convert -c -O qcow2"; do
    if [ -n "${SIZE[$f: $k]:-}" ]; then
      printf '  %-44s %s\n' "$k" "$(awk -v s="${SIZE[$f: $k]}" -v u="$used" 'BEGIN { printf "%.3f", s / u }')"
    fi
  done
  echo "speed-ups (times faster):"
  speed "$f: e2qimage -Q" "$f: e2image -Q"
  speed "$f: e2qimage -Q --threads=1" "$f: e2image -Q"
  speed "$f: e2qimage -Qa" "$f: cp --sparse=always"
  speed "$f: e2qimage -Qa" "$f: cp"
  speed "$f: e2qimage -Qaz" "$f: qemu-img convert -c -W -O qcow2"
  if [ "$f" = meta ]; then
    speed "$f: e2qimage -Q --sync" "$f: e2image -Q + sync FILE"
    speed "$f: e2qimage -r" "$f: e2image -r"
    speed "$f: e2qimage -Qa" "$f: e2image -Qa"
    speed "$f: e2qimage -Qa --sync" "$f: cp --sparse=always + sync FILE"
    speed "$f: e2qimage -Qaz" "$f: qemu-img convert -c -O qcow2"
    speed "$f: e2qimage -Qaz" "$f: e2qimage -Qaz --threads=1"
  fi
  echo "targets:"
  faster "$f: e2qimage -Q" "$f: e2image -Q" 3 "$f: e2qimage -Q at least 3x faster than e2image -Q"
  faster "$f: e2qimage -Q --threads=1" "$f: e2image -Q" 2 \
    "$f: e2qimage -Q --threads=1 at least 2x faster than e2image -Q"
  within "$f: e2qimage -Qa" "$f: cp --sparse=always" 0.7 \
    "$f: e2qimage -Qa within 0.7x of cp --sparse=always's time"
  within "$f: e2qimage -Qa" "$f: cp" 1.0 "$f: e2qimage -Qa within 1.0x of plain cp's time"
  r=$(ratio "$f: e2qimage -Qaz" "$f: qemu-img convert -c -W -O qcow2")
  ok=
  sizes=n/a
  if [ -n "$r" ]; then
    local a=${SIZE["$f: e2qimage -Qaz"]} b=${SIZE["$f: qemu-img convert -c -W -O qcow2"]}
    ok=$(awk -v r="$r" -v a="$a" -v b="$b" 'BEGIN { print (r >= 3.5 && a <= 0.94 * b) ? 1 : 0 }')
    sizes="$(human "$a") vs $(human "$b"), $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3fx", a / b }')"
  fi
  target "$ok" "$f: e2qimage -Qaz at least 3.5x faster than qemu-img convert -c -W, file <= 0.94x ($(times_or_na "$r"); $sizes)"
}

# raw_metadata_xz FS: XZ[FS], the MiB of xz -6 over the raw metadata image
# (e2image -r), which no qemu tool opens: the smallest form a metadata
# image can be mailed in, for comparison.  Not timed.
raw_metadata_xz() {
  local raw=$out/$1.meta.raw
  rm -f "$raw"
  if e2image -r "${IMG[$1]}" "$raw" 2>/dev/null; then XZ[$1]=$(xz_extents "$raw"); fi
  rm -f "$raw"
}

# cold: reading the device from the disk, as on a first run.
if [ $cold = 1 ]; then
  for f in "${filesystems[@]}"; do
    case $f in data|packed) continue ;; esac
    echo "bench: $f: timing with cold caches" >&2
    queue_fs "$f"
    run_all
  done
  echo "bench: load average (1/5/15 min): $load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
  for f in "${filesystems[@]}"; do
    case $f in data|packed) continue ;; esac
    echo
    describe "$f"
    header
    for k in "e2qimage -Q" "e2image -Q" "e2qimage -Qa" "cp --sparse=always"; do row "$f: $k"; done
    echo "speed-ups (times faster), cold caches:"
    speed "$f: e2qimage -Q" "$f: e2image -Q"
    speed "$f: e2qimage -Qa" "$f: cp --sparse=always"
    echo "targets:"
    faster "$f: e2qimage -Q" "$f: e2image -Q" 3 "$f: cold e2qimage -Q at least 3x faster than cold e2image -Q"
  done
else
  for f in "${filesystems[@]}"; do
    echo "bench: $f: warming the cache" >&2
    warm "${IMG[$f]}"
    echo "bench: $f: timing" >&2
    queue_fs "$f"
    run_all
    raw_metadata_xz "$f"
  done
  load_end=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "bench: load average (1/5/15 min): $load_start at start, $load_end at end$(
    awk -v a="${load_start%% *}" -v b="${load_end%% *}" \
      'BEGIN { if (a > 1 || b > 1) printf " (other work running: timings are noisy)" }')"
  for f in "${filesystems[@]}"; do report_fs "$f"; done
fi

# scale: empty huge filesystems, one run of each command (bench/scale.sh).
if [ -n "$scale" ] && [ $cold = 0 ]; then
  echo
  echo "scale: metadata images of empty huge filesystems (bench/scale.sh$([ "$scale" = huge ] && echo ' --huge'))"
  scale_args=(--dir "$dir/scale")
  [ "$scale" = huge ] && scale_args+=(--huge)
  if [ $have_e2q = 1 ]; then
    E2QIMAGE=$E2QIMAGE bash "$here/scale.sh" "${scale_args[@]}" || ERR[scale]="FAILED: bench/scale.sh"
  else
    echo "  skipped: e2qimage not available"
  fi
fi

echo
echo "bench: $MISSES target(s) missed"
failed=0
for k in "${!ERR[@]}"; do
  case ${ERR[$k]} in FAILED*) failed=$((failed + 1)) ;; esac
done
if [ $failed -gt 0 ]; then
  echo "bench: $failed command(s) failed (see above)" >&2
  exit 1
fi
