// The content digest that e2qimage records in every qcow2 file it writes
// (doc/qcow2-format.md, "Provenance"), and a pool of threads that hashes
// chunks in parallel.
//
// Definition (digest type 1): the guest disk is cut into chunks of 64 KiB
// (chunk i = bytes [i * 64 KiB, (i + 1) * 64 KiB); bytes past the guest size
// count as zeros).  Chunks that are entirely zero are left out; every other
// chunk i gets h_i = XXH3-128(chunk), in XXH3's canonical (big-endian) form.
// The digest is XXH3-128 (canonical) over
//     "E2QD" u32be(1) u64be(guest size) u32be(65536)
//     then, for each non-zero chunk in increasing i: u64be(i) h_i
// So it depends only on the guest bytes: not on the cluster size,
// compression, or whether zeros are stored, left unallocated or marked as
// zero clusters; holes are never hashed; and chunks hash independently, on
// any number of threads, with a cheap serial pass over 24 bytes per chunk.
// XXH3 rather than SHA-256: the digest guards against accidental damage
// (anyone who can rewrite the file can rewrite the record too), and XXH3
// hashes at ~19 GB/s per core where nettle's SHA-256 manages 1.6 GB/s with
// the SHA extensions and 0.35 GB/s without (doc/qcow2-format.md).
#ifndef E2Q_LIB_IMAGE_CONTENT_DIGEST_H_
#define E2Q_LIB_IMAGE_CONTENT_DIGEST_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/batch_pool.h"
#include "lib/base/status.h"

namespace e2q::image {

constexpr uint8_t kDigestTypeXxh3Chunks = 1;
constexpr uint32_t kDigestChunkBits = 16;
constexpr size_t kDigestChunkSize = size_t{1} << kDigestChunkBits;

using Digest128 = std::array<uint8_t, 16>;

// h_i of one kDigestChunkSize-byte chunk; false when it is all zeros (then
// *out is left alone).
bool HashChunk(const uint8_t* chunk, Digest128* out);
// h_i of a chunk known to hold a non-zero byte.
Digest128 HashNonZeroChunk(const uint8_t* chunk);

// Lowercase hex, 32 characters.
std::string DigestHex(const Digest128& d);

// Accumulates the (i, h_i) of one guest disk in increasing i.
class ContentDigest {
 public:
  explicit ContentDigest(uint64_t guest_size);
  ~ContentDigest();
  ContentDigest(const ContentDigest&) = delete;
  ContentDigest& operator=(const ContentDigest&) = delete;

  // `index` must be greater than every index added before.
  void Add(uint64_t index, const Digest128& chunk_hash);
  // The digest; no Add may follow.
  Digest128 Final();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The part of chunk hash `h` that equals qcow2::ClusterDedup::Hash of the
// same 64 KiB (the low half of XXH3-128), so that a qcow2 writer sharing
// 64 KiB clusters need not hash them again.
uint64_t DedupHashOf(const Digest128& h);

// Hashes batches of chunks on `threads` helper threads plus the thread that
// calls Wait().  Results land in per-chunk slots, so they do not depend on
// the number of threads.
class ChunkHasher {
 public:
  struct Slot {
    bool nonzero = false;
    Digest128 hash{};
  };

  // `threads` helpers (0: the caller of Wait() does all the work).
  static Result<std::unique_ptr<ChunkHasher>> Create(unsigned threads);
  ~ChunkHasher();
  ChunkHasher(const ChunkHasher&) = delete;
  ChunkHasher& operator=(const ChunkHasher&) = delete;

  // Starts hashing the `n` chunks at `data` (n * kDigestChunkSize bytes,
  // which must stay valid and unchanged until Wait() returns) and returns
  // at once, so the caller can do other work meanwhile.  One batch at a
  // time.
  void Start(const uint8_t* data, size_t n);
  // Hashes what no helper has claimed yet, waits for the helpers, and
  // returns one slot per chunk of the batch.
  const std::vector<Slot>& Wait();

 private:
  ChunkHasher();
  std::unique_ptr<BatchPool> pool_;
  std::vector<Slot> slots_;
};

}  // namespace e2q::image

#endif  // E2Q_LIB_IMAGE_CONTENT_DIGEST_H_
