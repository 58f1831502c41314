#!/bin/bash
# Builds the fuzzers' seed corpora in OUTDIR/{qcow2,backing,ext4} with the
# real tools: small qcow2 files from qemu-img/qemu-io (every cluster kind,
# snapshots, v2 and v3, extended L2, zstd), backing-chain pairs in the
# backing fuzzer's input format (a.qcow2, "==e2q-split==", b.qcow2), and
# small filesystems from mke2fs -d.  Nothing here is committed: seeds are
# made at fuzzing time.  Usage: make_seeds.sh OUTDIR
set -eu
mkdir -p "$1"
out=$(cd "$1" && pwd)
export LC_ALL=C TZ=UTC E2FSPROGS_FAKE_TIME=1700000000
export PATH="/usr/sbin:/sbin:$PATH"
export MKE2FS_CONFIG="$(cd "$(dirname "$0")/.." && pwd)/func/mke2fs.conf"
for t in qemu-img qemu-io mke2fs e2fsck python3; do
  command -v $t >/dev/null || { echo "make_seeds.sh: $t not installed" >&2; exit 1; }
done
mkdir -p "$out/qcow2" "$out/backing" "$out/ext4"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/e2q-seeds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
qio() { qemu-io -f qcow2 "$@" >/dev/null; }

# --- qcow2: one image each, small clusters so inputs stay small.
mk() {  # NAME SIZE CREATE-OPTIONS QEMU-IO-COMMANDS...
  local name=$1 size=$2 opts=$3; shift 3
  qemu-img create -q -f qcow2 ${opts:+-o "$opts"} "$name" "$size"
  local args=()
  for c; do args+=(-c "$c"); done
  [ ${#args[@]} -eq 0 ] || qio "${args[@]}" "$name"
}
mk v3.qcow2 256k cluster_size=512 "write -P 0x11 0 4k" "write -z 8k 2k" \
  "write -c -P 0x12 16k 512" "write -c -P 0x13 17k 512" "write -P 0x14 200k 1k"
qemu-img snapshot -c one v3.qcow2
qio -c "write -P 0x15 0 1k" -c "write -c -P 0x16 32k 512" v3.qcow2
qemu-img snapshot -c two v3.qcow2
mk v2.qcow2 128k compat=0.10,cluster_size=512 "write -P 0x21 0 2k" \
  "write -c -P 0x22 64k 512"
qemu-img snapshot -c one v2.qcow2
mk l2ext.qcow2 256k cluster_size=16k,extended_l2=on "write -P 0x31 0 512" \
  "write -P 0x32 4k 1k" "write -z 8k 512" "write -c -P 0x33 32k 16k"
mk zstd.qcow2 128k cluster_size=4k,compression_type=zstd \
  "write -c -P 0x41 0 4k" "write -c -P 0x42 8k 4k" "write -P 0x43 64k 4k"
mk rc1.qcow2 64k cluster_size=512,refcount_bits=1 "write -P 0x51 0 1k"
mk rc64.qcow2 64k cluster_size=512,refcount_bits=64,lazy_refcounts=on \
  "write -P 0x52 1k 1k"
mk big.qcow2 1m "" "write -P 0x61 0 64k" "write -c -P 0x62 128k 64k"
mk empty.qcow2 1m cluster_size=512
cp ./*.qcow2 "$out/qcow2/"

# --- backing pairs.
pair() {  # NAME: a.qcow2 and b.qcow2 of the current folder
  python3 -c 'import sys; sys.stdout.buffer.write(open("a.qcow2","rb").read() + b"==e2q-split==" + open("b.qcow2","rb").read())' \
    > "$out/backing/$1"
}
rm -f a.qcow2 b.qcow2
mk b.qcow2 64k cluster_size=512 "write -P 0x71 0 8k" "write -c -P 0x72 16k 512"
qemu-img create -q -f qcow2 -o cluster_size=512 -b b.qcow2 -F qcow2 a.qcow2 64k
qio -c "write -P 0x73 4k 1k" -c "write -z 6k 512" a.qcow2
qemu-img snapshot -c s a.qcow2
pair qcow2-over-qcow2
# No backing format extension (its type renamed to an unknown one, which
# readers skip): the backing file's format is probed.
python3 -c '
d = bytearray(open("a.qcow2", "rb").read())
i = d.find(bytes.fromhex("e2792aca"))
d[i:i + 4] = bytes.fromhex("e2792acb")
open("a.qcow2", "wb").write(d)'
pair probed-format
head -c 20000 /dev/zero | tr '\0' 'r' > b.qcow2
qemu-img create -q -f qcow2 -o cluster_size=512 -b b.qcow2 -F raw a.qcow2 64k
qio -c "write -P 0x74 1k 1k" a.qcow2
pair qcow2-over-raw
mk a.qcow2 64k cluster_size=512 "write -P 0x75 0 1k"
qemu-img rebase -u -b a.qcow2 -F qcow2 a.qcow2
pair self-loop
mk a.qcow2 64k cluster_size=512 "write -P 0x76 0 1k"
mk b.qcow2 64k cluster_size=512 "write -P 0x77 1k 1k"
qemu-img rebase -u -b b.qcow2 -F qcow2 a.qcow2
qemu-img rebase -u -b a.qcow2 -F qcow2 b.qcow2
pair two-loop

# --- filesystems.
mkdir -p tree/dir tree/htree
for i in $(seq 1 6); do echo "file $i" > "tree/dir/f$i"; done
for i in $(seq 1 60); do : > "tree/htree/a-rather-long-file-name-number-$i"; done
python3 - <<'PY'
# A fragmented file: 8 islands, an extent tree deeper than the inode.
with open('tree/frag', 'wb') as f:
    for i in range(8):
        f.seek(i * 3072)
        f.write(bytes([65 + i]) * 1024)
PY
ln -s "$(printf 'x%.0s' $(seq 1 100))" tree/slowlink
ln -s short tree/fastlink
mkfs() {  # NAME SIZE OPTIONS...
  local name=$1 size=$2; shift 2
  rm -f "$name"; truncate -s "$size" "$name"
  mke2fs -q -F -U 6a1f5b8e-52d4-4c1e-9a0b-2f2d3e4c5b6a "$@" -d tree "$name" >/dev/null
  e2fsck -fyD "$name" >/dev/null 2>&1 || true  # index the big directory
  cp "$name" "$out/ext4/"
}
mkfs ext2.img 256k -t ext2 -b 1024 -N 128
mkfs ext4.img 256k -t ext4 -b 1024 -N 128 -O ^has_journal,^metadata_csum,^64bit,uninit_bg
mkfs ext4-csum64.img 384k -t ext4 -b 1024 -N 128 -O ^has_journal,64bit,metadata_csum -g 256
mkfs inline.img 256k -t ext4 -b 1024 -I 256 -N 128 -O ^has_journal,inline_data
mkfs ext3.img 3m -t ext3 -b 1024 -N 128 -J size=1
mkfs bigalloc.img 512k -t ext4 -b 1024 -C 4096 -N 128 -O ^has_journal,bigalloc
mkfs block4k.img 512k -t ext4 -b 4096 -N 128 -O ^has_journal
mkfs metabg.img 384k -t ext4 -b 1024 -N 128 -O ^has_journal,^resize_inode,meta_bg -g 256
echo "seeds: $(ls "$out/qcow2" | wc -l) qcow2, $(ls "$out/backing" | wc -l) backing, $(ls "$out/ext4" | wc -l) ext4 in $out"
