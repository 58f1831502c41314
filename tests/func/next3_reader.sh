# Helpers for the reader's next3 functional tests (sourced after common.sh
# and next3_common.sh, which has NEXT3GEN and `manifest IMAGE`): running
# the generator, and the block comparison of an export against the
# generator's expected image.

# gen ARGS...: runs next3gen; a failure of the generator fails the test.
gen() {
  local out
  if ! out=$("$NEXT3GEN" "$@" 2>&1); then
    fail "next3gen $*: $out"
    finish
  fi
}

# unlinked_snapshot_inodes EXPECT-DIR: the inodes of snapshot files that
# may be on an image's list without a link (listed as "-", or no longer
# exportable): the normalisation releases them.
unlinked_snapshot_inodes() {
  { awk '$4 == "-" { print $2 }' "$1/list.txt"
    awk '$3 != "active" && $3 != "frozen" { print $2 }' "$1/snapshots.txt"
  } | sort -un | tr '\n' ' '
}

# tree_of MANIFEST-FILE: the manifest without file contents ("f PATH").
tree_of() { sed -E 's/^f [0-9a-f]{64} /f /' "$1"; }

# used_ranges IMAGE [INODE...]: "START COUNT" for every run of blocks in
# use in IMAGE's block bitmaps (from dumpe2fs), minus the blocks the -x
# normalisation may change: block 0, the primary group descriptors, every
# block and inode bitmap, and the inode-table blocks holding inode 9 and
# the INODEs (unlinked snapshot files, released); and minus the backup
# superblocks and descriptors, which a full export leaves out as e2image
# -ra does.
used_ranges() {
  local img=$1; shift
  dumpe2fs "$img" 2>/dev/null | awk -v released="$*" '
    /^Block size:/ { bs = $3 }
    /^Inode size:/ { isz = $3 }
    /^Inodes per group:/ { ipg = $4 }
    /^Group [0-9]+:/ {
      g = $2; sub(":", "", g)
      r = $0; sub(/.*\(Blocks /, "", r); sub(/\).*/, "", r)
      split(r, a, "-"); first[g] = a[1]; last[g] = a[2]; ngroups = g + 1
    }
    /superblock at [0-9]+/ {
      r = $0; sub(/.*superblock at /, "", r); sub(/[^0-9].*/, "", r)
      skip[r] = 1
    }
    /Group descriptors at/ {
      r = $0; sub(/.*Group descriptors at /, "", r); sub(/[^0-9-].*/, "", r)
      split(r, a, "-"); for (b = a[1]; b <= a[2]; b++) skip[b] = 1
    }
    /^  Block bitmap at/ { b = $4; skip[b] = 1 }
    /^  Inode bitmap at/ { b = $4; skip[b] = 1 }
    /^  Inode table at/ {
      r = $4; split(r, a, "-"); itable[g] = a[1]
    }
    /^  Free blocks:/ {
      s = $0; sub(/^  Free blocks: */, "", s); free[g] = s
    }
    END {
      skip[0] = 1
      n = split("9 " released, inos, " ")
      for (i = 1; i <= n; i++) {
        ino = inos[i] - 1
        skip[itable[int(ino / ipg)] + int((ino % ipg) * isz / bs)] = 1
      }
      for (g = 0; g < ngroups; g++) {
        delete isfree
        n = split(free[g], parts, ", *")
        for (i = 1; i <= n; i++) {
          if (parts[i] == "") continue
          m = split(parts[i], a, "-")
          lo = a[1]; hi = (m == 2) ? a[2] : a[1]
          for (b = lo; b <= hi; b++) isfree[b] = 1
        }
        start = -1
        for (b = first[g]; b <= last[g] + 1; b++) {
          use = (b <= last[g]) && !(b in isfree) && !(b in skip)
          if (use && start < 0) start = b
          if (!use && start >= 0) { print start, b - start; start = -1 }
        }
      }
    }'
}

# same_used_blocks OUT EXPECTED [INODE...]: every block in use in OUT (a
# raw image), apart from the normalised ones, equals the same block of
# EXPECTED.
same_used_blocks() {
  local out=$1 want=$2 bs=4096 start count bad=0 ranges
  shift 2
  ranges=$(used_ranges "$out" "$@")
  if [ -z "$ranges" ]; then
    fail "$out: no blocks in use found (dumpe2fs failed?)"
    return 1
  fi
  while read -r start count; do
    if ! cmp -s -n $((count * bs)) -i $((start * bs)):$((start * bs)) \
        "$out" "$want"; then
      local b
      b=$(cmp -n $((count * bs)) -i $((start * bs)):$((start * bs)) \
            "$out" "$want" 2>&1 | awk '/differ/ { print int(($5 - 1) / 4096) }')
      fail "$out: blocks $start+$count differ from $want (first at block +$b of the run)"
      bad=$((bad + 1))
      [ "$bad" -ge 5 ] && break
    fi
  done <<< "$ranges"
  [ "$bad" -eq 0 ]
}
