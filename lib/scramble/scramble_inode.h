// Editing inodes in inode-table blocks for -s: reads an inode's on-disk
// bytes, and records changed bytes (fast symlink targets, a cleared
// EXT2_INDEX_FL) as a patch of its inode-table block with the inode
// checksum recomputed.  The filesystem itself is never written.
#ifndef E2Q_LIB_SCRAMBLE_SCRAMBLE_INODE_H_
#define E2Q_LIB_SCRAMBLE_SCRAMBLE_INODE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "lib/base/status.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/io/block_patches.h"

namespace e2q::scramble {

// Offsets in the on-disk inode (struct ext2_inode).
constexpr uint32_t kInodeFlagsOffset = 32;  // i_flags
constexpr uint32_t kInodeBlockOffset = 40;  // i_block[]
constexpr uint32_t kInodeBlockSize = 60;    // sizeof(i_block)

class InodeEditor {
 public:
  // `fs` and `patches` are not owned and must outlive the editor.
  InodeEditor(ext2_filsys fs, io::BlockPatches* patches)
      : fs_(fs), patches_(patches) {}

  // The on-disk bytes of inode `ino` (inode size bytes, little-endian),
  // as the device holds them.
  Result<std::vector<uint8_t>> Read(ext2_ino_t ino);
  // Records `raw` (inode size bytes) as the new content of inode `ino`,
  // with i_checksum recomputed when the filesystem has metadata_csum.
  Status Write(ext2_ino_t ino, std::vector<uint8_t> raw);

 private:
  struct Location {
    uint64_t block;
    uint32_t offset;
  };
  Result<Location> Locate(ext2_ino_t ino) const;

  ext2_filsys fs_;
  io::BlockPatches* patches_;
  // The last inode-table block read: inodes are visited in order, so most
  // reads hit it.
  uint64_t cached_block_ = 0;
  std::vector<uint8_t> cache_;
};

}  // namespace e2q::scramble

#endif  // E2Q_LIB_SCRAMBLE_SCRAMBLE_INODE_H_
