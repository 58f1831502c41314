// ClusterCompressor: compresses qcow2 data clusters on every core.
//
// Clusters are compressed in batches by a persistent pool of threads (the
// calling thread works too), each owning a reusable compressor, into qemu's
// compressed-cluster format (doc/qcow2-format.md "What qemu checks"): one
// complete raw deflate stream, or one zstd frame, per cluster.  The bytes
// produced depend only on the input and the level, never on the number of
// threads or on timing, so the writer, which places the results in guest order,
// emits the same image whatever the thread count.
#ifndef E2Q_LIB_QCOW2_CLUSTER_COMPRESSOR_H_
#define E2Q_LIB_QCOW2_CLUSTER_COMPRESSOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "lib/base/status.h"

namespace e2q::qcow2 {

class ClusterCompressor {
 public:
  enum class Algorithm { kDeflate, kZstd };

  // Lowest and highest `level` accepted by Create; kDefaultLevel is what
  // `-z` without a level means (qemu's zlib level, Z_DEFAULT_COMPRESSION).
  static constexpr int kMinLevel = 1;
  static constexpr int kMaxLevel = 9;  // deflate
  static constexpr int kMaxZstdLevel = 19;
  static constexpr int kDefaultLevel = 6;

  // `level` 1..9 for deflate, 1..19 for zstd (1 fastest); deflate's is
  // mapped onto libdeflate's levels so that the default is faster than, and
  // compresses at least as well as, qemu's zlib level 6; zstd's is used as
  // given.  `threads` 0 means one per online CPU.
  // `cluster_bits` 9..21.  kInvalidArgument for a value out of range,
  // kNotSupported for zstd in a build without libzstd.
  static Result<std::unique_ptr<ClusterCompressor>> Create(
      Algorithm algo, int level, unsigned threads, uint32_t cluster_bits);

  ClusterCompressor(const ClusterCompressor&) = delete;
  ClusterCompressor& operator=(const ClusterCompressor&) = delete;
  // Stops and joins the worker threads.
  ~ClusterCompressor();

  Algorithm algorithm() const { return algo_; }
  // The number of threads that work on a batch, the caller's included.
  unsigned threads() const;
  size_t cluster_size() const { return cluster_size_; }

  // Compresses the `n` clusters stored back to back at `in` (n *
  // cluster_size() bytes).  On success out->size() == n and (*out)[i] holds
  // the compressed form of cluster i, or is empty when that would not be
  // shorter than cluster_size() bytes (qemu's rule: the caller then stores
  // the cluster uncompressed).  The vectors in *out are reused from call to
  // call, so passing the same `out` each time avoids reallocation.  Not
  // reentrant: one batch at a time.
  Status CompressBatch(const uint8_t* in, size_t n,
                       std::vector<std::vector<uint8_t>>* out);

 private:
  class Pool;
  ClusterCompressor(Algorithm algo, size_t cluster_size);

  const Algorithm algo_;
  const size_t cluster_size_;
  std::unique_ptr<Pool> pool_;
};

// Decompresses one compressed cluster (raw deflate as qemu reads it with
// inflateInit2(-12), or zstd frames) into exactly `cluster_size` bytes at
// `out`.  As in qemu, `in` may run past the end of the compressed data
// (the stored length is only known to a whole sector).  kCorruption if the
// data is invalid or does not fill the cluster; kNotSupported for zstd in a
// build without libzstd.
Status DecompressCluster(ClusterCompressor::Algorithm algo, const uint8_t* in,
                         size_t len, uint8_t* out, size_t cluster_size);

// True if this build can compress and decompress zstd clusters.
bool ZstdAvailable();

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_CLUSTER_COMPRESSOR_H_
