// BaseGuard: what an incremental image (--backing, -x ID1..ID2 --backing)
// records about the state it was made against, so that `-I` can refuse a
// replica that does not hold exactly that state -- one mounted or written
// since its last apply, or waiting for an earlier increment of the chain
// (doc/qcow2-format.md, "Base guard"; doc/e2qimage.8, REPLICATION).
//
// The record lives in a header extension of e2qimage's own type beside the
// provenance record.  It holds the base's superblock (a digest of bytes
// [1024, 2048) of the base's guest content, and its mount count, last
// mount and last write times and free counts for the messages) and the digest of the base
// content of every cluster the increment replaces: each cluster it stores
// as data or as a zero cluster, in increasing index, hashed as
//     XXH3-128 over  "E2QR" u32be(1) u32be(cluster bits)
//                    then per cluster  u64be(index) content
// (content: cluster-size bytes of the base, zeros past its end).
#ifndef E2Q_LIB_IMAGE_BASE_GUARD_H_
#define E2Q_LIB_IMAGE_BASE_GUARD_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/base/status.h"
#include "lib/image/content_digest.h"
#include "lib/qcow2/qcow2_format.h"

namespace e2q::image {

constexpr uint32_t kExtE2qBaseGuard = 0xe2e2a9e2;

struct BaseGuard {
  static constexpr uint32_t kMagic = 0x45325142;  // "E2QB"
  static constexpr uint16_t kVersion = 1;
  static constexpr size_t kSize = 72;

  uint32_t cluster_bits = 0;
  uint64_t clusters = 0;   // clusters the increment replaces
  Digest128 replaced{};    // digest of their base content (see above)
  Digest128 superblock{};  // XXH3-128 of the base's bytes [1024, 2048)
  uint16_t mnt_count = 0;  // the base superblock's s_mnt_count,
  uint32_t mtime = 0;      // s_mtime (last mount)
  uint32_t wtime = 0;      // s_wtime (last write),
  uint32_t free_blocks = 0;  // s_free_blocks_count (low 32 bits)
  uint32_t free_inodes = 0;  // and s_free_inodes_count

  std::vector<uint8_t> Encode() const;
  // kCorruption naming `name` for a malformed record, kNotSupported for a
  // newer version.
  static Result<BaseGuard> Decode(const std::string& name, const uint8_t* p,
                                  size_t len);
  static Result<std::optional<BaseGuard>> Find(const std::string& name,
                                               const qcow2::Header& header);
};

// Fills the superblock fields of `guard` from the 1024 bytes of an ext2/3/4
// superblock.
void SetGuardSuperblock(const uint8_t* superblock, BaseGuard* guard);

// The streaming digest of replaced base content (definition above).
class ReplacedDigest {
 public:
  explicit ReplacedDigest(uint32_t cluster_bits);
  ~ReplacedDigest();
  ReplacedDigest(const ReplacedDigest&) = delete;
  ReplacedDigest& operator=(const ReplacedDigest&) = delete;

  // Cluster `index` (greater than the previous one) with base content
  // `content` (cluster-size bytes), or nullptr for zeros.
  void Add(uint64_t index, const uint8_t* content);
  uint64_t clusters() const { return clusters_; }
  Digest128 Final() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
  const uint32_t bits_;
  uint64_t clusters_ = 0;
  std::vector<uint8_t> zeros_;
};

}  // namespace e2q::image

#endif  // E2Q_LIB_IMAGE_BASE_GUARD_H_
