// The -x normalisation: the few block changes that turn a next3 snapshot
// image into a filesystem a stock e2fsck 1.47 accepts (doc/next3.md).
//   - superblock: IS_SNAPSHOT (and FIX_SNAPSHOT, FIX_EXCLUDE) cleared in
//     s_flags, has_snapshot, exclude_inode and exclude_bitmap features
//     cleared, s_snapshot_inum/id/r_blocks_count/list zeroed, free block
//     and inode counts recomputed;
//   - the exclude inode (ino 9) cleared and its blocks (and any
//     bg_exclude_bitmap blocks) freed in the block bitmaps and zeroed;
//   - snapshot files that were on the list at take but had no link (links
//     count 0: only the list kept them) released as e2fsck would: i_dtime
//     set, inode bitmap bit cleared;
//   - group descriptors: bg_exclude_bitmap cleared, free block and inode
//     counts recomputed from the bitmaps, checksum updated (gdt_csum);
// Only the primary superblock and descriptors change; backups stay as the
// snapshot shows them.  Snapshot files are left as the empty files next3
// shows.
#ifndef E2Q_SNAPSHOT_NEXT3_NORMALISE_H_
#define E2Q_SNAPSHOT_NEXT3_NORMALISE_H_

#include <cstdint>
#include <vector>

#include "lib/base/block_set.h"
#include "lib/base/status.h"
#include "lib/io/block_patches.h"
#include "lib/io/file.h"

namespace e2q::snapshot {

struct Normalisation {
  io::BlockPatches patches{4096};         // to apply over the image
  BlockSet changed;                       // blocks with a patch
  BlockSet released;                      // blocks freed and zeroed
  std::vector<uint32_t> released_inodes;  // unlinked snapshot files freed
};

// Computes the normalisation of `image` (a snapshot image as next3 shows
// it, `blocks_count` blocks) of the snapshot whose file is inode
// `snapshot_ino` (0: none; the snapshot list as it was at take is walked
// from there through i_next_snapshot in the image).  Reads its superblock,
// descriptors, bitmaps and exclude inode through libext2fs.  kCorruption when
// the image's metadata cannot be read or does not match `blocks_count`;
// kNotSupported for images with metadata_csum (never made by next3).
Result<Normalisation> Normalise(io::File* image, uint64_t blocks_count,
                                uint32_t snapshot_ino);

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_NEXT3_NORMALISE_H_
