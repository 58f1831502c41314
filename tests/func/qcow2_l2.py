#!/usr/bin/env python3
# qcow2_l2.py IMAGE: one line per allocated L2 entry of the active layer,
# decoded here independently of e2qimage (qemu's docs/interop/qcow2.rst):
#   data GUEST_INDEX HOST_OFFSET LENGTH        (a normal cluster)
#   compressed GUEST_INDEX HOST_OFFSET LENGTH  (LENGTH: to the end of the
#                                               last 512-byte sector used)
#   zero GUEST_INDEX
# Only standard (64-bit) L2 entries; used by functional tests.
import struct
import sys

with open(sys.argv[1], 'rb') as f:
    img = f.read()
(magic, version, _bo, _bs, cbits, size, _crypt, l1_size, l1_off) = \
    struct.unpack('>IIQIIQIIQ', img[:48])
assert magic == 0x514649fb, 'not qcow2'
cs = 1 << cbits
per = cs // 8
shift = 62 - (cbits - 8)
for i in range(l1_size):
    (l1e,) = struct.unpack('>Q', img[l1_off + 8 * i:l1_off + 8 * i + 8])
    l2 = l1e & 0x00fffffffffffe00
    if not l2:
        continue
    for j in range(per):
        (e,) = struct.unpack('>Q', img[l2 + 8 * j:l2 + 8 * j + 8])
        g = i * per + j
        if e & (1 << 62):
            off = e & ((1 << shift) - 1)
            nsec = ((e >> shift) & ((1 << (cbits - 8)) - 1)) + 1
            print('compressed', g, off, nsec * 512 - (off & 511))
        elif e & 1:
            print('zero', g)
        elif e & 0x00fffffffffffe00:
            print('data', g, e & 0x00fffffffffffe00, cs)
