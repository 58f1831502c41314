// ReadAllGuest: what the qcow2 fuzz targets do with an image that opened:
// walk its guest content with Map() and Read(), within a work budget so
// that a small input claiming an exabyte-sized disk cannot stall the
// fuzzer, and check the reader's own invariants on the way (a zero extent
// reads as zeros; a range reads the same in one call as in pieces).  A
// broken invariant aborts, which the fuzzer reports as a crash.
#ifndef E2Q_TESTS_FUZZ_QCOW2_READ_ALL_H_
#define E2Q_TESTS_FUZZ_QCOW2_READ_ALL_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "lib/qcow2/qcow2_reader.h"

namespace e2q::fuzz {

struct ReadBudget {
  // Guest clusters that Map() may classify (its cost is per cluster).
  uint64_t map_clusters = uint64_t{1} << 22;
  // Guest bytes that Read() may produce.
  uint64_t read_bytes = 16u << 20;
  // Map() calls.
  uint64_t map_calls = 1u << 14;
};

inline void Check(bool ok) {
  if (!ok) std::abort();
}

// Reads [off, off + len) once whole and once in three uneven pieces; both
// must fail or both give the same bytes.
inline void ReadTwice(qcow2::Qcow2Reader* r, uint64_t off, size_t len) {
  std::vector<uint8_t> whole(len), pieces(len);
  const bool ok_whole = r->Read(off, whole.data(), len).ok();
  const size_t a = len / 3 + 1 < len ? len / 3 + 1 : len;
  const size_t b = a + (len - a) / 2;
  const bool ok_pieces = r->Read(off, pieces.data(), a).ok() &&
                         r->Read(off + a, pieces.data() + a, b - a).ok() &&
                         r->Read(off + b, pieces.data() + b, len - b).ok();
  Check(ok_whole == ok_pieces);
  if (ok_whole) Check(whole == pieces);
}

// Walks the guest content of `r` (the layer currently selected).
inline void ReadAllGuest(qcow2::Qcow2Reader* r, ReadBudget* budget) {
  const uint64_t size = r->virtual_size();
  const uint32_t cb = r->header().cluster_bits;
  constexpr size_t kPiece = 256 << 10;
  uint64_t pos = 0;
  while (pos < size && budget->map_calls > 0 && budget->map_clusters > 0) {
    --budget->map_calls;
    // At most the budget's worth of clusters per call (at least one).
    uint64_t max_len = size - pos;
    if ((max_len >> cb) > budget->map_clusters) {
      max_len = budget->map_clusters << cb;
    }
    auto e = r->Map(pos, max_len);
    if (!e.ok()) return;
    Check(e->len > 0 && e->len <= max_len);
    budget->map_clusters -= std::min(budget->map_clusters,
                                     std::max<uint64_t>(1, e->len >> cb));
    if (e->kind == qcow2::Qcow2Reader::ExtentKind::kZero) {
      // Sample the start of the stretch.
      const size_t n = static_cast<size_t>(std::min<uint64_t>(e->len, 4096));
      std::vector<uint8_t> buf(n, 0xa5);
      if (r->Read(pos, buf.data(), n).ok()) {
        Check(std::all_of(buf.begin(), buf.end(),
                          [](uint8_t c) { return c == 0; }));
      }
    } else {
      uint64_t left = std::min(e->len, budget->read_bytes);
      uint64_t at = pos;
      while (left > 0) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, kPiece));
        ReadTwice(r, at, n);
        at += n;
        left -= n;
        budget->read_bytes -= n;
      }
      if (budget->read_bytes == 0) return;
    }
    pos += e->len;
  }
}

// The active layer, then every internal snapshot.
inline void ReadAllLayers(qcow2::Qcow2Reader* r) {
  ReadBudget budget;
  ReadAllGuest(r, &budget);
  for (size_t i = 0; i < r->snapshots().size(); ++i) {
    if (!r->SelectSnapshotAt(i).ok()) continue;
    ReadAllGuest(r, &budget);
  }
}

}  // namespace e2q::fuzz

#endif  // E2Q_TESTS_FUZZ_QCOW2_READ_ALL_H_
