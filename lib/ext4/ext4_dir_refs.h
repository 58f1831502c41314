// Directory entries, read only for the inode numbers they name.
//
// e2fsck's pass 2 reads the on-disk inode of every entry whose inode pass 1
// did not scan (one in an INODE_UNINIT group or past bg_itable_unused), to
// report it; the image must hold those inode table blocks too, though
// e2image skips them.  Finding them means reading the directory blocks.
// XXX: entries of inline-data directories (in the inode and its xattrs)
// are not looked at.
#ifndef E2Q_LIB_EXT4_EXT4_DIR_REFS_H_
#define E2Q_LIB_EXT4_EXT4_DIR_REFS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lib/base/block_set.h"
#include "lib/io/file.h"

namespace e2q::ext4 {

// Reads every block of `dir_blocks` from `device` (in large runs) and calls
// `on_entry` with the inode number of each well-formed entry with a
// non-zero inode.  Parsing a block stops at its first malformed record
// length, as e2fsck's would.  Read failures go to `warnings`.
void ForEachDirEntryInode(io::File* device, uint32_t block_size,
                          const BlockSet& dir_blocks,
                          const std::function<void(uint32_t ino)>& on_entry,
                          std::vector<std::string>* warnings);

// The entries of one directory block (exposed for tests).
void ForEachEntryInBlock(const uint8_t* block, uint32_t block_size,
                         const std::function<void(uint32_t ino)>& on_entry);

}  // namespace e2q::ext4

#endif  // E2Q_LIB_EXT4_EXT4_DIR_REFS_H_
