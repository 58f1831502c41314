"""Reads the data extents of a sparse file, holes left out (SEEK_DATA and
SEEK_HOLE), for bench.sh and scale.sh.

  extents.py warm FILE   read them once and discard them (fills the page
                         cache without the zero pages of the holes)
  extents.py cat FILE    copy them to standard output, one after the other
"""
import os
import sys


def main():
    mode, path = sys.argv[1], sys.argv[2]
    out = sys.stdout.buffer if mode == "cat" else None
    fd = os.open(path, os.O_RDONLY)
    end = os.fstat(fd).st_size
    off = 0
    while off < end:
        try:
            data = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break
        hole = os.lseek(fd, data, os.SEEK_HOLE)
        pos = data
        while pos < hole:
            chunk = os.pread(fd, min(8 << 20, hole - pos), pos)
            if not chunk:
                break
            if out is not None:
                out.write(chunk)
            pos += len(chunk)
        off = hole
    os.close(fd)


if __name__ == "__main__":
    main()
