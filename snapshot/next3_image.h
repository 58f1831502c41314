// ReadThroughFile: the image of one next3 snapshot as a read-only File,
// built by the kernel's read-through rule (doc/next3.md, "Reading a
// snapshot image"): image block b comes from the first snapshot, from
// snapshot k towards the active one, whose map holds b; if none does, from
// live block b, except that a live block bitmap reads as (live bitmap &
// ~exclude bitmap) of its group and a live exclude-bitmap block reads as
// zeros.  Reads of consecutive
// blocks that come from consecutive device blocks become one device read.
#ifndef E2Q_SNAPSHOT_NEXT3_IMAGE_H_
#define E2Q_SNAPSHOT_NEXT3_IMAGE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lib/base/status.h"
#include "lib/io/file.h"
#include "snapshot/next3_exclude.h"
#include "snapshot/next3_map.h"

namespace e2q::snapshot {

// What the read-through needs to know about the live filesystem.
struct LiveLayout {
  uint64_t blocks_count = 0;
  std::vector<uint64_t> block_bitmaps;  // group -> its block bitmap's block
};

class ReadThroughFile : public io::File {
 public:
  // `chain`: the map of the snapshot to show first, then each newer
  // snapshot's up to the active one (last).  `device` is not owned and must
  // outlive the file; everything else is shared, read-only.  The image is
  // `image_blocks` blocks of kBlockSize bytes.
  ReadThroughFile(std::string name, io::File* device,
                  std::vector<std::shared_ptr<const SnapshotMap>> chain,
                  std::shared_ptr<const LiveLayout> live,
                  std::shared_ptr<const ExcludeBitmap> exclude,
                  uint64_t image_blocks);

  // Where image blocks [block, block + count) come from.
  struct Source {
    enum Kind {
      kLayer,        // chain[layer]'s map: device blocks from `physical`
      kLive,         // the live filesystem: device blocks from `physical`
      kBlockBitmap,  // live bitmap & ~exclude of group `group` (count 1)
      kZero,         // an exclude bitmap block (count 1)
    };
    Kind kind = kLive;
    size_t layer = 0;
    uint64_t physical = 0;
    uint64_t group = 0;
    uint64_t count = 0;  // >= 1
  };
  // Requires block < image_blocks; count <= max_count.
  Source Resolve(uint64_t block, uint64_t max_count) const;

  // Reads image blocks [first, first + count) into `out`.  Thread-safe.
  Status ReadBlocks(uint64_t first, uint64_t count, uint8_t* out) const;

  uint64_t image_blocks() const { return image_blocks_; }

  // File.  Read-only: WriteAt and Truncate fail with kNotSupported.
  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override;
  Status WriteAt(uint64_t offset, const void* buf, size_t len) override;
  Status Sync() override { return Status::OK(); }
  Result<uint64_t> Size() override { return image_blocks_ * kBlockSize; }
  Status Truncate(uint64_t size) override;

 private:
  Status ReadDevice(uint64_t image_block, uint64_t physical, uint64_t count,
                    uint8_t* out) const;
  Status SynthesizeBitmap(uint64_t group, uint8_t* out) const;

  io::File* device_;
  std::vector<std::shared_ptr<const SnapshotMap>> chain_;
  std::shared_ptr<const LiveLayout> live_;
  std::shared_ptr<const ExcludeBitmap> exclude_;
  uint64_t image_blocks_;
  std::vector<std::pair<uint64_t, uint64_t>>
      bitmaps_;  // (block, group), sorted
};

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_NEXT3_IMAGE_H_
