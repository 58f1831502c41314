// Scrambling inline_data directories and symlinks for -s: their content
// lives in the inode itself, in i_block (60 bytes) and in the value of the
// in-inode extended attribute "system.data".  Names and targets are
// replaced there; the attribute's e_hash and the inode checksum are
// recomputed, and the inode-table block is patched.
#ifndef E2Q_LIB_SCRAMBLE_SCRAMBLE_INLINE_H_
#define E2Q_LIB_SCRAMBLE_SCRAMBLE_INLINE_H_

#include "lib/base/status.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/scramble/scramble_context.h"

namespace e2q::scramble {

// Directory `ino` has EXT4_INLINE_DATA_FL.
Status ScrambleInlineDirectory(const ScrambleContext& ctx, ext2_ino_t ino,
                               const ext2_inode_large& inode);

// Replaces the target of symlink `ino` when it is stored in the inode
// (fast symlinks and inline-data symlinks).  Sets *handled to false when
// the target is in a block instead.
Status ScrambleInodeSymlink(const ScrambleContext& ctx, ext2_ino_t ino,
                            const ext2_inode_large& inode, bool* handled);

}  // namespace e2q::scramble

#endif  // E2Q_LIB_SCRAMBLE_SCRAMBLE_INLINE_H_
