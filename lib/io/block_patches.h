// BlockPatches: replacement bytes for parts of filesystem blocks, applied to
// block buffers on their way to an image.  The scrambler (lib/scramble/scramble.h)
// plans every change up front into one of these, so that applying them is a
// lookup per buffer, whatever order the copy pipeline reads blocks in.
#ifndef E2Q_LIB_IO_BLOCK_PATCHES_H_
#define E2Q_LIB_IO_BLOCK_PATCHES_H_

#include <cstdint>
#include <map>
#include <vector>

#include "lib/base/status.h"

namespace e2q::io {

class BlockPatches {
 public:
  explicit BlockPatches(uint32_t block_size) : block_size_(block_size) {}

  uint32_t block_size() const { return block_size_; }

  // Replaces bytes [offset, offset + bytes.size()) of `block`.  A later
  // patch over the same bytes wins.  Requires offset + size <= block_size.
  void Set(uint64_t block, uint32_t offset, std::vector<uint8_t> bytes);
  // Replaces the whole block.  Requires content.size() == block_size.
  void SetBlock(uint64_t block, std::vector<uint8_t> content) {
    Set(block, 0, std::move(content));
  }
  // Makes [first, first + count) read as zeros (before any Set patch).
  void Zero(uint64_t first, uint64_t count);

  // True if `block` has a Set patch.
  bool Has(uint64_t block) const { return patches_.count(block) != 0; }
  // Number of blocks with a Set patch, and of zeroed blocks.
  uint64_t patched_blocks() const { return patches_.size(); }
  uint64_t zeroed_blocks() const;

  // Rewrites, in `data` (count * block_size bytes holding blocks [first,
  // first + count)), every patched or zeroed block in that range.
  Status Apply(uint64_t first, uint64_t count, uint8_t* data) const;

 private:
  struct Piece {
    uint32_t offset;
    std::vector<uint8_t> bytes;
  };
  uint32_t block_size_;
  std::map<uint64_t, std::vector<Piece>> patches_;
  std::map<uint64_t, uint64_t> zeros_;  // start -> end (exclusive), disjoint
};

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_BLOCK_PATCHES_H_
