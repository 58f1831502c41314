// ComputeImageDigest: Map() finds the chunks that hold data anywhere in the
// chain; runs of such chunks are read (up to kRunBytes at a time) and
// hashed in parallel, in guest order.
#include "lib/image/image_digest.h"

#include <algorithm>
#include <memory>
#include <vector>

namespace e2q::image {

namespace {

constexpr uint64_t kRunBytes = 8u << 20;

}  // namespace

Result<Digest128> ComputeImageDigest(
    qcow2::Qcow2Reader* reader, unsigned threads,
    const std::function<void(uint64_t bytes_done)>& progress) {
  const uint64_t size = reader->virtual_size();
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<ChunkHasher> hasher,
                       ChunkHasher::Create(threads));
  ContentDigest digest(size);
  std::unique_ptr<uint8_t[]> buf(new uint8_t[kRunBytes]);
  const uint64_t max_run = kRunBytes / kDigestChunkSize;

  // Hashes chunks [first, first + n), all of which touch data.
  auto hash_run = [&](uint64_t first, uint64_t n) -> Status {
    const uint64_t start = first * kDigestChunkSize;
    const uint64_t bytes = n * kDigestChunkSize;
    const uint64_t valid = std::min(bytes, size - start);
    E2Q_RETURN_IF_ERROR(reader->Read(start, buf.get(), valid));
    std::fill(buf.get() + valid, buf.get() + bytes, 0);
    hasher->Start(buf.get(), n);
    const auto& slots = hasher->Wait();
    for (uint64_t k = 0; k < n; ++k) {
      if (slots[k].nonzero) digest.Add(first + k, slots[k].hash);
    }
    if (progress) progress(std::min(size, start + bytes));
    return Status::OK();
  };

  // The pending run of chunks that hold data.
  uint64_t run_first = 0, run_n = 0;
  uint64_t pos = 0;
  while (pos < size) {
    E2Q_ASSIGN_OR_RETURN(qcow2::Qcow2Reader::Extent e,
                         reader->Map(pos, size - pos));
    if (e.len == 0) {
      return Status::Corruption(reader->name() + ": map: empty extent at " +
                                std::to_string(pos));
    }
    if (e.kind == qcow2::Qcow2Reader::ExtentKind::kData) {
      uint64_t c0 = pos / kDigestChunkSize;
      const uint64_t c1 = (pos + e.len - 1) / kDigestChunkSize + 1;
      if (run_n > 0 && c0 < run_first + run_n) c0 = run_first + run_n;
      for (uint64_t c = c0; c < c1;) {
        if (run_n > 0 && c != run_first + run_n) {
          E2Q_RETURN_IF_ERROR(hash_run(run_first, run_n));
          run_n = 0;
        }
        if (run_n == 0) run_first = c;
        const uint64_t take = std::min(c1 - c, max_run - run_n);
        run_n += take;
        c += take;
        if (run_n == max_run) {
          E2Q_RETURN_IF_ERROR(hash_run(run_first, run_n));
          run_n = 0;
        }
      }
    } else if (progress && run_n == 0) {
      progress(pos + e.len);
    }
    pos += e.len;
  }
  if (run_n > 0) E2Q_RETURN_IF_ERROR(hash_run(run_first, run_n));
  return digest.Final();
}

}  // namespace e2q::image
