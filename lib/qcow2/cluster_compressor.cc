// Parallel compression of qcow2 clusters (see cluster_compressor.h).
//
// Deflate uses libdeflate, not zlib: on 64 KiB clusters of shared libraries
// it is several times faster than zlib at a better ratio (numbers below).
// Its output is an ordinary raw deflate stream ending in a final block, so
// qemu's inflateInit2(-12) + inflate(Z_FINISH) reads it.  One difference
// matters: libdeflate's window is always 32 KiB, where qemu deflates with a
// 4 KiB one (windowBits -12).  zlib only consults its window for matches
// reaching back before the output of the current inflate() call; qemu,
// systemd's importer and DecompressCluster below all inflate a cluster in
// one call into a buffer holding the whole cluster, so such matches are
// read from that buffer and decode correctly (tests/func/compress checks
// qemu-img 7.2).  A reader that
// inflated a cluster piecewise with a 4 KiB window would reject them.
//
// Measured on 64 KiB clusters of /usr/lib/x86_64-linux-gnu, one thread
// (bench/compress-notes.md has the method and the full table):
//   zlib 6, window 12 (qemu)   41 MB/s   ratio 0.336
//   libdeflate 4 (-z default) 134 MB/s   ratio 0.324
//   libdeflate 5              107 MB/s   ratio 0.317
//   libdeflate 6               69 MB/s   ratio 0.315
//   zstd 3                    288 MB/s   ratio 0.328
// Two threads run at 1.9-2x one thread.
#include "lib/qcow2/cluster_compressor.h"

#include <libdeflate.h>

#include <algorithm>
#include <climits>
#include <string>
#include <thread>

#include "config.h"
#include "lib/base/batch_pool.h"
#include "lib/qcow2/incompressible.h"
#include "lib/qcow2/qcow2_decompress.h"
#include "lib/qcow2/qcow2_format.h"
#ifdef HAVE_ZSTD
#include <zstd.h>
#include <zstd_errors.h>
#endif

namespace e2q::qcow2 {

namespace {

// More threads than this is a mistake, not a machine.
constexpr unsigned kMaxThreads = 1024;

// Our level (the index) on libdeflate's 1..12 scale.  The default, 6, is
// libdeflate 4: 3.8% smaller than qemu's zlib 6 and 3.3x as fast per thread.
// End to end (-Qaz, bench/compress-notes.md "Level 4 by default") it gave
// files 0.927x (libraries), 0.929x (/usr/share) and 0.958x (all of /usr)
// of qemu-img convert -c's at 3.6-3.9x its speed; libdeflate 5 (the default
// until 2026-12) saved another 1-2% for 15-18% more time.  2-3 and 4-5
// share libdeflate 2 and 3 to make room below the default; 9 is
// libdeflate's slowest, near-optimal parse.  Zstd levels are used as given
// (1..19): its 1..9 is already a zlib-like scale.
constexpr int kLibdeflateLevel[ClusterCompressor::kMaxLevel + 1] = {
    0, 1, 2, 2, 3, 3, 4, 5, 6, 12};

// One thread's compressor.  Compress() writes at most `cap` bytes to `out`
// and returns their number, or 0 when the result would not fit.
class Codec {
 public:
  virtual ~Codec() = default;
  virtual Result<size_t> Compress(const uint8_t* in, size_t len, uint8_t* out,
                                  size_t cap) = 0;
};

class DeflateCodec : public Codec {
 public:
  explicit DeflateCodec(libdeflate_compressor* c) : c_(c) {}
  ~DeflateCodec() override { libdeflate_free_compressor(c_); }

  static Result<std::unique_ptr<Codec>> Create(int level) {
    libdeflate_compressor* c = libdeflate_alloc_compressor(level);
    if (c == nullptr) {
      return Status::IOError(
          "compressor: libdeflate_alloc_compressor: "
          "out of memory");
    }
    return std::unique_ptr<Codec>(new DeflateCodec(c));
  }

