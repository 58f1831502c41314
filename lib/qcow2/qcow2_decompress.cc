// Deflate and zstd decompression of qcow2 clusters.
#include "lib/qcow2/qcow2_decompress.h"

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <thread>

#include "config.h"
#include "lib/qcow2/qcow2_format.h"
#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

namespace e2q::qcow2 {

namespace {

// qemu deflates with windowBits -12: raw deflate, 4 KiB window.  Inflating
// with the same window makes a stream that reaches further back fail here
// as it fails in qemu.
constexpr int kDeflateWindowBits = -12;

class DeflateDecompressor : public ClusterDecompressor {
 public:
  ~DeflateDecompressor() override {
    if (initialised_) inflateEnd(&strm_);
  }

  Status Decompress(const uint8_t* in, size_t in_len, uint8_t* out,
                    size_t out_len) override {
    // One stream is reset per cluster: initialising a fresh one each time
    // costs more than inflating a small cluster.
    int rc = initialised_ ? inflateReset(&strm_)
                          : inflateInit2(&strm_, kDeflateWindowBits);
    if (rc != Z_OK) {
      return Status::IOError("decompression failed: zlib initialisation");
    }
    initialised_ = true;
    if (in_len > UINT_MAX || out_len > UINT_MAX) {
      return Status::Corruption("decompression failed: buffer too large");
    }
    strm_.next_in = const_cast<Bytef*>(in);
    strm_.avail_in = static_cast<uInt>(in_len);
    strm_.next_out = out;
    strm_.avail_out = static_cast<uInt>(out_len);
    rc = inflate(&strm_, Z_FINISH);
    // Z_BUF_ERROR is fine once the cluster is full: the input then merely
    // ends before the stream does, or runs past it into padding.
    if ((rc == Z_STREAM_END || rc == Z_BUF_ERROR) && strm_.avail_out == 0) {
      return Status::OK();
    }
    if (rc == Z_STREAM_END || rc == Z_BUF_ERROR) {
      return Status::Corruption(
          "decompression failed: deflate stream shorter than a cluster");
    }
    return Status::Corruption(std::string("decompression failed: ") +
                              (strm_.msg != nullptr ? strm_.msg
                                                    : "invalid deflate data"));
  }

 private:
  z_stream strm_{};
  bool initialised_ = false;
};

#ifdef HAVE_ZSTD
class ZstdDecompressor : public ClusterDecompressor {
 public:
  ZstdDecompressor() : dctx_(ZSTD_createDCtx()) {}
  ~ZstdDecompressor() override { ZSTD_freeDCtx(dctx_); }

  Status Decompress(const uint8_t* in, size_t in_len, uint8_t* out,
                    size_t out_len) override {
    if (dctx_ == nullptr) {
      return Status::IOError("decompression failed: out of memory");
    }
    ZSTD_DCtx_reset(dctx_, ZSTD_reset_session_only);
    ZSTD_inBuffer input = {in, in_len, 0};
    ZSTD_outBuffer output = {out, out_len, 0};
    // The cluster may be split over several frames; keep going until it
    // is full, and insist on progress so bad input cannot spin.
    size_t rc = 0;
    while (output.pos < output.size) {
      size_t in_before = input.pos;
      size_t out_before = output.pos;
      rc = ZSTD_decompressStream(dctx_, &output, &input);
      if (ZSTD_isError(rc)) {
        return Status::Corruption(std::string("decompression failed: ") +
                                  ZSTD_getErrorName(rc));
      }
      if (input.pos <= in_before && output.pos <= out_before) {
        return Status::Corruption(
            "decompression failed: zstd data shorter than a cluster");
      }
    }
    // A frame not yet finished would produce more than one cluster.
    if (rc != 0) {
      return Status::Corruption(
          "decompression failed: zstd data longer than a cluster");
    }
    return Status::OK();
  }

 private:
  ZSTD_DCtx* dctx_;
};
#endif  // HAVE_ZSTD

}  // namespace

Result<std::unique_ptr<ClusterDecompressor>> ClusterDecompressor::Create(
    uint8_t compression_type) {
  switch (compression_type) {
    case kCompressionDeflate:
      return std::unique_ptr<ClusterDecompressor>(new DeflateDecompressor());
    case kCompressionZstd:
#ifdef HAVE_ZSTD
      return std::unique_ptr<ClusterDecompressor>(new ZstdDecompressor());
#else
      return Status::NotSupported(
          "zstd-compressed clusters: this build has no zstd support");
#endif
    default:
      return Status::NotSupported("compression type " +
                                  std::to_string(compression_type));
  }
}

namespace {
// Beyond a few threads the copy is bound by I/O, not inflate.
constexpr unsigned kMaxDecompressThreads = 8;
// Below this many jobs per thread, starting threads costs more than it saves.
constexpr size_t kMinJobsPerThread = 4;
}  // namespace

Result<std::unique_ptr<BatchDecompressor>> BatchDecompressor::Create(
    uint8_t compression_type, unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, kMaxDecompressThreads);
  std::unique_ptr<BatchDecompressor> b(new BatchDecompressor());
  for (unsigned i = 0; i < threads; ++i) {
    E2Q_ASSIGN_OR_RETURN(std::unique_ptr<ClusterDecompressor> d,
                         ClusterDecompressor::Create(compression_type));
    b->workers_.push_back(std::move(d));
  }
  return b;
}

size_t BatchDecompressor::Run(std::vector<Job>* jobs, size_t out_len) {
  std::atomic<size_t> next{0};
  auto work = [&](ClusterDecompressor* d) {
    for (size_t i = next++; i < jobs->size(); i = next++) {
      Job& j = (*jobs)[i];
      j.status = d->Decompress(j.in, j.in_len, j.out, out_len);
    }
  };
  size_t nthreads = std::min(workers_.size(),
                             std::max<size_t>(1, jobs->size() / kMinJobsPerThread));
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < nthreads; ++t) {
    helpers.emplace_back(work, workers_[t].get());
  }
  work(workers_[0].get());  // the calling thread works too
  for (auto& h : helpers) h.join();
  for (size_t i = 0; i < jobs->size(); ++i) {
    if (!(*jobs)[i].status.ok()) return i;
  }
  return jobs->size();
}

}  // namespace e2q::qcow2
