// SkippedRefs: the inode table blocks that directory entries make e2fsck
// read although the inode scan skipped them (lib/ext4/ext4_dir_refs.h),
// found in directory blocks that someone reads anyway.
//
// SelectBlocks reads every directory block for them; a copy of the
// selected blocks reads the same blocks again.  With
// SelectOptions::defer_dir_refs the selection leaves that pass to the copy
// (a warm -Q of a copy of /usr spent half its selection time, 10 ms, on
// it): the copy shows the directory blocks it read to Inspect(), and in
// the rare case that an entry names a skipped inode (a damaged filesystem)
// the copy is made again with the blocks found.
#ifndef E2Q_LIB_EXT4_EXT4_SKIPPED_REFS_H_
#define E2Q_LIB_EXT4_EXT4_SKIPPED_REFS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "lib/base/block_set.h"
#include "lib/io/file.h"

namespace e2q::ext4 {

class SkippedRefs {
 public:
  // Where one group's inode table is and how much of it the scan covered.
  struct Table {
    uint64_t table = 0;    // first block; 0 = no usable table
    uint64_t blocks = 0;   // table blocks inside the filesystem
    uint64_t scanned = 0;  // inodes scanned from the start
  };
  struct Geometry {
    uint32_t block_size = 0;
    uint32_t inode_size = 0;
    uint64_t inodes_per_group = 0;
    uint64_t cluster_ratio = 1;  // blocks per bigalloc cluster
    uint64_t blocks_count = 0;
    uint64_t first_data_block = 0;
  };

  SkippedRefs(const Geometry& geo, std::vector<Table> tables, BlockSet dirs);

  // Threads for ReadAndInspect when none are asked for: two on a
  // multi-core machine.
  static unsigned DefaultThreads();

  // The directory blocks the scan found.
  const BlockSet& dirs() const { return dirs_; }

  // The table block that holds inode `ino` when the scan skipped it, else
  // 0.
  uint64_t SkippedTableBlock(uint32_t ino) const;
  // Adds to `found` the table blocks of skipped inodes named by the
  // directory blocks among blocks [first, first + count), whose bytes are
  // at `data`.  Const, so safe on several threads with their own `found`.
  void Inspect(uint64_t first, uint64_t count, const uint8_t* data,
               BlockSet* found) const;
  // The same for the directory blocks of `which`, read from `device` on
  // `threads` threads (0: DefaultThreads()): the pass
  // SelectBlocks makes itself when it does not defer it.  Read failures go to
  // `warnings`, in block order.
  void ReadAndInspect(io::File* device, const BlockSet& which, unsigned threads,
                      BlockSet* found,
                      std::vector<std::string>* warnings) const;
  // Blocks found, as SelectBlocks selects them: whole bigalloc clusters
  // inside the filesystem, none below its first data block.
  BlockSet Widen(const BlockSet& found) const;

 private:
  const Geometry geo_;
  const std::vector<Table> tables_;
  const BlockSet dirs_;
  const std::vector<BlockRun> dir_runs_;  // dirs_, for range lookups
};

}  // namespace e2q::ext4

#endif  // E2Q_LIB_EXT4_EXT4_SKIPPED_REFS_H_
