#!/usr/bin/env python3
# qcow2_shared.py IMAGE: the shared host clusters and L2 tables of IMAGE's
# active layer, decoded here independently of e2qimage (qemu's
# docs/interop/qcow2.rst): one line per shared object,
#   data|compressed|table GUEST_BYTE_OFFSET...
# (the guest offsets that reach it; for a table, the first byte of each
# range it maps).  Used by functional tests.
import struct, sys, collections
img = open(sys.argv[1], 'rb').read()
(magic, version, _bo, _bs, cbits, size, _c, l1_size, l1_off) = \
    struct.unpack('>IIQIIQIIQ', img[:48])
cs = 1 << cbits; per = cs // 8; shift = 62 - (cbits - 8)
tables = collections.defaultdict(list); hosts = collections.defaultdict(list)
for i in range(l1_size):
    (e,) = struct.unpack('>Q', img[l1_off + 8 * i:l1_off + 8 * i + 8])
    t = e & 0x00fffffffffffe00
    if not t:
        continue
    tables[t].append(i * per * cs)
    if len(tables[t]) > 1:
        continue
    for j in range(per):
        (x,) = struct.unpack('>Q', img[t + 8 * j:t + 8 * j + 8])
        if x & (1 << 62):
            hosts[('compressed', x & ((1 << shift) - 1))].append((i * per + j) * cs)
        elif x & 0x00fffffffffffe00:
            hosts[('data', x & 0x00fffffffffffe00)].append((i * per + j) * cs)
for t, g in tables.items():
    if len(g) > 1:
        print('table', *g)
for (kind, _), g in hosts.items():
    if len(g) > 1:
        print(kind, *g)
