#!/bin/sh
# Configures and builds e2qimage out of tree in ./_build (or $E2Q_BUILD).
# Extra arguments go to configure (e.g. --enable-sanitizers).
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${E2Q_BUILD:-$top/_build}
cd "$top"
[ -x configure ] || autoreconf -fi >/dev/null
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ] || [ "$#" -gt 0 ]; then
  "$top/configure" -q "$@"
fi
make -j"$(nproc)" >/dev/null
echo "built: $build/e2qimage/e2qimage"
