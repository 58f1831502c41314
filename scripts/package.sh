#!/bin/sh
# Builds the Debian package (debian/) and checks it: installs the
# packaging tools and build dependencies, runs `dpkg-buildpackage -us -uc
# -b` in a temporary copy of the tree (the checkout is left as it was),
# runs lintian (any error fails), installs the .deb with dpkg -i and checks
# /usr/sbin/e2qimage --version, `dpkg -L`, the manual page (man -l) and the
# bash completion.  A package this script installed is removed again at the
# end (E2Q_PACKAGE_KEEP=1 keeps it); without root it is unpacked with
# dpkg-deb -x into a temporary root instead.  The packages are left in
# $E2Q_PACKAGE_DIR (default: a new folder under ${TMPDIR:-/tmp}), whose
# path the last line prints.  Run on Debian 12, as root (or with sudo).
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

"$top/scripts/deps.sh"
tools=""
for p in dpkg-dev debhelper lintian fakeroot man-db binutils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    tools="$tools $p"
done
if [ -n "$tools" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    --no-install-recommends $tools
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/e2qimage-package.XXXXXX")
out=${E2Q_PACKAGE_DIR:-$work}
mkdir -p "$out"
version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
src=$work/e2qimage-$version
mkdir "$src"

# The copy: what git tracks plus new files it does not ignore (no build
# trees), or, outside a git checkout (a release tarball), everything but
# build trees.
in_git=no
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  in_git=yes
  status_before=$(git -C "$top" status --porcelain)
  (cd "$top" && git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read -T - -cf -) | tar -C "$src" -xf -
else
  (cd "$top" && tar --exclude='./_build*' --exclude=./sample -cf - .) |
    tar -C "$src" -xf -
fi

echo "=== dpkg-buildpackage -us -uc -b in $src"
(cd "$src" && dpkg-checkbuilddeps)
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1; then
  tail -60 "$work/build.log"
  echo "dpkg-buildpackage failed (log: $work/build.log)"
  exit 1
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$work/e2qimage_${version}_$arch.deb
changes=$work/e2qimage_${version}_$arch.changes
[ -f "$deb" ] || { echo "no $deb"; ls "$work"; exit 1; }
rm -rf "$src"

echo "=== lintian"
lintian_root=""
[ "$(id -u)" -ne 0 ] || lintian_root=--allow-root
lintian $lintian_root --fail-on error "$changes"
echo "lintian: no errors"

echo "=== dpkg -c"
dpkg-deb -c "$deb"
root=""
installed=no
if [ -z "$SUDO" ]; then
  dpkg-query -W -f='${Status}' e2qimage 2>/dev/null | grep -q "ok installed" &&
    installed=yes
  dpkg -i "$deb"
  files=$(dpkg -L e2qimage)
else
  root=$work/root
  dpkg-deb -x "$deb" "$root"
  files=$(cd "$root" && find . ! -type d | sed 's/^\.//')
fi

fails=0
check() {  # DESCRIPTION COMMAND...: runs COMMAND, reports.
  what=$1; shift
  if "$@" >/dev/null 2>&1; then echo "ok: $what"; else
    echo "FAIL: $what"; fails=$((fails + 1)); fi
}
bin=$root/usr/sbin/e2qimage
page=$root/usr/share/man/man8/e2qimage.8.gz
completion=$root/usr/share/bash-completion/completions/e2qimage
for f in /usr/sbin/e2qimage /usr/share/man/man8/e2qimage.8.gz \
    /usr/share/bash-completion/completions/e2qimage \
    /usr/share/doc/e2qimage/copyright /usr/share/doc/e2qimage/changelog.gz; do
  check "the package has $f" sh -c 'printf "%s\n" "$1" | grep -qx "$2"' - "$files" "$f"
done
upstream=${version%%-*}
check "$bin --version prints e2qimage $upstream" \
  sh -c '[ "$("$1" --version)" = "e2qimage $2" ]' - "$bin" "$upstream"
check "$bin --help exits 0" "$bin" --help
check "$bin is stripped" sh -c '! readelf -S "$1" | grep -q "\.symtab"' - "$bin"
check "man -l $page renders the NAME section" sh -c \
  'MANPAGER=cat MANWIDTH=80 man -l "$1" 2>/dev/null | grep -q "^NAME"' - "$page"
check "the installed completion completes --comp for $bin" bash -c \
  '. "$1"; COMP_LINE="e2qimage --comp"; COMP_POINT=${#COMP_LINE};
   _e2qimage "$2"; [[ " ${COMPREPLY[*]} " == *" --compress= "* ]]' \
  - "$completion" "$bin"
if [ "$in_git" = yes ]; then
  check "the checkout is unchanged" \
    sh -c '[ "$(git -C "$1" status --porcelain)" = "$2" ]' - "$top" "$status_before"
fi

if [ -z "$root" ] && [ "$installed" = no ] && [ "${E2Q_PACKAGE_KEEP:-0}" != 1 ]; then
  dpkg -r e2qimage >/dev/null
  echo "removed the package again (E2Q_PACKAGE_KEEP=1 keeps it)"
fi
if [ "$out" != "$work" ]; then
  cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out"/
fi
rm -rf "$root"
[ "$fails" -eq 0 ] || { echo "$fails package check(s) failed"; exit 1; }
echo "package: $out/$(basename "$deb")"
