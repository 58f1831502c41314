// A snapshot file's block map: which physical block holds image block b of
// the snapshot, read from the indirect tree (DIND in i_block[13], TIND in
// i_block[14], extra TINDs in raw i_block[0..2]; libext2fs's iterator knows
// only the first two).  The tree is read once, level by level, in large
// reads, every pointer validated, into sorted runs: memory grows with the
// number of runs of mapped blocks (contiguous copies cost one run), not
// with the filesystem.
#ifndef E2Q_SNAPSHOT_NEXT3_MAP_H_
#define E2Q_SNAPSHOT_NEXT3_MAP_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lib/base/block_set.h"
#include "lib/base/status.h"
#include "lib/io/file.h"
#include "snapshot/next3_format.h"

namespace e2q::snapshot {

// What the pointers of a map may name.
struct MapLimits {
  uint64_t fs_blocks = 0;     // every pointer must be below this
  uint64_t image_blocks = 0;  // every mapped image block must be below this
  // Blocks no pointer may name (superblocks, descriptors, bitmaps, inode
  // tables); may be null.  Not owned.
  const BlockSet* reserved = nullptr;
};

class SnapshotMap {
 public:
  // Image blocks [image, image + count) are held by physical blocks
  // [physical, physical + count).
  struct Run {
    uint64_t image;
    uint64_t physical;
    uint64_t count;
  };

  SnapshotMap() = default;
  // From (image block, physical block) pairs in any order, each image block
  // at most once; `indirect` = the tree's own pointer blocks.
  static SnapshotMap FromPairs(std::vector<std::pair<uint64_t, uint64_t>> pairs,
                               BlockSet indirect);
  // From runs in any order, not overlapping in image blocks.
  static SnapshotMap FromRuns(std::vector<Run> runs, BlockSet indirect);

  // The runs, sorted by image block, maximal (adjacent runs that continue
  // each other physically are merged).
  const std::vector<Run>& runs() const { return runs_; }
  uint64_t mapped_blocks() const { return mapped_; }
  // The DIND/TIND/IND blocks of the tree (roots included).
  const BlockSet& indirect_blocks() const { return indirect_; }

  struct Lookup {
    bool mapped = false;
    uint64_t physical = 0;  // when mapped
    // Blocks from the one looked up that are mapped contiguously (when
    // mapped) or unmapped (when not; UINT64_MAX - block when no mapped
    // block follows).  At least 1.
    uint64_t count = 0;
  };
  Lookup Find(uint64_t block) const;

 private:
  std::vector<Run> runs_;
  uint64_t mapped_ = 0;
  BlockSet indirect_;
};

// Reads the map rooted in `i_block` (raw slots, as on disk) from `device`
// (4096-byte blocks).  Slots 3..12 are ignored (the list checks that they
// are zero).  Errors are kCorruption "CONTEXT: what is wrong", e.g.
// "fs.img: snapshot inode 13: image block 5 maps to block 99999, past the
// end of the filesystem (8192 blocks)"; a read past the end of `device` is
// reported the same way.
Result<SnapshotMap> ReadSnapshotMap(io::File* device,
                                    const std::string& context,
                                    const uint32_t (&i_block)[kNumSlots],
                                    const MapLimits& limits);

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_NEXT3_MAP_H_
