# Shared helpers for functional test scripts (sourced by each `script`).
# Pins everything that could make output differ between runs and gives the
# oracles (qemu-img, e2fsck, debugfs, e2image) one spelling each.
set -u
export LC_ALL=C TZ=UTC
export E2FSPROGS_FAKE_TIME=1700000000
export SOURCE_DATE_EPOCH=1700000000
export E2FSPROGS_LIBMAGIC_SUPPRESS=1
export PATH="/usr/sbin:/sbin:$PATH"

: "${E2QIMAGE:?E2QIMAGE must name the binary under test}"
: "${E2Q_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export MKE2FS_CONFIG="$E2Q_SRCDIR/tests/func/mke2fs.conf"
# The e2fsprogs regression corpus lives beside the project, never in it.
: "${E2Q_CORPUS:=$E2Q_SRCDIR/../shared/corpus/e2fsprogs}"

FIXED_UUID=6a1f5b8e-52d4-4c1e-9a0b-2f2d3e4c5b6a
FIXED_SEED=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0

fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
skip() { echo "SKIP: $*"; exit 77; }
require() { for t; do command -v "$t" >/dev/null 2>&1 || skip "$t not installed"; done; }
finish() { if [ "$fails" -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi; exit 0; }

# mkfs IMAGE SIZE [mke2fs options...]: a deterministic filesystem.
mkfs() {
  local img=$1 size=$2; shift 2
  rm -f "$img"
  truncate -s "$size" "$img"
  mke2fs -q -F -U "$FIXED_UUID" -E "hash_seed=$FIXED_SEED" "$@" "$img" >/dev/null
}

# qcheck FILE: qemu-img check must exit 0 (no errors, no leaks), and
# FILE must not probe as a filesystem or partition table (blkid -p finds
# nothing but, where it knows it, qcow2): a guest superblock seen through
# the qcow2 file would put the guest's UUID under /dev/disk/by-uuid.
qcheck() {
  local out rc
  out=$(qemu-img check "$1" 2>&1); rc=$?
  if [ $rc -ne 0 ]; then fail "qemu-img check $1 exit $rc: $out"; return 1; fi
  noprobe "$1"
}

# noprobe FILE: blkid -p finds no filesystem or partition table in FILE.
noprobe() {
  local out
  out=$(blkid -p -o export "$1" 2>&1 | grep -E '^(PT)?TYPE=' | grep -v '=qcow2$')
  if [ -n "$out" ]; then fail "blkid -p $1 probes as: $out"; return 1; fi
  return 0
}

# qsame A B: qemu-img compare says identical (formats probed).
qsame() {
  local out
  if ! out=$(qemu-img compare "$1" "$2" 2>&1); then
    fail "qemu-img compare $1 $2: $out"; return 1
  fi
  return 0
}

# fsck_out IMAGE: e2fsck -fn output with the image name and timing noise
# removed, followed by the exit status.
fsck_out() {
  local out rc
  out=$(e2fsck -fn "$1" 2>&1); rc=$?
  printf '%s\nexit %d\n' "$out" "$rc" | sed -e "s|$1|IMAGE|g" -e '/^e2fsck [0-9]/d'
}

# fsck_clean IMAGE: e2fsck -fn exits 0.
fsck_clean() {
  local out
  if ! out=$(e2fsck -fn "$1" 2>&1); then fail "e2fsck -fn $1: $out"; return 1; fi
  return 0
}

# raw_of IMAGE OUT: guest content as raw, by qemu-img (the reference reader).
raw_of() { qemu-img convert -O raw "$1" "$2"; }

# ext2fs_opens IMAGE: libext2fs can open the filesystem at all (debugfs's
# catastrophic mode: no bitmaps, checksum errors ignored) and read its
# superblock summary.
ext2fs_opens() {
  local out rc
  out=$(timeout 60 debugfs -c -R stats "$1" 2>&1); rc=$?
  [ $rc -eq 0 ] && ! printf '%s\n' "$out" | grep -q 'while trying to open' &&
    printf '%s\n' "$out" | grep -q '^Block count:'
}
