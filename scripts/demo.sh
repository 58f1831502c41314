#!/bin/sh
# Sets everything up, builds e2qimage, makes a small sample ext4 filesystem
# and exports it as a metadata qcow2 image and a full compressed qcow2
# image, then shows what qemu-img thinks of them and what `e2qimage --info`
# and `--verify` say.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
"$top/scripts/build.sh"
bin=${E2Q_BUILD:-$top/_build}/e2qimage/e2qimage
out=$top/sample
mkdir -p "$out/tree/etc" "$out/tree/docs" "$out/tree/bin"
cp -r /etc/apt "$out/tree/etc/" 2>/dev/null || true
cp /usr/share/common-licenses/GPL-2 "$out/tree/docs/" 2>/dev/null || true
cp /bin/ls /bin/cat "$out/tree/bin/"
ln -sf ../docs/GPL-2 "$out/tree/bin/license"
export E2FSPROGS_FAKE_TIME=1700000000 MKE2FS_CONFIG="$top/tests/func/mke2fs.conf"
rm -f "$out/sample.ext4"
truncate -s 64M "$out/sample.ext4"
/sbin/mke2fs -q -F -t ext4 -U 6a1f5b8e-52d4-4c1e-9a0b-2f2d3e4c5b6a \
  -E hash_seed=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 \
  -d "$out/tree" "$out/sample.ext4"
set -x
"$bin" -Q "$out/sample.ext4" "$out/sample-meta.qcow2"
"$bin" -Qaz -p "$out/sample.ext4" "$out/sample-full.qcow2"
qemu-img info "$out/sample-meta.qcow2"
qemu-img check "$out/sample-meta.qcow2"
qemu-img check "$out/sample-full.qcow2"
# What e2qimage recorded in the image, and the recorded digest recomputed.
"$bin" --info "$out/sample-full.qcow2"
"$bin" --verify "$out/sample-full.qcow2"
"$bin" --verify "$out/sample-meta.qcow2"
/sbin/e2fsck -fn "$out/sample.ext4" >/dev/null
qemu-img convert -O raw "$out/sample-meta.qcow2" "$out/meta.raw"
/sbin/e2fsck -fn "$out/meta.raw"
# The full image holds what e2image -ra copies (backup superblocks aside,
# every block in use), so that is what it is compared with.
/sbin/e2image -ra "$out/sample.ext4" "$out/e2image-full.raw"
qemu-img compare "$out/e2image-full.raw" "$out/sample-full.qcow2"
ls -ls "$out"/*.qcow2 "$out/sample.ext4"
