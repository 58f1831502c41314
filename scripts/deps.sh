#!/bin/sh
# Installs the Debian 12 packages e2qimage needs to build and test.
# Run as root (or through sudo).  Safe to run again.  clang and
# libclang-rt-14-dev (libFuzzer) are only for ./configure --enable-fuzzers.
set -e
PACKAGES="libext2fs-dev comerr-dev zlib1g-dev libdeflate-dev libgtest-dev
  e2fsprogs qemu-utils autoconf automake libtool pkg-config g++ make bzip2
  gzip python3 groff-base strace fdisk time libzstd-dev libxxhash-dev clang libclang-rt-14-dev"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
