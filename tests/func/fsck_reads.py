#!/usr/bin/env python3
# fsck_reads.py TRACE IMAGE DEVICE: compares what a program read from IMAGE
# (the pread64 calls of `strace -y -e trace=pread64 -o TRACE`) with the same
# bytes of DEVICE.  Prints "N reads" and exits 0 when every byte read equals
# the device's; else prints the first differing 1 KiB units and exits 1;
# exits 2 when the trace shows no read of IMAGE at all.  Used by
# func/corpus: the bytes e2fsck reads, not only what it prints, must be the
# device's.
import os
import re
import sys

trace, image, device = sys.argv[1:4]
image_path = os.path.realpath(image)
call = re.compile(r'pread64\(\d+<([^>]*)>, .*, (\d+), (\d+)\) = (\d+)$')
reads = []
with open(trace, errors='replace') as f:
    for line in f:
        m = call.search(line.rstrip('\n'))
        if m and os.path.realpath(m.group(1)) == image_path:
            got = int(m.group(4))
            if got:
                reads.append((int(m.group(3)), got))
if not reads:
    print('no read of', image, 'in', trace)
    sys.exit(2)
# Each range once: e2fsck rereads the same blocks many times.
merged = []
for off, n in sorted(reads):
    if merged and off <= merged[-1][1]:
        merged[-1][1] = max(merged[-1][1], off + n)
    else:
        merged.append([off, off + n])
bad = []
with open(image, 'rb') as img, open(device, 'rb') as dev:
    for start, end in merged:
        img.seek(start)
        dev.seek(start)
        a = img.read(end - start)
        b = dev.read(end - start)
        for k in range(0, max(len(a), len(b)), 1024):
            if a[k:k + 1024] != b[k:k + 1024]:
                bad.append((start + k) // 1024)
print(len(reads), 'reads')
if bad:
    print('differ from the device at 1 KiB units', bad[:20],
          '...' if len(bad) > 20 else '')
    sys.exit(1)
