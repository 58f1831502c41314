// Content digest (definition in content_digest.h) and the chunk hasher.
#include "lib/image/content_digest.h"

#include <xxhash.h>

#include "config.h"
#if defined(HAVE_XXH_X86DISPATCH_H) && defined(HAVE_XXH3_128BITS_DISPATCH)
// Maps XXH3_128bits to the variant chosen for this CPU at run time (AVX2,
// AVX-512, SSE2), same hashes: 43 GB/s instead of 4.8 GB/s on the
// benchmark machine (64 KiB chunks, AVX-512).
#include <xxh_x86dispatch.h>
#endif

#include <cstring>

#include "lib/base/endian.h"
#include "lib/base/is_zero.h"

namespace e2q::image {

namespace {

constexpr uint32_t kDigestMagic = 0x45325144;  // "E2QD"
constexpr unsigned kMaxHelpers = 256;

Digest128 Canonical(XXH128_hash_t h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  Digest128 d;
  std::memcpy(d.data(), c.digest, d.size());
  return d;
}

}  // namespace

bool HashChunk(const uint8_t* chunk, Digest128* out) {
  if (IsZero(chunk, kDigestChunkSize)) return false;
  *out = HashNonZeroChunk(chunk);
  return true;
}

Digest128 HashNonZeroChunk(const uint8_t* chunk) {
  return Canonical(XXH3_128bits(chunk, kDigestChunkSize));
}

uint64_t DedupHashOf(const Digest128& h) {
  // Canonical form: the high half, then the low half, both big-endian.
  return LoadBE64(h.data() + 8);
}

std::string DigestHex(const Digest128& d) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : d) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

struct ContentDigest::State {
  XXH3_state_t* xxh = nullptr;
  ~State() { XXH3_freeState(xxh); }
};

ContentDigest::ContentDigest(uint64_t guest_size)
    : state_(std::make_unique<State>()) {
  state_->xxh = XXH3_createState();
  // XXH3_createState only fails without memory; so does everything else.
  if (state_->xxh == nullptr) throw std::bad_alloc();
  XXH3_128bits_reset(state_->xxh);
  uint8_t head[20];
  StoreBE32(head, kDigestMagic);
  StoreBE32(head + 4, kDigestTypeXxh3Chunks);
  StoreBE64(head + 8, guest_size);
  StoreBE32(head + 16, static_cast<uint32_t>(kDigestChunkSize));
  XXH3_128bits_update(state_->xxh, head, sizeof(head));
}

ContentDigest::~ContentDigest() = default;

void ContentDigest::Add(uint64_t index, const Digest128& chunk_hash) {
  uint8_t rec[24];
  StoreBE64(rec, index);
  std::memcpy(rec + 8, chunk_hash.data(), chunk_hash.size());
  XXH3_128bits_update(state_->xxh, rec, sizeof(rec));
}

Digest128 ContentDigest::Final() {
  return Canonical(XXH3_128bits_digest(state_->xxh));
}

ChunkHasher::ChunkHasher() = default;
ChunkHasher::~ChunkHasher() = default;

Result<std::unique_ptr<ChunkHasher>> ChunkHasher::Create(unsigned threads) {
  if (threads > kMaxHelpers) {
    return Status::InvalidArgument("digest: " + std::to_string(threads) +
                                   " threads: at most " +
                                   std::to_string(kMaxHelpers));
  }
  std::unique_ptr<ChunkHasher> h(new ChunkHasher());
  E2Q_ASSIGN_OR_RETURN(h->pool_, BatchPool::Create(threads, "digest"));
  return h;
}

void ChunkHasher::Start(const uint8_t* data, size_t n) {
  slots_.assign(n, Slot());
  pool_->Start(n, [this, data](unsigned, size_t i) {
    Slot& s = slots_[i];
    s.nonzero = HashChunk(data + i * kDigestChunkSize, &s.hash);
  });
}

const std::vector<ChunkHasher::Slot>& ChunkHasher::Wait() {
  pool_->Finish();
  return slots_;
}

}  // namespace e2q::image
