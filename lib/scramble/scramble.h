// lib/scramble: the -s privacy transform (names, symlink targets, htree
// indexes, checksums).  Namespace e2q::scramble; includes lib/ext4,
// lib/io and lib/base.
//
// Scrambler: the privacy transform behind -s.  Plans, from a filesystem
// open read-only, new content for every block that holds a name or a
// symlink target (directory blocks, slow-symlink blocks, inode-table blocks
// of fast symlinks and inline directories) with hashes and checksums
// recomputed so that a clean filesystem gives a clean image, and applies
// the plan to block buffers on their way to the image (a BlockTransform of
// lib/image/copy_pipeline.h).  What is and is not hidden: doc/scramble.md.
//
// XXX: the plan keeps the new content of every changed block in memory
// (roughly the size of all directories plus one inode per symlink), which
// is fine for ordinary filesystems but large for ones with tens of
// millions of files.
#ifndef E2Q_LIB_SCRAMBLE_SCRAMBLE_H_
#define E2Q_LIB_SCRAMBLE_SCRAMBLE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/status.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/io/block_patches.h"
#include "lib/scramble/scramble_context.h"

namespace e2q::scramble {

class Scrambler {
 public:
  struct Options {
    // Zero the journal's log blocks (not its superblock) when the journal
    // needs no recovery: they hold old copies of directory blocks, names
    // included, that nothing reads on a clean filesystem.
    bool zero_journal = true;
    // Make htree directories linear instead of rebuilding their index.
    bool htree_to_linear = false;
  };

  // Plans the scramble of every directory in `fs` (names, htree, checksums)
  // and symlink targets, with default options.
  static Result<std::unique_ptr<Scrambler>> Create(const ext4::Filesystem& fs);
  // The same on a raw handle, which need only live during the call.
  static Result<std::unique_ptr<Scrambler>> Create(ext2_filsys fs,
                                                   const Options& options);

  // The BlockTransform: rewrites, in the blocks [first, first + count) held
  // in `data` (count * block size bytes), every directory block,
  // slow-symlink block and inode-table block that the plan changes, and
  // zeroes planned journal blocks.  Thread-safe (reads the plan only).
  Status Apply(uint64_t first, uint64_t count, uint8_t* data) const {
    return patches_.Apply(first, count, data);
  }

  const ScrambleStats& stats() const { return stats_; }
  // What was left unscrambled and why, one line each ("directory 12:
  // ..."), for the CLI to print.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Number of blocks the plan rewrites (zeroed journal blocks excluded).
  uint64_t changed_blocks() const { return patches_.patched_blocks(); }

 private:
  explicit Scrambler(uint32_t block_size) : patches_(block_size) {}
  Status PlanInodes(ext2_filsys fs, const Options& options);
  Status PlanSymlink(const ScrambleContext& ctx, ext2_ino_t ino,
                     const ext2_inode_large& inode);
  Status PlanJournal(ext2_filsys fs);

  io::BlockPatches patches_;
  ScrambleStats stats_;
  std::vector<std::string> warnings_;
};

}  // namespace e2q::scramble

#endif  // E2Q_LIB_SCRAMBLE_SCRAMBLE_H_
