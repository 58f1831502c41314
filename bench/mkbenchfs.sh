#!/bin/bash
# mkbenchfs.sh: builds the filesystems that bench/bench.sh measures, into a
# cache folder, and reuses them on later runs.
#
#   meta  ext4, 8 GiB, >= 500,000 inodes in use: a deep tree of small files,
#         symlinks, hard links, a few large directories and some large files.
#         The image a metadata export (-Q, -r) has to walk.
#   data  ext4, 1.5 GiB holding >= 1 GiB of real files copied from
#         /usr/lib/x86_64-linux-gnu (and /usr/share if that is not enough):
#         realistic input for the compression benchmark (-Qaz).
#   usr   ext4, 16 GiB made by `mke2fs -t ext4 -d /usr`: the machine's own
#         system tree as it is (about 160,000 inodes and 8.6 GB of data on
#         Debian 12 with a build toolchain), many small files and real
#         directory sizes.  Not byte-identical across machines; its
#         parameters record the tree's size and file count.
#   packed ext4 holding files that are compressed already: the machine's
#         package cache, /var/cache/apt/archives (.deb files: 1.4 GB on
#         the development machine), as it is; where it holds less than the
#         size wanted, topped up with `gzip -6` copies of files from
#         /usr/lib/x86_64-linux-gnu.  What -Qaz meets on a machine that
#         keeps downloads, archives or media.  Sized to its tree, like usr.
#
# With --quick, meta and data are small (1 GiB / 50,000 inodes and 320 MiB /
# 200 MiB), usr holds /usr/share alone and packed 256 MiB of files, so that a
# smoke run takes a minute.  Device images are sparse files.
#
# The tree is generated in a scratch folder (tmpfs when there is room) by a
# seeded generator and copied in by `mke2fs -d`; UUID, hash seed, feature
# list, inode count, mke2fs.conf, file times (inode change times by a debugfs
# pass) and E2FSPROGS_FAKE_TIME are pinned, so a rebuild gives a byte-identical
# image (the data image as long as the system files are the same).  Each image
# must pass `e2fsck -fn`.  An image is rebuilt only when it is missing or was
# built with other parameters (recorded in IMAGE.params).
#
# Usage: mkbenchfs.sh [--quick] [--dir DIR] [--force] [meta|data|usr|packed]...
# Prints "KIND PATH" for each image on standard output; progress goes to
# standard error.
set -euo pipefail

readonly VERSION=1
readonly UUID=5e2b0c1a-8d3f-4a6e-9b7c-1d2e3f405162
readonly HASH_SEED=9a8b7c6d-5e4f-4031-8293-a4b5c6d7e8f9
readonly FEATURES=has_journal,ext_attr,resize_inode,dir_index,filetype,extent,flex_bg,sparse_super,large_file,huge_file,dir_nlink,extra_isize,metadata_csum,64bit
readonly FILE_TIME=1700000000

export LC_ALL=C TZ=UTC
export E2FSPROGS_FAKE_TIME=$FILE_TIME
export PATH="/usr/sbin:/sbin:$PATH"

die() { echo "mkbenchfs: $*" >&2; exit 1; }
note() { echo "mkbenchfs: $*" >&2; }

usage() {  # usage [STATUS]: prints the usage; exits STATUS (default 2)
  sed -n 's/^# \{0,1\}//; /^Usage:/,/^standard error/p' "$0" >&2
  exit "${1:-2}"
}

dir=${E2Q_BENCH_DIR:-/var/tmp/e2q-bench}
quick=0
force=0
kinds=()
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --force) force=1 ;;
    --dir) [ $# -ge 2 ] || usage; dir=$2; shift ;;
    --dir=*) dir=${1#--dir=} ;;
    -h|--help) usage 0 ;;
    meta|data|usr|packed) kinds+=("$1") ;;
    *) echo "mkbenchfs: unknown argument '$1'" >&2; usage ;;
  esac
  shift
