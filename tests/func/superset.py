# superset.py E2IMAGE_RAW OURS_RAW DEVICE BLOCKSIZE: the superset rule for
# a raw metadata image.  Every non-zero block of e2image's image is in ours
# with the same bytes, and every non-zero block of ours is the device's.
# Prints the blocks ours adds; exits 1 (naming the first block) otherwise.
import sys
e2i, ours, dev, bs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
zero = bytes(bs)
missing = wrong = extra = 0
first_missing = first_wrong = None
with open(e2i, 'rb') as fe, open(ours, 'rb') as fo, open(dev, 'rb') as fd:
    blk = 0
    while True:
        e, o, d = fe.read(bs << 8), fo.read(bs << 8), fd.read(bs << 8)
        if not e and not o:
            break
        n = max(len(e), len(o))
        e, o, d = e.ljust(n, b'\0'), o.ljust(n, b'\0'), d.ljust(n, b'\0')
        if e == o and (o == d or o == bytes(n)):
            blk += n // bs
            continue
        for i in range(0, n, bs):
            eb, ob, db = e[i:i + bs], o[i:i + bs], d[i:i + bs]
            if eb != zero and ob != eb:
                missing += 1
                first_missing = first_missing if first_missing is not None else blk
            if ob != zero and ob != db:
                wrong += 1
                first_wrong = first_wrong if first_wrong is not None else blk
            if eb == zero and ob != zero:
                extra += 1
            blk += 1
print("extra blocks: %d" % extra)
if missing:
    print("MISSING: %d blocks e2image writes (first %d)" % (missing, first_missing))
if wrong:
    print("WRONG: %d blocks differ from the device (first %d)" % (wrong, first_wrong))
sys.exit(1 if missing or wrong else 0)
