# Helpers for next3 tests (sourced after common.sh): the generator's
# location and `manifest IMAGE`, the tree of an ext2/3 image read with
# debugfs, in the format of the generator's *.manifest files:
#   d PATH | f DIGEST PATH | l TARGET PATH, sorted by path (LC_ALL=C)
# DIGEST = sha256 of "size S\n" and, for every maximal run of consecutive
# mapped logical blocks, "L N\n" followed by those N whole blocks as stored
# (so multi-GiB sparse files cost only their mapped blocks).  Regular files
# with the SNAPFILE flag (live snapshot files) are left out; in snapshot
# images those inodes are already plain empty files.

: "${NEXT3GEN:=${E2Q_BUILDDIR:-.}/tests/tools/next3gen/next3gen}"

# _mf_digest IMAGE INO
_mf_digest() {
  local img=$1 st size op a b
  st=$(debugfs -R "stat <$2>" "$img" 2>/dev/null)
  size=$(printf '%s\n' "$st" | sed -n 's/^User:.*Size: \([0-9]*\).*/\1/p')
  {
    printf 'size %s\n' "$size"
    printf '%s\n' "$st" | awk '/^BLOCKS:/ { on = 1; next } /^TOTAL/ { on = 0 }
                                on { print }' | tr ',' '\n' |
      sed -n 's/^ *(\([0-9-]*\)):\([0-9-]*\) *$/\1 \2/p' |
      awk '
        function flush() { if (n) { print "H", start, n; for (i = 0; i < k; i++) print piece[i]; } n = 0; k = 0 }
        {
          split($1, l, "-"); split($2, p, "-");
          lo = l[1]; hi = (2 in l) ? l[2] : l[1];
          cnt = hi - lo + 1;
          if (n && lo != start + n) flush();
          if (!n) start = lo;
          piece[k++] = "D " p[1] " " cnt; n += cnt
        }
        END { flush() }' |
      while read -r op a b; do
        if [ "$op" = H ]; then printf '%s %s\n' "$a" "$b"
        else dd if="$img" bs=4096 skip="$a" count="$b" status=none; fi
      done
  } | sha256sum | cut -d' ' -f1
}

# _mf_walk IMAGE INO PATH: "PATH<TAB>LINE" for everything below the directory.
_mf_walk() {
  local img=$1 dir=$2 path=$3 ino mode name p st flags
  debugfs -R "ls -p <$dir>" "$img" 2>/dev/null |
    awk -F/ 'NF >= 7 && $2 != 0 && $6 != "." && $6 != ".." { print $2, $3, $6 }' |
    while read -r ino mode name; do
      p=${path%/}/$name
      mode=${mode#0}
      case $mode in
        40*)
          printf '%s\td %s\n' "$p" "$p"
          _mf_walk "$img" "$ino" "$p" ;;
        120*)
          st=$(debugfs -R "stat <$ino>" "$img" 2>/dev/null)
          if printf '%s\n' "$st" | grep -q '^Fast link dest:'; then
            t=$(printf '%s\n' "$st" | sed -n 's/^Fast link dest: "\(.*\)"$/\1/p')
          else
            t=$(debugfs -R "cat <$ino>" "$img" 2>/dev/null)
          fi
          printf '%s\tl %s %s\n' "$p" "$t" "$p" ;;
        100*)
          flags=$(debugfs -R "stat <$ino>" "$img" 2>/dev/null |
                  sed -n 's/.*Flags: \(0x[0-9a-f]*\).*/\1/p')
          if [ $(( ${flags:-0} & 0x1000000 )) -ne 0 ]; then continue; fi
          printf '%s\tf %s %s\n' "$p" "$(_mf_digest "$img" "$ino")" "$p" ;;
        *)
          printf '%s\t? %s %s\n' "$p" "$mode" "$p" ;;
      esac
    done
}

# manifest IMAGE: the manifest of an ext2/ext3 image (see above).
manifest() {
  { printf '/\td /\n'; _mf_walk "$1" 2 /; } | sort -t "$(printf '\t')" -k1,1 |
    cut -f2-
}

# strip_next3_features IMAGE: clears COMPAT exclude_inode (0x80) and
# RO_COMPAT has_snapshot (0x80) in the primary superblock, so that stock
# e2fsck 1.47 agrees to look at a next3 image (it refuses both bits).
_le32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
_put_le32() {
  printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($3 & 255)) $((($3 >> 8) & 255)) \
    $((($3 >> 16) & 255)) $((($3 >> 24) & 255)))" |
    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
strip_next3_features() {
  local c r
  c=$(_le32 "$1" 1116); _put_le32 "$1" 1116 $((c & ~0x80))
  r=$(_le32 "$1" 1124); _put_le32 "$1" 1124 $((r & ~0x80))
}

# next3_fsck IMAGE: e2fsck -fn problems on a stripped copy of IMAGE, minus
# the ones next3 images have by design for stock e2fsck 1.47:
#  - "Reserved inode 9 ... has invalid mode" (the exclude inode; stock
#    e2fsck wants reserved inodes 9/10 to have mode 0),
#  - "Free blocks count wrong for group" + its "Fix? no" (snapshot images:
#    group counts are not adjusted at take, next3-format.md 4.1.6).
# Prints the remaining problem lines (empty = clean).
next3_fsck() {
  local copy=$1.fsck-copy
  cp --sparse=always "$1" "$copy"
  strip_next3_features "$copy"
  e2fsck -fn "$copy" 2>&1 |
    sed -e '/^e2fsck [0-9]/d' -e '/^Pass [1-5]/d' -e '/^$/d' \
        -e '/Reserved inode 9 .* has invalid mode.  Clear? no/d' \
        -e '/^Free blocks count wrong for group #[0-9]* (.*)\.$/{N;/Fix? no/d;}' \
        -e '/WARNING: Filesystem still has errors/d' \
        -e '/files .* non-contiguous/d'
  rm -f "$copy"
}
