// Scrambling one directory for -s: every name but ".", ".." (and
// "lost+found" in the root) is replaced by a generated name of the same
// length; linear directory blocks are rewritten in place, htree directories
// get a rebuilt index (or, when that is impossible, are made linear);
// metadata_csum checksums are recomputed.  The new blocks go into a
// BlockPatches; the filesystem is only read.
#ifndef E2Q_LIB_SCRAMBLE_SCRAMBLE_DIR_H_
#define E2Q_LIB_SCRAMBLE_SCRAMBLE_DIR_H_

#include "lib/base/status.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/scramble/scramble_context.h"

namespace e2q::scramble {

// Plans the scramble of directory `ino` (`inode` as libext2fs read it).
// Damage confined to the directory (unreadable blocks, bad records) leaves
// the affected parts unchanged and adds a warning; errors are returned
// only for failures that make the whole plan unreliable.
Status ScrambleDirectory(const ScrambleContext& ctx, ext2_ino_t ino,
                         const ext2_inode_large& inode);

}  // namespace e2q::scramble

#endif  // E2Q_LIB_SCRAMBLE_SCRAMBLE_DIR_H_
