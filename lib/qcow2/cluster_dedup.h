// ClusterDedup: finds, among the clusters and L2 tables a writer has
// already appended, one whose content equals a new one, so that the new
// one is referenced instead of stored again (doc/qcow2-format.md,
// "Identical clusters stored once").
//
// Contents are indexed by a 64-bit XXH3 hash; a hit is only a candidate:
// the stored bytes are read back (decompressed if need be) and compared in
// full, so a hash collision, chance or crafted, costs a read and is never
// shared.  A candidate is also refused once its host clusters reach
// kShareCap references, so that the writer's extra snapshot path (which
// doubles every reference) stays within qemu's 16-bit refcounts.  Memory
// is bounded: past kMaxEntries contents per index, new ones are no longer
// remembered (earlier ones still match).
#ifndef E2Q_LIB_QCOW2_CLUSTER_DEDUP_H_
#define E2Q_LIB_QCOW2_CLUSTER_DEDUP_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "lib/base/status.h"
#include "lib/qcow2/hash_index.h"
#include "lib/qcow2/qcow2_decompress.h"
#include "lib/qcow2/qcow2_file_builder.h"

namespace e2q::qcow2 {

// A stored cluster: its L2 entry (normal or compressed, no flags beyond
// those) and how many bytes of the file it takes (the cluster size, or the
// exact compressed length, which the entry only gives to a sector).
struct StoredCluster {
  uint64_t entry = 0;
  uint64_t bytes = 0;
  bool empty() const { return entry == 0; }
};

class ClusterDedup {
 public:
  // References a host cluster may have before it is no longer shared: half
  // of qemu's 65535, less room for the references a batch of up to
  // kMaxBatch clusters can add after its check (see FindCluster).
  static constexpr uint64_t kMaxBatch = 1024;
  static constexpr uint64_t kShareCap = 0xffff / 2 - kMaxBatch;
  // Contents remembered per index (data clusters, tables): 24 and 16 bytes
  // a slot, at most two slots per content, so at most 80 MiB in all.
  static constexpr size_t kMaxEntries = size_t{1} << 20;

  // `file` (not owned) must outlive the index.
  explicit ClusterDedup(Qcow2FileBuilder* file);
  ~ClusterDedup();

  // Compressed clusters are read back with this decompressor type.
  void set_compression_type(uint8_t type) { compression_type_ = type; }

  static uint64_t Hash(const uint8_t* data, size_t len);

  // A stored cluster equal to the cluster_size() bytes at `data` whose hash
  // is `hash`, or one with entry 0.  `slack` references are kept free on
  // top of those the host clusters have now (a batch's reuses are only
  // counted when added).
  Result<StoredCluster> FindCluster(uint64_t hash, const uint8_t* data,
                                    uint64_t slack = 0);
  // Records that the cluster with `hash` is stored as `stored`.
  void RememberCluster(uint64_t hash, StoredCluster stored);

  // The offset of an appended L2 table equal to `table` (entries in host
  // order), or 0.  Records `table` otherwise, once it has been appended at
  // `offset` (call RememberTable then).
  Result<uint64_t> FindTable(const std::vector<uint64_t>& table,
                             uint64_t* hash);
  void RememberTable(uint64_t hash, uint64_t offset);

 private:
  // Whether every host cluster of [start, end) can take `slack` + 1 more
  // references within kShareCap.
  bool BelowCap(uint64_t start, uint64_t end, uint64_t slack = 0) const;

  Qcow2FileBuilder* file_;
  uint8_t compression_type_ = 0;
  std::unique_ptr<ClusterDecompressor> decompressor_;
  // An appended table's file offset (never 0: the header is there).
  struct TableOffset {
    uint64_t offset = 0;
    bool empty() const { return offset == 0; }
  };
  HashIndex<StoredCluster> clusters_;
  HashIndex<TableOffset> tables_;
  std::vector<uint8_t> stored_;
  std::vector<uint8_t> plain_;
  std::vector<uint8_t> encoded_;
};

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_CLUSTER_DEDUP_H_
