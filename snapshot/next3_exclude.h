// The live exclude bitmap: one block per group marking the blocks owned by
// snapshot files.  next3 keeps it in the exclude inode (ino 9, COMPAT
// 0x0080): group g's bitmap is the inode's block 1036 + g, i.e.
// DIND[g >> 10] -> IND[g & 1023], the same tree shape as a snapshot file.
// The ext4-snapshots flavour (COMPAT 0x0100) names it in the group
// descriptor field bg_exclude_bitmap instead.
#ifndef E2Q_SNAPSHOT_NEXT3_EXCLUDE_H_
#define E2Q_SNAPSHOT_NEXT3_EXCLUDE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "lib/base/status.h"
#include "lib/io/file.h"
#include "snapshot/next3_format.h"
#include "snapshot/next3_map.h"

namespace e2q::snapshot {

class ExcludeBitmap {
 public:
  // No exclude bitmap: nothing is excluded.
  ExcludeBitmap() = default;
  // From the bitmap block of every group (0 = none for that group).
  explicit ExcludeBitmap(std::vector<uint64_t> group_blocks);

  // Reads the exclude inode's map: a regular file using only i_block[13],
  // with a bitmap block for every one of `groups` groups and none past
  // them.  `limits.image_blocks` is ignored.  kCorruption "CONTEXT: ..."
  // when it is anything else.
  static Result<ExcludeBitmap> FromExcludeInode(io::File* device,
                                                const std::string& context,
                                                const Next3Inode& inode,
                                                uint64_t groups,
                                                const MapLimits& limits);

  bool empty() const { return sorted_.empty(); }
  uint64_t groups() const { return group_blocks_.size(); }
  // Group g's bitmap block, 0 if none.
  uint64_t group_block(uint64_t g) const {
    return g < group_blocks_.size() ? group_blocks_[g] : 0;
  }
  // True if `block` is one of the bitmap blocks.
  bool IsBitmapBlock(uint64_t block) const;
  // The first bitmap block at or after `block`, UINT64_MAX if none.
  uint64_t NextBitmapBlock(uint64_t block) const;
  // Reads group g's bitmap (kBlockSize bytes) into `out`; zeros if the
  // group has none.
  Status ReadGroup(io::File* device, uint64_t g, uint8_t* out) const;

 private:
  std::vector<uint64_t> group_blocks_;
  std::vector<uint64_t> sorted_;  // the non-zero group_blocks_, sorted
};

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_NEXT3_EXCLUDE_H_
