// What the parts of a scramble share while it plans: the filesystem, the
// patches it collects, the inode editor, its statistics and warnings.  The
// directory, inline-data and symlink planners all take a ScrambleContext;
// Scrambler (scramble.h) owns what it points to.
#ifndef E2Q_LIB_SCRAMBLE_SCRAMBLE_CONTEXT_H_
#define E2Q_LIB_SCRAMBLE_SCRAMBLE_CONTEXT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "lib/ext4/ext2_fs.h"
#include "lib/io/block_patches.h"
#include "lib/scramble/scramble_inode.h"

namespace e2q::scramble {

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
  io::BlockPatches* patches;
  InodeEditor* inodes;
  ScrambleStats* stats;
  std::vector<std::string>* warnings;
  // Make every htree directory linear instead of re-indexing it (tests the
  // fallback; also a way out should a rebuilt index ever be refused).
  bool htree_to_linear = false;
};

}  // namespace e2q::scramble

#endif  // E2Q_LIB_SCRAMBLE_SCRAMBLE_CONTEXT_H_
