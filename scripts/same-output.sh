#!/bin/bash
# same-output.sh OLD NEW NEXT3GEN [WORKDIR]: runs two builds of e2qimage
# (OLD and NEW, paths to the binaries) over the same inputs -- the export
# matrix, compression, scrambling, incremental exports, the next3 exports
# (-x, -x ID1..ID2, -X) and rollback undo files -- and compares every
# output byte for byte (cmp).  For refactorings that must not change
# output: prints one line per output and exits 1 if any differs.
set -u
old=$(readlink -f "$1") new=$(readlink -f "$2") gen=$(readlink -f "$3")
top=$(cd "$(dirname "$0")/.." && pwd)
work=${4:-$(mktemp -d "${TMPDIR:-/tmp}/same-output.XXXXXX")}
mkdir -p "$work" && cd "$work" || exit 2
export SOURCE_DATE_EPOCH=1700000000 E2FSPROGS_FAKE_TIME=1700000000
export MKE2FS_CONFIG=$top/tests/func/mke2fs.conf
bad=0 n=0

# Source filesystems: ext4 with files, ext2 with 1 KiB blocks, next3.
rm -rf tree && mkdir -p tree/d/e
for i in $(seq 1 60); do head -c $((i * 1531)) /dev/urandom > tree/d/f$i; done
seq 1 20000 > tree/d/e/text
ln -s d/e/text tree/link
mke2fs -q -F -t ext4 -U 11111111-2222-3333-4444-555555555555 \
  -E hash_seed=11111111-2222-3333-4444-555555555555 -L src \
  -d tree ext4.img 64M
mke2fs -q -F -t ext2 -b 1024 -U 21111111-2222-3333-4444-555555555555 \
  -E hash_seed=21111111-2222-3333-4444-555555555555 -d tree ext2.img 16M
"$gen" --seed=11 --scenario=busy next3.img exp >/dev/null
"$gen" --seed=5 --scenario=busy --exclude=both next3b.img expb >/dev/null
ids=$(awk '$3 == "active" || $3 == "frozen" { print $1 }' exp/list.txt)

# run NAME ARGS...: runs OLD and NEW with ARGS (OUT in them stands for the
# output path), compares exit status, stdout, stderr and the output.
run() {
  local name=$1; shift
  local a=() b=() x
  for x in "$@"; do
    a+=("${x//OUT/old.$name}"); b+=("${x//OUT/new.$name}")
  done
  rm -f "old.$name" "new.$name"
  local ra=0 rb=0
  "$old" "${a[@]}" > old.out 2> old.err || ra=$?
  "$new" "${b[@]}" > new.out 2> new.err || rb=$?
  sed -i "s/old\.$name/OUT/g" old.out old.err
  sed -i "s/new\.$name/OUT/g" new.out new.err
  n=$((n + 1))
  if [ $ra -ne $rb ]; then
    echo "DIFF $name: exit $ra vs $rb"; bad=1
  elif ! cmp -s old.out new.out || ! cmp -s old.err new.err; then
    echo "DIFF $name: messages: $(diff old.err new.err | head -3)"; bad=1
  elif [ -e "old.$name" ] && ! cmp -s "old.$name" "new.$name"; then
    echo "DIFF $name: output: $(cmp "old.$name" "new.$name" 2>&1 | head -1)"; bad=1
  else
    echo "same $name (exit $ra, $(stat -c %s "old.$name" 2>/dev/null || echo -) bytes)"
  fi
}

for fs in ext4 ext2; do
  for m in -r -Q -ra -Qa; do
    run "$fs$m" $m $fs.img OUT
  done
  run "$fs-Qz" -Qz $fs.img OUT
  run "$fs-Qaz" -Qaz $fs.img OUT
  run "$fs-Qaz1" -Qa -z1 $fs.img OUT
  run "$fs-zstd" -Qa --compress=zstd $fs.img OUT
  run "$fs-Qs" -Q -s $fs.img OUT
  run "$fs-rs" -r -s $fs.img OUT
  run "$fs-v2" -Qa --compat=0.10 $fs.img OUT
  run "$fs-v2z" -Qaz --compat=0.10 $fs.img OUT
  for cs in 512 1024 4096 65536 2097152; do
    run "$fs-c$cs" -Qa --cluster-size=$cs $fs.img OUT
  done
  run "$fs-1t" -Qaz --threads=1 $fs.img OUT
done
# Conversions of qcow2 back to raw and qcow2.
"$old" -Qa ext4.img base.qcow2
run conv-raw -r base.qcow2 OUT
run conv-qcow2 -Q base.qcow2 OUT
run conv-qcow2z -Qz base.qcow2 OUT
# Incremental: change the filesystem, export against the base.
cp ext4.img ext4b.img
debugfs -w -R "rm /d/f3" ext4b.img >/dev/null 2>&1
run inc -Qa --backing=base.qcow2 ext4b.img OUT
run incz -Qaz --backing=base.qcow2 ext4b.img OUT
# next3: every snapshot, ranges, -X, listing, rollback undo files.
run list -L next3.img
for id in $ids; do
  run "x$id-ra" -x $id -ra next3.img OUT
  run "x$id-Q" -x $id -Q next3.img OUT
  run "x$id-Qa" -x $id -Qa next3.img OUT
done
first=$(echo "$ids" | tail -1)
"$old" -x "$first" -Qa next3.img snapbase.qcow2
run xrange -x "$first..live" -Qa --backing=snapbase.qcow2 next3.img OUT
run X -Q -X next3.img OUT
run Xa -Q -X -a next3.img OUT
run Xaz -Q -X -az next3.img OUT
run Xs -Q -X -s next3.img OUT
run Xb -Q -X next3b.img OUT
for id in $ids; do
  cp next3.img dev.old; cp next3.img dev.new
  rm -f old.undo new.undo
  ra=0 rb=0
  "$old" -R "$id" dev.old old.undo > old.out 2>&1 || ra=$?
  "$new" -R "$id" dev.new new.undo > new.out 2>&1 || rb=$?
  sed -i 's/dev\.old/DEV/g;s/old\.undo/UNDO/g' old.out
  sed -i 's/dev\.new/DEV/g;s/new\.undo/UNDO/g' new.out
  n=$((n + 1))
  if [ $ra -ne $rb ] || ! cmp -s old.out new.out || ! cmp -s dev.old dev.new ||
     ! cmp -s old.undo new.undo; then
    echo "DIFF R$id: exit $ra/$rb $(diff old.out new.out | head -2)"; bad=1
  else
    echo "same R$id (exit $ra, device and undo file)"
  fi
done
echo "$n outputs compared, $([ $bad -eq 0 ] && echo all identical || echo SOME DIFFER)"
exit $bad
