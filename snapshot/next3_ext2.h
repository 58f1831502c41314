// The libext2fs side of the snapshot code: reading the inode fields and the
// group layout it needs from an open filesystem (the live one or a
// snapshot image), so that the other snapshot files work on plain data.
#ifndef E2Q_SNAPSHOT_NEXT3_EXT2_H_
#define E2Q_SNAPSHOT_NEXT3_EXT2_H_

#include <cstdint>
#include <vector>

#include "lib/base/block_set.h"
#include "lib/base/status.h"
#include "lib/ext4/ext2_fs.h"
#include "snapshot/next3_format.h"

namespace e2q::snapshot {

// Reads inode `ino` (1 <= ino <= s_inodes_count).
Result<Next3Inode> ReadNext3Inode(const ext4::Filesystem& fs, uint32_t ino);

// Every block that holds filesystem metadata at a fixed place: superblocks
// and group descriptors (reserved descriptor blocks included) of every
// group that has them, block and inode bitmaps, inode tables.  No block of
// a file may be one of these.
BlockSet FixedMetadataBlocks(const ext4::Filesystem& fs);

// The block bitmap block of every group.
std::vector<uint64_t> BlockBitmapLocations(const ext4::Filesystem& fs);

// bg_exclude_bitmap (lo, and hi with 64-byte descriptors) of every group.
std::vector<uint64_t> ExcludeBitmapLocations(const ext4::Filesystem& fs);

// Where inode `ino`'s on-disk record is: the block and the byte offset in
// it.
struct InodeLocation {
  uint64_t block = 0;
  uint32_t offset = 0;
  uint32_t size = 0;  // the inode size
};
Result<InodeLocation> LocateInode(const ext4::Filesystem& fs, uint32_t ino);

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_NEXT3_EXT2_H_
