// Block selection: which blocks of an ext2/3/4 filesystem go into a
// metadata image (-r/-Q) and into a full image (-a).
//
// The metadata set is a superset of what `e2image -r` 1.47 writes (see
// doc/design.md, "Which blocks an image holds"), widened by blocks that e2fsck
// reads and e2image leaves out (backup superblocks and descriptors, whole inode
// tables of groups whose descriptor checksum fails, reserved inodes, damaged
// extent trees), so that `e2fsck -fn` sees on the image what it sees on the
// device. Blocks are always copied verbatim, so an extra block never makes an
// image wrong.  The full set (-a) equals `e2image -ra`'s on clean filesystems.
#ifndef E2Q_LIB_EXT4_EXT4_SELECT_H_
#define E2Q_LIB_EXT4_EXT4_SELECT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/block_set.h"
#include "lib/base/status.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/ext4/ext4_skipped_refs.h"

namespace e2q::ext4 {

struct SelectOptions {
  // -a: every data block of every inode with a non-zero link count too.
  bool all_data = false;
  // -b: the backup superblock the filesystem was opened through (0 =
  // primary); it and its descriptor blocks are selected.
  uint64_t backup_superblock = 0;
  // Worker threads for the inode scan (groups are split between them);
  // 0 = two on a multi-core machine when there are enough inodes to gain
  // from it.  With more than one, fs.device()->ReadSome must be safe to
  // call concurrently (PosixFile's pread and MemFile's are).
  unsigned threads = 0;
  // Leaves the pass over the directory blocks for entries that name
  // inodes the scan skipped to whoever copies the selected blocks (they
  // read those blocks anyway): Selection::skipped_refs then says what to
  // look for (lib/ext4/ext4_skipped_refs.h).
  bool defer_dir_refs = false;
};

struct Selection {
  BlockSet blocks;  // filesystem block numbers, all < blocks_count
  // What could not be read or made sense of, one line each, e.g.
  // "inode 12: extent tree block 1234: bad magic".  The selection is still
  // as complete as the readable metadata allows.
  std::vector<std::string> warnings;
  // With SelectOptions::defer_dir_refs, when some group's inodes were not
  // all scanned: the pass left to the copy.  Its blocks are not in
  // `blocks` yet.
  std::shared_ptr<const SkippedRefs> skipped_refs;
};

// Selects the blocks to image.  Reads inode tables and mapping blocks
// through fs.device() in large runs.  Fails only when nothing useful can be
// selected (e.g. no memory); damage is reported in `warnings`.
Result<Selection> SelectBlocks(const Filesystem& fs, const SelectOptions& o);

}  // namespace e2q::ext4

#endif  // E2Q_LIB_EXT4_EXT4_SELECT_H_
