// Content digest (definition in content_digest.h) and the chunk-hashing
// thread pool.
#include "lib/content_digest.h"

#include <xxhash.h>

#include "config.h"
#if defined(HAVE_XXH_X86DISPATCH_H) && defined(HAVE_XXH3_128BITS_DISPATCH)
// Maps XXH3_128bits to the variant chosen for this CPU at run time (AVX2,
// AVX-512, SSE2), same hashes: 43 GB/s instead of 4.8 GB/s on the
// benchmark machine (64 KiB chunks, AVX-512).
#include <xxh_x86dispatch.h>
#endif

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

#include "lib/endian.h"
#include "lib/image_sink.h"

namespace e2q {

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

// Helpers sleep until a batch is posted; every thread claims chunks from an
// atomic counter until none are left.
class ChunkHasher::Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    start_cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  Status StartWorkers(unsigned n) {
    try {
      for (unsigned i = 0; i < n; ++i) workers_.emplace_back(&Pool::Main, this);
    } catch (const std::system_error& e) {
      return Status::IOError(std::string("digest: start thread: ") + e.what());
    }
    return Status::OK();
  }

  void Start(const uint8_t* data, size_t n) {
    slots_.assign(n, Slot());
    const unsigned helpers =
        n > 1 ? static_cast<unsigned>(workers_.size()) : 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      data_ = data;
      n_ = n;
      next_.store(0, std::memory_order_relaxed);
      busy_ = helpers;
      if (helpers > 0) ++generation_;
    }
    if (helpers > 0) start_cv_.notify_all();
  }

  const std::vector<Slot>& Wait() {
    Work();
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return busy_ == 0; });
    return slots_;
  }

 private:
  void Main() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      Work();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--busy_ == 0) done_cv_.notify_one();
      }
    }
  }

  void Work() {
    for (;;) {
      size_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= n_) return;
      Slot& s = slots_[i];
      s.nonzero = HashChunk(data_ + i * kDigestChunkSize, &s.hash);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  uint64_t generation_ = 0;
  unsigned busy_ = 0;
  bool stop_ = false;
  const uint8_t* data_ = nullptr;
  size_t n_ = 0;
  std::atomic<size_t> next_{0};
  std::vector<Slot> slots_;
};

ChunkHasher::ChunkHasher() = default;
ChunkHasher::~ChunkHasher() = default;

Result<std::unique_ptr<ChunkHasher>> ChunkHasher::Create(unsigned threads) {
  if (threads > kMaxHelpers) {
    return Status::InvalidArgument("digest: " + std::to_string(threads) +
                                   " threads: at most " +
                                   std::to_string(kMaxHelpers));
  }
  std::unique_ptr<ChunkHasher> h(new ChunkHasher());
  h->pool_ = std::make_unique<Pool>();
  E2Q_RETURN_IF_ERROR(h->pool_->StartWorkers(threads));
  return h;
}

void ChunkHasher::Start(const uint8_t* data, size_t n) {
  pool_->Start(data, n);
}

const std::vector<ChunkHasher::Slot>& ChunkHasher::Wait() {
  return pool_->Wait();
}

}  // namespace e2q
