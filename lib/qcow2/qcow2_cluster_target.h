// ClusterTarget: what the qcow2 image sink feeds guest clusters into.  Two
// writers implement it: Qcow2Writer (one guest state per file) and a state
// of Qcow2MultiWriter (several states in one file, where a cluster equal to
// the previous state's is reused instead of stored again).  Clusters are
// added at strictly increasing guest indexes.
#ifndef E2Q_LIB_QCOW2_QCOW2_CLUSTER_TARGET_H_
#define E2Q_LIB_QCOW2_QCOW2_CLUSTER_TARGET_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lib/base/status.h"

namespace e2q::qcow2 {

class ClusterTarget {
 public:
  virtual ~ClusterTarget() = default;

  virtual uint64_t cluster_size() const = 0;
  virtual uint32_t cluster_bits() const = 0;
  // qcow2 version of the file (2 has no zero clusters).
  virtual uint32_t version() const = 0;
  // Guest clusters of the image (or state).
  virtual uint64_t guest_clusters() const = 0;

  // Stores `n` consecutive clusters from guest cluster `index` (n *
  // cluster_size() bytes at `data`) as normal clusters.
  virtual Status AddDataClusters(uint64_t index, const uint8_t* data,
                                 uint64_t n) = 0;
  Status AddDataCluster(uint64_t index, const uint8_t* data) {
    return AddDataClusters(index, data, 1);
  }
  // ClusterDedup::Hash of the `n` clusters from guest cluster `index`,
  // computed elsewhere (the content digest hashes the same bytes); the next
  // AddDataClusters() calls over them use these instead of hashing again.
  // 0: not known.  `hashes` is copied.  A target that does not share
  // clusters ignores them.
  virtual void KnowHashes(uint64_t index, const uint64_t* hashes, size_t n) {}
  // Stores `len` bytes (0 < len < cluster_size()) of compressed data as a
  // compressed cluster.
  virtual Status AddCompressedCluster(uint64_t index, const uint8_t* data,
                                      size_t len) = 0;
  // Marks the cluster as reading zeros (v3 zero flag).
  virtual Status AddZeroCluster(uint64_t index) = 0;

  // Reuse of clusters the file already holds.  When reuses_clusters() is
  // true, a caller that would transform clusters before storing them (the
  // compressing sink) first asks FindReusable() about a batch of clusters
  // at increasing `indexes` (contents back to back at `data`); it sets
  // (*reusable)[k] for each cluster that need not be stored, and the caller
  // then adds every cluster of the batch in order, calling
  // AddReusedCluster() for those.  Plain AddDataClusters() calls reuse by
  // themselves.
  virtual bool reuses_clusters() const { return false; }
  // Whether uncompressed clusters should also come in batches (a target
  // that checks a batch at a time), not in runs.
  virtual bool wants_batches() const { return reuses_clusters(); }
  virtual Status FindReusable(const uint64_t* indexes, const uint8_t* data,
                              size_t n, std::vector<uint8_t>* reusable) {
    reusable->assign(n, 0);
    return Status::OK();
  }
  virtual Status AddReusedCluster(uint64_t index) {
    return Status::InvalidArgument("qcow2: this writer reuses no clusters");
  }

  // Completes what was added (the image, or one state of a multi-state
  // file).  No Add* may follow.
  virtual Status Finish() = 0;
};

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_QCOW2_CLUSTER_TARGET_H_
