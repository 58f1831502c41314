// ClusterDecompressor: expands one compressed qcow2 cluster (raw deflate
// with a 4 KiB window, or a zstd frame sequence), accepting exactly what
// qemu's qcow2_zlib_decompress / qcow2_zstd_decompress accept: the output
// must fill the cluster, and the input may carry trailing bytes because its
// stored length is only known to a whole sector.
#ifndef E2Q_LIB_QCOW2_QCOW2_DECOMPRESS_H_
#define E2Q_LIB_QCOW2_QCOW2_DECOMPRESS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "lib/base/status.h"

namespace e2q::qcow2 {

class ClusterDecompressor {
 public:
  // `compression_type` is the header field (kCompressionDeflate or
  // kCompressionZstd); kNotSupported for zstd in a build without libzstd.
  static Result<std::unique_ptr<ClusterDecompressor>> Create(
      uint8_t compression_type);
  virtual ~ClusterDecompressor() = default;

  // Fills all `out_len` bytes of `out` from `in`.  kCorruption (message
  // "decompression failed: reason", without a file name) if the data is
  // not a valid stream or does not produce exactly a full cluster.
  virtual Status Decompress(const uint8_t* in, size_t in_len, uint8_t* out,
                            size_t out_len) = 0;
};

// Decompresses a batch of clusters on several threads, each with its own
// ClusterDecompressor; what qemu gets from its thread pool.  Results do not
// depend on the number of threads.
class BatchDecompressor {
 public:
  struct Job {
    const uint8_t* in = nullptr;
    size_t in_len = 0;
    uint8_t* out = nullptr;  // cluster-sized
    Status status;           // set by Run
  };

  // `threads` 0 means one per online CPU.
  static Result<std::unique_ptr<BatchDecompressor>> Create(
      uint8_t compression_type, unsigned threads);

  // Runs every job (each writes `out_len` bytes to its `out`); returns the
  // index of the first failed job, or jobs->size() when all succeeded.
  size_t Run(std::vector<Job>* jobs, size_t out_len);

 private:
  BatchDecompressor() = default;
  std::vector<std::unique_ptr<ClusterDecompressor>> workers_;
};

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_QCOW2_DECOMPRESS_H_
