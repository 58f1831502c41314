// BaseContent: the guest content of a backing image, cluster by cluster,
// for an incremental export that stores only the clusters differing from
// it.  Clusters are requested in increasing order; the content is fetched
// through Qcow2Reader in windows of several MiB, reading only what Map()
// reports as data (in large coalesced reads), so a cluster costs no system
// call of its own and holes in the base cost no reading at all.
#ifndef E2Q_LIB_IMAGE_BASE_CONTENT_H_
#define E2Q_LIB_IMAGE_BASE_CONTENT_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "lib/base/status.h"
#include "lib/qcow2/qcow2_reader.h"

namespace e2q::image {

class BaseContent {
 public:
  // `base` (not owned) is read with clusters of 2^cluster_bits bytes: the
  // cluster size of the image being written, whatever the base's own.
  BaseContent(qcow2::Qcow2Reader* base, uint32_t cluster_bits);

  // The content of cluster `index` (cluster-size bytes, zeros past the
  // base's end), or nullptr when the base has no data there (it reads as
  // zeros).  `index` must not be lower than in the previous call.  The
  // pointer is valid until the next call.
  Result<const uint8_t*> Cluster(uint64_t index);

  // Calls `fn(index)` in increasing order for each cluster in [first, end)
  // whose base content is not all zeros.  Stretches the base maps as zero
  // are skipped without reading.
  Status ForEachNonZero(uint64_t first, uint64_t end,
                        const std::function<Status(uint64_t)>& fn);

 private:
  Status Load(uint64_t index);

  qcow2::Qcow2Reader* base_;
  const uint32_t bits_;
  const uint64_t cs_;
  const uint64_t base_size_;
  uint64_t win_first_ = 0;  // clusters [win_first_, win_first_ + win_n_)
  uint64_t win_n_ = 0;
  const uint64_t win_max_;
  std::vector<uint8_t> buf_;
  std::vector<uint8_t> has_data_;  // per window cluster
};

}  // namespace e2q::image

#endif  // E2Q_LIB_IMAGE_BASE_CONTENT_H_
