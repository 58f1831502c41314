#!/bin/bash
# check-layers.sh [SRCDIR]: holds the tree to its layering (doc/design.md).
# Each folder may include, of the project's headers, only those of the
# folders listed for it here; lib/ never includes snapshot/ or e2qimage/.
# Also: no two sources of the product share a file name.  Prints one line
# per violation and exits 1 if there is any.
set -u
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 2

# folder: the folders (besides itself) whose headers it may include
allowed() {
  case $1 in
    lib/base) echo "" ;;
    lib/io) echo "lib/base" ;;
    lib/qcow2 | lib/ext4) echo "lib/base lib/io" ;;
    lib/scramble) echo "lib/base lib/io lib/ext4" ;;
    lib/image) echo "lib/base lib/io lib/qcow2 lib/ext4 lib/scramble" ;;
    snapshot) echo "lib/base lib/io lib/qcow2 lib/ext4 lib/scramble lib/image" ;;
    e2qimage) echo "lib/base lib/io lib/qcow2 lib/ext4 lib/scramble lib/image snapshot" ;;
    *) return 1 ;;
  esac
}

bad=0
for dir in lib/base lib/io lib/qcow2 lib/ext4 lib/scramble lib/image \
           snapshot e2qimage; do
  [ -d "$dir" ] || { echo "$dir: folder missing"; bad=1; continue; }
  ok=" $dir $(allowed "$dir") "
  for f in "$dir"/*.h "$dir"/*.cc; do
    [ -e "$f" ] || continue
    # Project headers are included by a path with a folder: "lib/io/file.h".
    while IFS=: read -r line inc; do
      [ -n "$inc" ] || continue
      case $inc in */*) ;; *) continue ;; esac  # "config.h"
      from=${inc%/*}
      case "$ok" in
        *" $from "*) ;;
        *) echo "$f:$line: includes $inc ($dir may include only:$(allowed "$dir" | sed 's/^/ /;s/^ $/ nothing else/'))"
           bad=1 ;;
      esac
    done < <(grep -n '^#include "' "$f" |
             sed 's/^\([0-9]*\):#include "\([^"]*\)".*/\1:\2/')
  done
done
for d in lib/*/; do
  d=${d%/}
  allowed "$d" > /dev/null || { echo "$d: folder without layering rule"; bad=1; }
done

dups=$(find lib snapshot e2qimage -name '*.cc' -o -name '*.h' |
       sed 's#.*/##' | sort | uniq -d)
for n in $dups; do
  echo "file name $n is used more than once: $(find lib snapshot e2qimage -name "$n" | tr '\n' ' ')"
  bad=1
done
exit $bad
