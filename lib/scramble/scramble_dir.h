// Scrambling one directory for -s: every name but ".", ".." (and
// "lost+found" in the root) is replaced by a generated name of the same
// length; linear directory blocks are rewritten in place, htree directories
// get a rebuilt index (or, when that is impossible, are made linear);
// metadata_csum checksums are recomputed.  The new blocks go into a
// BlockPatches; the filesystem is only read.
#ifndef E2Q_LIB_SCRAMBLE_SCRAMBLE_DIR_H_
#define E2Q_LIB_SCRAMBLE_SCRAMBLE_DIR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "lib/base/status.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/io/block_patches.h"
#include "lib/scramble/scramble_inode.h"

namespace e2q::ext4 {

// What a scramble changed and left alone, for the report of the CLI.
struct ScrambleStats {
  uint64_t directories = 0;       // directories whose blocks were rewritten
  uint64_t names = 0;             // entries renamed
  uint64_t htree_rebuilt = 0;     // htree directories re-indexed
  uint64_t htree_linearized = 0;  // htree directories made linear instead
  uint64_t inline_directories = 0;
  uint64_t fast_symlinks = 0;  // targets in the inode (inline data included)
  uint64_t slow_symlinks = 0;  // targets in a block
  uint64_t skipped_encrypted = 0;  // encrypted directories and symlinks
  uint64_t skipped_other = 0;      // left alone for a reason in warnings
  uint64_t journal_blocks_zeroed = 0;
};

struct ScrambleContext {
  ext2_filsys fs;
  BlockPatches* patches;
  InodeEditor* inodes;
  ScrambleStats* stats;
  std::vector<std::string>* warnings;
  // Make every htree directory linear instead of re-indexing it (tests the
  // fallback; also a way out should a rebuilt index ever be refused).
  bool htree_to_linear = false;
};

// Plans the scramble of directory `ino` (`inode` as libext2fs read it).
// Damage confined to the directory (unreadable blocks, bad records) leaves
// the affected parts unchanged and adds a warning; errors are returned
// only for failures that make the whole plan unreliable.
Status ScrambleDirectory(const ScrambleContext& ctx, ext2_ino_t ino,
                         const ext2_inode_large& inode);

}  // namespace e2q::ext4

#endif  // E2Q_LIB_SCRAMBLE_SCRAMBLE_DIR_H_
