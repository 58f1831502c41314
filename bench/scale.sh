#!/bin/bash
# Metadata images of empty huge filesystems (issue 18): time, peak RSS and
# file size of e2image -Q, e2qimage -Q and e2qimage -Qz side by side (and
# the two without cluster sharing, --no-share), and
# xz -6 of the raw metadata image's data extents (its holes left out:
# xz would turn them into next to nothing, but reading 15 TiB of holes
# takes hours).
#
#   bench/scale.sh [--build DIR] [--dir DIR] [--huge]
#
# --dir holds the sparse filesystem files (default /tmp/e2q-scale); the
# 15 TiB row needs a file system that takes 15 TiB sparse files (ext4
# does); --huge adds a 256 TiB row on a btrfs loop mount made in --dir
# (root and btrfs-progs needed; the row is skipped with a message
# otherwise).  No timing here is a pass/fail test.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/_build
dir=/tmp/e2q-scale
huge=0
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift ;;
    --dir) dir=$2; shift ;;
    --huge) huge=1 ;;
    *) echo "usage: $0 [--build DIR] [--dir DIR] [--huge]" >&2; exit 2 ;;
  esac
  shift
done
E2Q=${E2QIMAGE:-$build/e2qimage/e2qimage}
[ -x "$E2Q" ] || { echo "bench: $E2Q not built" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: GNU time (/usr/bin/time) needed" >&2; exit 1; }
mkdir -p "$dir"
export SOURCE_DATE_EPOCH=1700000000

measure() {  # LABEL CMD...: prints "LABEL  secs  peak-MiB  file-MiB"
  local label=$1 out; shift
  out=${*: -1}
  rm -f "$out"
  local rc=0
  /usr/bin/time -f '%e %M' -o "$dir/time.txt" timeout "${limit:-1800}" "$@" >/dev/null 2>"$dir/err.txt" || rc=$?
  if [ $rc = 0 ]; then
    read -r secs kib < <(tail -1 "$dir/time.txt")
    printf '  %-22s %8s s %8d MiB RSS %10.1f MiB file\n' "$label" "$secs" $((kib / 1024)) \
      "$(awk -v b="$(stat -c %s "$out")" 'BEGIN { print b / 1048576 }')"
  elif [ $rc = 124 ]; then
    printf '  %-22s did not finish in %s s\n' "$label" "${limit:-1800}"
  else
    printf '  %-22s failed: %s\n' "$label" "$(tail -1 "$dir/err.txt")"
  fi
}

# xz_extents RAW
# shellcheck source=bench/xz_extents.sh
. "$top/bench/xz_extents.sh"

row() {  # NAME SIZE DIR
  local name=$1 size=$2 d=$3 fs=$3/fs.img
  rm -f "$fs"
  if ! truncate -s "$size" "$fs" 2>/dev/null ||
     ! mke2fs -q -F -t ext4 -E lazy_itable_init=1,lazy_journal_init=1 "$fs" >/dev/null 2>&1; then
    echo "$name: skipped: cannot make a $size sparse ext4 in $d"; return
  fi
  echo "$name ($size empty ext4, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)):"
  limit=$e2image_limit measure "e2image -Q" e2image -Q "$fs" "$d/e2image.qcow2"
  measure "e2qimage -Q" "$E2Q" -Q "$fs" "$d/q.qcow2"
  measure "e2qimage -Qz" "$E2Q" -Qz "$fs" "$d/qz.qcow2"
  # Without sharing equal clusters, as before issue 18 (same clusters).
  local bits
  bits=$(qemu-img info "$d/q.qcow2" | sed -n 's/^cluster_size: //p')
  measure "-Q --no-share" "$E2Q" -Q --no-share --cluster-size="$bits" "$fs" "$d/qn.qcow2"
  measure "-Qz --no-share" "$E2Q" -Qz --no-share --cluster-size="$bits" "$fs" "$d/qzn.qcow2"
  for f in q qz qn qzn; do
    qemu-img check "$d/$f.qcow2" >/dev/null 2>&1 || echo "  $f.qcow2: qemu-img check failed"
  done
  echo "  (clusters of $bits bytes; shared images hold $(qemu-img snapshot -l "$d/q.qcow2" | grep -c as-written) as-written snapshot)"
  if "$E2Q" -r "$d/q.qcow2" "$d/meta.raw" 2>/dev/null; then
    printf '  %-22s %10s MiB\n' "xz -6 of the raw image" "$(xz_extents "$d/meta.raw" | awk '{ printf "%.1f", $1 / 1048576 }')"
  fi
  rm -f "$fs" "$d"/*.qcow2 "$d/meta.raw"
}

e2image_limit=1800
row "1 TiB" 1T "$dir"
row "15 TiB" 15T "$dir"
if [ $huge = 1 ]; then
  mnt=$dir/btrfs
  if [ "$(id -u)" -eq 0 ] && command -v mkfs.btrfs >/dev/null; then
    mkdir -p "$mnt"
    truncate -s 64G "$dir/btrfs.img"
    mkfs.btrfs -q -f "$dir/btrfs.img" >/dev/null &&
      mount -o loop "$dir/btrfs.img" "$mnt" &&
      e2image_limit=300 row "256 TiB" 256T "$mnt"
    umount "$mnt" 2>/dev/null
    rm -f "$dir/btrfs.img"
  else
    echo "256 TiB: skipped: needs root and btrfs-progs (mkfs.btrfs)"
  fi
fi
