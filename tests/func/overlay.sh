# Helpers for incremental-export tests (sourced after common.sh): what an
# overlay must hold, computed from raw contents, and what it holds, by
# qemu-img map.

# expect_delta BASE.raw NEW.raw CLUSTER: "DATA ZERO": the clusters whose
# content differs between the two raw files, split into those that are
# all zeros in NEW (an overlay marks them zero) and the others (data).
# Streams both files; equal stretches cost one comparison per 4 MiB.
expect_delta() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
cs = int(sys.argv[3]); step = max(cs, 4 << 20) // cs * cs
data = zero = 0
with open(sys.argv[1], 'rb') as fa, open(sys.argv[2], 'rb') as fb:
    while True:
        a = fa.read(step); b = fb.read(step)
        if not a and not b: break
        if a == b: continue
        n = max(len(a), len(b))
        a = a.ljust(n, b'\0'); b = b.ljust(n, b'\0')
        for i in range(0, n, cs):
            x = a[i:i + cs]; y = b[i:i + cs]
            if x != y:
                if y.count(0) == len(y): zero += 1
                else: data += 1
print(data, zero)
PY
}

# held_clusters OVERLAY CLUSTER: "DATA ZERO": the clusters the overlay maps
# itself (depth 0), by qemu-img map.
held_clusters() {
  qemu-img map --output=json "$1" | python3 -c "
import json, sys
cs = int(sys.argv[1]); d = z = 0
for e in json.load(sys.stdin):
    if e['depth'] != 0: continue
    if e['data']: d += e['length'] // cs
    elif e['zero']: z += e['length'] // cs
print(d, z)" "$2"
}

# allocated_clusters IMAGE: allocated clusters per qemu-img check.
allocated_clusters() {
  qemu-img check --output=json "$1" | python3 -c '
import json, sys; print(json.load(sys.stdin)["allocated-clusters"])'
}
