# shellcheck shell=bash
# xz_extents.sh: the size of xz -6 over a sparse file's data extents,
# sourced by bench.sh and scale.sh.

# xz_extents RAW: the bytes of xz -6 -T1 over RAW's data extents,
# its holes left out: xz would turn them into next to nothing, but reading
# terabytes of holes takes hours.
xz_extents() {
  python3 - "$1" <<'PY' | xz -6 -T1 | wc -c
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
end = os.fstat(fd).st_size
off = 0
out = sys.stdout.buffer
while off < end:
    try:
        data = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    hole = os.lseek(fd, data, os.SEEK_HOLE)
    while data < hole:
        n = min(hole - data, 1 << 20)
        out.write(os.pread(fd, n, data))
        data += n
    off = hole
PY
}
