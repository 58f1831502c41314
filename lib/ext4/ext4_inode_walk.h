// InodeWalker: the blocks one on-disk inode contributes to an image.
//
// It decodes the raw inode itself (no libext2fs calls, so several walkers
// can run on separate threads) and walks extent trees and indirect block
// maps with bounds checks: a damaged node is still selected, its valid
// children are still followed, and what could not be followed becomes a
// warning instead of an error (e2image stops at the first one).
#ifndef E2Q_LIB_EXT4_EXT4_INODE_WALK_H_
#define E2Q_LIB_EXT4_EXT4_INODE_WALK_H_

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "lib/base/block_set.h"
#include "lib/io/file.h"

namespace e2q::ext4 {

// What the walker needs to know about the filesystem.
struct WalkGeometry {
  uint32_t block_size = 0;
  uint64_t blocks_count = 0;
  uint64_t first_data_block = 0;
  uint32_t inode_size = 0;   // bytes per on-disk inode (>= 128)
  uint32_t first_ino = 11;   // first non-reserved inode
  bool has_64bit = false;    // i_file_acl_high is meaningful
  bool has_extents = false;  // INCOMPAT_EXTENTS
  uint32_t journal_inum = 0;
  uint32_t orphan_file_inum = 0;
  uint32_t quota_inums[3] = {0, 0, 0};
  bool all_data = false;  // -a
};

// The fields of an inode that selection looks at, decoded from disk.
struct InodeFields {
  uint16_t mode = 0;
  uint16_t links_count = 0;
  uint32_t dtime = 0;
  uint32_t flags = 0;
  uint64_t size = 0;
  uint32_t blocks_lo = 0;
  uint64_t file_acl = 0;
  uint8_t i_block[60] = {};

  // Decodes `raw` (at least 128 bytes).
  static InodeFields Decode(const uint8_t* raw, bool has_64bit);
  uint32_t block(int i) const;  // i_block[i] as a 32-bit word
};

class InodeWalker {
 public:
  // `device` (not owned) is read for mapping blocks; selected blocks go to
  // `out`, problems to `warnings` (both not owned).
  InodeWalker(io::File* device, const WalkGeometry& geometry, BlockSet* out,
              std::vector<std::string>* warnings);

  // Selects what inode `ino`, stored as `raw` (geometry.inode_size bytes),
  // contributes.
  void Walk(uint32_t ino, const uint8_t* raw);

  // Also records every directory data block in `dirs` (not owned), so that
  // the entries can be read later.
  void set_dir_blocks(BlockSet* dirs) { dirs_ = dirs; }

  // The journal as e2fsck finds it when the journal inode is damaged: from
  // the copy of its i_block[] (and size) kept in the superblock's
  // s_jnl_blocks[17] (`jnl_blocks`, 68 bytes as on disk).
  void WalkJournalBackup(uint32_t journal_ino, const uint8_t* jnl_blocks);

  // Number of mapping blocks read so far (for tests and tuning).
  uint64_t blocks_read() const { return blocks_read_; }

 private:
  enum class Want { kMapping, kAll };

  void Warn(uint32_t ino, const std::string& what);
  bool InRange(uint64_t block) const;
  // Reads one block into `buf`; on failure warns and returns false.
  bool ReadBlock(uint32_t ino, const char* what, uint64_t block,
                 std::vector<uint8_t>* buf);
  void AddData(uint64_t start, uint64_t count);

  void WalkExtentRoot(uint32_t ino, const InodeFields& in, Want want);
  void WalkExtentNode(uint32_t ino, const uint8_t* node, uint32_t capacity,
                      uint32_t depth, Want want);
  void WalkIndirect(uint32_t ino, const InodeFields& in, Want want);
  void WalkIndirectBlock(uint32_t ino, uint64_t block, int level, Want want);
  // e2fsck's check_is_really_dir: the first block of a special file that
  // might be a directory.
  void SelectSpecialFirstBlock(uint32_t ino, const InodeFields& in);

  io::File* device_;
  WalkGeometry g_;
  BlockSet* out_;
  BlockSet* dirs_ = nullptr;
  bool in_dir_ = false;  // the inode being walked is a directory
  std::vector<std::string>* warnings_;
  std::vector<std::vector<uint8_t>> level_bufs_;  // one per tree level
  // Interior nodes already walked (block * 8 + level): a corrupted tree
  // that points many times at one subtree is walked once.
  std::unordered_set<uint64_t> visited_;
  uint64_t blocks_read_ = 0;
};

}  // namespace e2q::ext4

#endif  // E2Q_LIB_EXT4_EXT4_INODE_WALK_H_