  Result<size_t> Compress(const uint8_t* in, size_t len, uint8_t* out,
                          size_t cap) override {
    return libdeflate_deflate_compress(c_, in, len, out, cap);
  }

 private:
  libdeflate_compressor* c_;
};

#ifdef HAVE_ZSTD
class ZstdCodec : public Codec {
 public:
  explicit ZstdCodec(ZSTD_CCtx* c) : c_(c) {}
  ~ZstdCodec() override { ZSTD_freeCCtx(c_); }

  static Result<std::unique_ptr<Codec>> Create(int level) {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    if (c == nullptr) {
      return Status::IOError("compressor: ZSTD_createCCtx: out of memory");
    }
    std::unique_ptr<Codec> codec(new ZstdCodec(c));
    // Single-threaded and without a checksum, as qemu writes its frames;
    // the level is a sticky parameter, set once.
    size_t rc = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
    if (ZSTD_isError(rc)) {
      return Status::InvalidArgument(std::string("compressor: zstd level: ") +
                                     ZSTD_getErrorName(rc));
    }
    return codec;
  }

  Result<size_t> Compress(const uint8_t* in, size_t len, uint8_t* out,
                          size_t cap) override {
    size_t rc = ZSTD_compress2(c_, out, cap, in, len);
    if (!ZSTD_isError(rc)) return rc;
    if (ZSTD_getErrorCode(rc) == ZSTD_error_dstSize_tooSmall) return 0;
    return Status::IOError(std::string("compressor: ZSTD_compress2: ") +
                           ZSTD_getErrorName(rc));
  }

 private:
  ZSTD_CCtx* c_;
};
#endif  // HAVE_ZSTD

Result<std::unique_ptr<Codec>> NewCodec(ClusterCompressor::Algorithm algo,
                                        int level) {
  if (algo == ClusterCompressor::Algorithm::kDeflate) {
    return DeflateCodec::Create(kLibdeflateLevel[level]);
  }
#ifdef HAVE_ZSTD
  return ZstdCodec::Create(level);
#else
  return Status::NotSupported("compressor: zstd: this build has no libzstd");
#endif
}

}  // namespace

// The threads of one compressor (a BatchPool: thread 0 is the caller of
// Run()) and, per thread, a codec, a scratch buffer and the batch's error.
// Each result lands in its own slot: which thread compressed a cluster
// cannot change its bytes.
class ClusterCompressor::Pool {
 public:
  Pool(size_t cluster_size, bool skip_random,
       std::vector<std::unique_ptr<Codec>> codecs,
       std::unique_ptr<BatchPool> threads)
      : cluster_size_(cluster_size),
        skip_random_(skip_random),
        codecs_(std::move(codecs)),
        scratch_(codecs_.size()),
        errors_(codecs_.size()),
        threads_(std::move(threads)) {
    // Compressed data must be shorter than the cluster (qemu compresses into
    // cluster_size - 1 bytes and stores the cluster plain if that fails).
    for (auto& s : scratch_) s.resize(cluster_size_ - 1);
  }

  unsigned threads() const { return static_cast<unsigned>(codecs_.size()); }

  Status Run(const uint8_t* in, size_t n,
             std::vector<std::vector<uint8_t>>* out) {
    out->resize(n);
    if (n == 0) return Status::OK();
    threads_->Run(n, [this, in, out](unsigned id, size_t i) {
      Compress(id, in + i * cluster_size_, &(*out)[i]);
    });
    // The helpers are idle now: collect the first failure by thread
    // number and clear them all for the next batch.
    Status result;
    for (auto& e : errors_) {
      if (result.ok()) result = e;
      e = Status::OK();
    }
    return result;
  }