done
[ ${#kinds[@]} -gt 0 ] || kinds=(meta data)

for tool in mke2fs python3 truncate dumpe2fs debugfs e2fsck; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (needed to build the benchmark filesystems)"
done
mkdir -p "$dir" || die "$dir: cannot create the cache folder"

# Our own mke2fs.conf, so that /etc/mke2fs.conf does not change the result;
# the size classes are defined (empty) so that mke2fs does not warn.
export MKE2FS_CONFIG=$dir/mke2fs.conf
{
  printf '[defaults]\n\tblocksize = 4096\n\tinode_size = 256\n'
  printf '\tinode_ratio = 16384\n[fs_types]\n'
  for t in floppy small default; do
    printf '\t%s = {\n\t\tinode_ratio = 16384\n\t}\n' "$t"
  done
} > "$MKE2FS_CONFIG"

# Scratch folder for the generated tree: tmpfs when it has room for SIZE
# bytes, else beside the images.
scratch_for() {
  local need=$1 base avail
  for base in /dev/shm "$dir"; do
    if [ ! -d "$base" ] || [ ! -w "$base" ]; then continue; fi
    avail=$(df -P -B1 "$base" 2>/dev/null | awk 'NR == 2 { print $4 }')
    if [ -n "$avail" ] && [ "$avail" -gt $((need + (need / 4))) ]; then
      mktemp -d "$base/e2q-bench-tree.XXXXXX"
      return 0
    fi
  done
  die "no folder with $((need >> 20)) MiB free for the scratch tree"
}

scratch=
cleanup() { if [ -n "$scratch" ]; then rm -rf "$scratch"; fi; }
trap cleanup EXIT

# gen_meta ROOT FILES LARGE_BYTES BIG_DIR_ENTRIES: the seeded tree.
gen_meta() {
  python3 - "$@" <<'PY'
import os, random, sys

root, n_files, large_bytes, big_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
T = int(os.environ["E2FSPROGS_FAKE_TIME"])
rng = random.Random(20240601)
# Content pool: text-like bytes, so that -Qa copies realistic data.
words = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot",
         b"golf", b"hotel", b"india", b"juliet", b"kilo", b"lima", b"\n"]
pool = b" ".join(rng.choice(words) for _ in range(40000))[: 1 << 17]
dirs = []

def small_size():
    r = rng.random()
    if r < 0.10: return 0
    if r < 0.60: return rng.randint(1, 1024)
    if r < 0.95: return rng.randint(1025, 8192)
    return rng.randint(8193, 32768)

def write(path, size):
    with open(path, "wb") as f:
        off = rng.randrange(0, len(pool) - 32768)
        f.write(pool[off:off + size])
    os.utime(path, (T, T))

def mkdir(path):
    os.mkdir(path)
    dirs.append(path)

made = 0
# Two large directories (hashed, multi-block htree).
for b in range(2):
    d = os.path.join(root, "bigdir%d" % b)
    mkdir(d)
    for i in range(big_dir):
        write(os.path.join(d, "entry-with-a-longer-name-%07d" % i), rng.randint(0, 600))
        made += 1
# The tree: top/sub/leaf folders of about 100 entries each.
n_leaves = max(1, (n_files - made) // 100)
fanout = max(2, int(round(n_leaves ** (1.0 / 3))))
leaf = 0
top = 0
previous = None
while made < n_files:
    t = os.path.join(root, "t%03d" % top); mkdir(t); top += 1
    for s in range(fanout):
        if made >= n_files: break
        sd = os.path.join(t, "s%03d" % s); mkdir(sd)
        for l in range(fanout):
            if made >= n_files: break
            ld = os.path.join(sd, "leaf%03d" % l); mkdir(ld); leaf += 1
            count = min(rng.randint(40, 160), n_files - made)
            for i in range(count):
                p = os.path.join(ld, "f%04d.dat" % i)
                r = rng.random()
                if r < 0.03 and i > 0:
                    # Short symlinks live in the inode, long ones need a block.
                    target = "f%04d.dat" % (i - 1) if r < 0.015 else \
                        "../" * 3 + "t000/s000/leaf000/" + "x" * rng.randint(60, 200)
                    os.symlink(target, p)
                    os.utime(p, (T, T), follow_symlinks=False)
                elif r < 0.04 and previous is not None:
                    os.link(previous, p)   # a second name for a file elsewhere
                else:
                    write(p, small_size())
                    previous = p
                made += 1
# Large files: the data a full image (-Qa) copies.
if large_bytes > 0:
    d = os.path.join(root, "large"); mkdir(d)
    chunk = rng.randbytes(1 << 20)
    left, k = large_bytes, 0
    while left > 0:
        size = min(left, rng.choice([16, 32, 64, 128]) << 20)
        p = os.path.join(d, "blob%03d" % k)
        with open(p, "wb") as f:
            for done in range(0, size, 1 << 20):
                f.write(chunk[: min(1 << 20, size - done)])
        os.utime(p, (T, T))
        left -= size; k += 1
for d in reversed(dirs):
    os.utime(d, (T, T))
os.utime(root, (T, T))
print("%d entries in %d folders" % (made, len(dirs)), file=sys.stderr)
PY
}

# gen_data ROOT BYTES: copies regular files (sorted by path) from the system
# library folders until BYTES are copied.
gen_data() {
  python3 - "$@" <<'PY'
import os, shutil, sys

root, want = sys.argv[1], int(sys.argv[2])
T = int(os.environ["E2FSPROGS_FAKE_TIME"])
total = files = 0
made_dirs = []
for src in ("/usr/lib/x86_64-linux-gnu", "/usr/share"):
    if total >= want or not os.path.isdir(src):
        continue
    for top, subdirs, names in os.walk(src):
        subdirs.sort()
        for name in sorted(names):
            if total >= want: break
            path = os.path.join(top, name)
            if not os.path.isfile(path) or os.path.islink(path): continue
            rel = os.path.relpath(path, "/usr")
            dst = os.path.join(root, rel)
            ddir = os.path.dirname(dst)
            if not os.path.isdir(ddir):
                os.makedirs(ddir); made_dirs.append(ddir)
            try:
                shutil.copyfile(path, dst)
            except OSError:
                continue   # unreadable: skip it
            os.utime(dst, (T, T))
            total += os.path.getsize(dst); files += 1
        if total >= want: break
if total < want:
    sys.exit("mkbenchfs: only %d bytes of files found, %d wanted" % (total, want))
for top, subdirs, names in os.walk(root, topdown=False):
    os.utime(top, (T, T))
print("%d files, %d bytes" % (files, total), file=sys.stderr)
PY
}

# gen_packed ROOT BYTES: the package cache's files in name order up to BYTES,
# then gzip -6 copies of libraries until BYTES are there.  Prints the bytes
# and files taken from each source, which go into the image's parameters.
gen_packed() {
  python3 - "$@" <<'PY'
import gzip, os, shutil, sys

root, want = sys.argv[1], int(sys.argv[2])
T = int(os.environ["E2FSPROGS_FAKE_TIME"])
total = 0
taken = []
def files_of(src):
    for top, subdirs, names in os.walk(src):
        subdirs.sort()
        for name in sorted(names):
            path = os.path.join(top, name)
            if os.path.isfile(path) and not os.path.islink(path):
                yield path
for src, pack in (("/var/cache/apt/archives", False),
                  ("/usr/lib/x86_64-linux-gnu", True)):
    n = got = 0
    if os.path.isdir(src):
        for path in files_of(src):
            if total >= want: break
            dst = os.path.join(root, os.path.relpath(path, "/"))
            if pack: dst += ".gz"
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            try:
                if pack:
                    with open(path, "rb") as i, open(dst, "wb") as o:
                        # mtime pinned: the same bytes on every build.
                        with gzip.GzipFile(fileobj=o, mode="wb",
                                           compresslevel=6, mtime=T) as z:
                            shutil.copyfileobj(i, z)
                else:
                    shutil.copyfile(path, dst)
            except OSError:
                continue   # unreadable: skip it
            os.utime(dst, (T, T))
            size = os.path.getsize(dst)
            total += size; got += size; n += 1
    taken.append("%s:%d:%d" % (src, n, got))
if total < want:
    sys.exit("mkbenchfs: only %d bytes of files found, %d wanted" % (total, want))
for top, subdirs, names in os.walk(root, topdown=False):
    os.utime(top, (T, T))
print(",".join(taken))
PY
}

# pin_ctimes IMAGE: mke2fs -d copies each scratch file's change time, which
# no program can set; rewrite it to FILE_TIME in every in-use inode (found
# from the per-group free-inode ranges that dumpe2fs prints).
pin_ctimes() {
  local img=$1 cmds
  cmds=$(mktemp "${TMPDIR:-/tmp}/e2q-bench-sif.XXXXXX")
  dumpe2fs "$img" 2>/dev/null | awk -v t="$FILE_TIME" '
    function used(a, b,   x) { for (x = a; x <= b; x++) print "sif <" x "> ctime @" t }
    /^Inodes per group:/ { ipg = $4 }
    /^Group [0-9]+:/ { g = $2 + 0 }
    /^  Free inodes:/ {
      lo = g * ipg + 1; hi = (g + 1) * ipg
      s = substr($0, index($0, ":") + 1); gsub(/ /, "", s)
      n = split(s, part, ",")
      for (i = 1; i <= n; i++) {
        if (part[i] == "") continue
        m = split(part[i], ab, "-")
        used(lo, ab[1] - 1)
        lo = (m == 2 ? ab[2] : ab[1]) + 1
      }
      used(lo, hi)
    }' > "$cmds"
  [ -s "$cmds" ] || die "$img: no in-use inodes found by dumpe2fs"
  debugfs -w -f "$cmds" "$img" >/dev/null 2>"$cmds.err" ||
    die "$img: debugfs could not pin inode times: $(head -3 "$cmds.err")"
  if grep -v '^debugfs [0-9]' "$cmds.err" | grep -q .; then
    die "$img: debugfs: $(grep -v '^debugfs [0-9]' "$cmds.err" | head -3)"
  fi
  rm -f "$cmds" "$cmds.err"
}

# build KIND: makes $dir/KIND[-quick].img unless an identical build exists.
build() {
  local kind=$1 size inodes files large bigdir data_bytes params img
  if [ "$kind" = usr ]; then
    # /usr/share alone in quick mode.
    local src=/usr
    if [ $quick = 1 ]; then src=/usr/share; fi
    local entries
    entries=$(find "$src" -xdev 2>/dev/null | wc -l)
    if [ $quick = 1 ]; then size=2G; else size=16G; fi
    inodes=$((entries * 2 + 65536))
    local tree
    tree=$(du -sxb "$src" 2>/dev/null | cut -f1)-$entries
    params="v$VERSION usr src=$src tree=$tree size=$size inodes=$inodes"
  elif [ "$kind" = packed ]; then
    # The whole cache, at least 1 GiB (256 MiB with --quick).
    local cache_bytes=0
    if [ -d /var/cache/apt/archives ]; then
      cache_bytes=$(du -sxb /var/cache/apt/archives 2>/dev/null | cut -f1)
    fi
    if [ $quick = 1 ]; then
      data_bytes=$((256 << 20))
    else
      data_bytes=$((cache_bytes > (1 << 30) ? cache_bytes : (1 << 30)))
    fi
    size=$(((data_bytes + data_bytes / 4 + (64 << 20)) >> 20))M
    inodes=65536
    params="v$VERSION packed size=$size inodes=$inodes bytes=$data_bytes cache=$cache_bytes"
  elif [ "$kind" = meta ]; then
    if [ $quick = 1 ]; then
      size=1G; inodes=65536; files=50000; large=$((128 << 20)); bigdir=2000
    else
      size=8G; inodes=655360; files=505000; large=$((1 << 30)); bigdir=20000
    fi
    params="v$VERSION meta size=$size inodes=$inodes files=$files large=$large bigdir=$bigdir"
  else
    if [ $quick = 1 ]; then
      size=320M; inodes=32768; data_bytes=$((200 << 20))
    else
      size=1536M; inodes=98304; data_bytes=$((1152 << 20))
    fi
    params="v$VERSION data size=$size inodes=$inodes bytes=$data_bytes"
  fi
  params="$params features=$FEATURES uuid=$UUID seed=$HASH_SEED time=$FILE_TIME"
  img=$dir/$kind.img
  if [ $quick = 1 ]; then img=$dir/$kind-quick.img; fi

  if [ $force = 0 ] && [ -f "$img" ] && [ -f "$img.params" ] &&
     [ "$(cat "$img.params")" = "$params" ]; then
    note "$kind: reusing $img"
    echo "$kind $img"
    return 0
  fi
  rm -f "$img" "$img.params"

  local start=$SECONDS
  local source=
  if [ "$kind" = usr ]; then
    source=$src
    note "$kind: copying $src as it is"
  elif [ "$kind" = packed ]; then
    scratch=$(scratch_for "$data_bytes")
    note "$kind: copying the package cache into $scratch"
    local taken
    taken=$(gen_packed "$scratch" "$data_bytes") || die "$kind: no tree"
    note "$kind: $taken"
  elif [ "$kind" = meta ]; then
    scratch=$(scratch_for $(((files * 5000) + large)))
    note "$kind: generating the tree in $scratch"
    gen_meta "$scratch" "$files" "$large" "$bigdir"
  else
    scratch=$(scratch_for "$data_bytes")
    note "$kind: copying system files into $scratch"
    gen_data "$scratch" "$data_bytes"
  fi
  [ -n "$source" ] || source=$scratch
  note "$kind: mke2fs -d ($size, $inodes inodes)"
  rm -f "$img.tmp"
  truncate -s "$size" "$img.tmp"
  mke2fs -q -F -b 4096 -I 256 -N "$inodes" -O "$FEATURES" -L "e2q-$kind" \
    -U "$UUID" -E "hash_seed=$HASH_SEED" -d "$source" "$img.tmp" >&2 ||
    die "$kind: mke2fs failed"
  if [ -n "$scratch" ]; then rm -rf "$scratch"; scratch=; fi
  pin_ctimes "$img.tmp"
  e2fsck -fn "$img.tmp" >/dev/null 2>&1 || die "$kind: e2fsck -fn finds problems in $img.tmp"
  local used
  used=$(dumpe2fs -h "$img.tmp" 2>/dev/null |
         awk -F: '/^Inode count/ { ic = $2 } /^Free inodes/ { fi = $2 }
                  END { print ic - fi }')
  note "$kind: $used inodes in use, built in $((SECONDS - start)) s"
  mv "$img.tmp" "$img"
  echo "$params" > "$img.params"
  echo "$kind $img"
}

for kind in "${kinds[@]}"; do
  build "$kind"
done
