# shellcheck shell=bash
# xz_extents.sh: the size of xz -6 over a sparse file's data extents
# (bench/extents.py), sourced by bench.sh and scale.sh.

# xz_extents RAW: the bytes of xz -6 -T1 over RAW's data extents,
# its holes left out: xz would turn them into next to nothing, but reading
# terabytes of holes takes hours.
xz_extents() {
  python3 "$(dirname "${BASH_SOURCE[0]}")/extents.py" cat "$1" | xz -6 -T1 | wc -c
}