 private:
  void Compress(unsigned id, const uint8_t* src, std::vector<uint8_t>* dst) {
    if (skip_random_ && LooksIncompressible(src, cluster_size_)) {
      dst->clear();  // stored plain, as if deflate had given up
      return;
    }
    std::vector<uint8_t>& scratch = scratch_[id];
    Result<size_t> len = codecs_[id]->Compress(src, cluster_size_,
                                               scratch.data(), scratch.size());
    if (!len.ok()) {
      errors_[id] = len.status();
      dst->clear();
      return;
    }
    // assign() keeps the vector's capacity from earlier batches.
    dst->assign(scratch.data(), scratch.data() + *len);
  }

  const size_t cluster_size_;
  const bool skip_random_;  // LooksIncompressible() clusters stored plain
  std::vector<std::unique_ptr<Codec>> codecs_;  // one per thread
  std::vector<std::vector<uint8_t>> scratch_;   // one per thread
  std::vector<Status> errors_;                  // one per thread
  std::unique_ptr<BatchPool> threads_;          // stopped first
};

ClusterCompressor::ClusterCompressor(Algorithm algo, size_t cluster_size)
    : algo_(algo), cluster_size_(cluster_size) {}

ClusterCompressor::~ClusterCompressor() = default;

Result<std::unique_ptr<ClusterCompressor>> ClusterCompressor::Create(
    Algorithm algo, int level, unsigned threads, uint32_t cluster_bits) {
  const int max = algo == Algorithm::kZstd ? kMaxZstdLevel : kMaxLevel;
  if (level < kMinLevel || level > max) {
    return Status::InvalidArgument("compressor: level " +
                                   std::to_string(level) + ": must be 1 to " +
                                   std::to_string(max));
  }
  if (cluster_bits < kMinClusterBits || cluster_bits > kMaxClusterBits) {
    return Status::InvalidArgument("compressor: cluster_bits " +
                                   std::to_string(cluster_bits) +
                                   ": must be 9 to 21");
  }
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  if (threads > kMaxThreads) {
    return Status::InvalidArgument("compressor: " + std::to_string(threads) +
                                   " threads: at most " +
                                   std::to_string(kMaxThreads));
  }
  std::vector<std::unique_ptr<Codec>> codecs;
  for (unsigned i = 0; i < threads; ++i) {
    std::unique_ptr<Codec> codec;
    E2Q_ASSIGN_OR_RETURN(codec, NewCodec(algo, level));
    codecs.push_back(std::move(codec));
  }
  const size_t cluster_size = size_t{1} << cluster_bits;
  std::unique_ptr<ClusterCompressor> c(
      new ClusterCompressor(algo, cluster_size));
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<BatchPool> pool,
                       BatchPool::Create(threads - 1, "compressor"));
  // Deflate spends a whole compression on random bytes before giving up;
  // zstd gives up on them by itself (incompressible.h).
  c->pool_ = std::make_unique<Pool>(cluster_size, algo == Algorithm::kDeflate,
                                    std::move(codecs), std::move(pool));
  return c;
}

unsigned ClusterCompressor::threads() const { return pool_->threads(); }

Status ClusterCompressor::CompressBatch(
    const uint8_t* in, size_t n, std::vector<std::vector<uint8_t>>* out) {
  return pool_->Run(in, n, out);
}

Status DecompressCluster(ClusterCompressor::Algorithm algo, const uint8_t* in,
                         size_t len, uint8_t* out, size_t cluster_size) {
  // One decoder for the whole project: the qcow2 reader's, which accepts
  // exactly what qemu accepts.
  E2Q_ASSIGN_OR_RETURN(
      std::unique_ptr<qcow2::ClusterDecompressor> d,
      qcow2::ClusterDecompressor::Create(
          algo == ClusterCompressor::Algorithm::kDeflate
              ? qcow2::kCompressionDeflate
              : qcow2::kCompressionZstd));
  return d->Decompress(in, len, out, cluster_size).WithContext(
      "compressed cluster");
}

bool ZstdAvailable() {
#ifdef HAVE_ZSTD
  return true;
#else
  return false;
#endif
}

}  // namespace e2q::qcow2
