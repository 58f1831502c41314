// Rebuilding an htree (dir_index) directory after its names changed: the
// entries, sorted by their new hashes, are spread over the directory's leaf
// blocks and a fresh dx_root / dx_node index is written over the same
// logical blocks, so the directory keeps its size and its physical blocks.
// Pure: hashes come in with the entries and checksums (dx_tail, dirent
// tail) are left zero for the caller to set.
#ifndef E2Q_LIB_SCRAMBLE_SCRAMBLE_HTREE_H_
#define E2Q_LIB_SCRAMBLE_SCRAMBLE_HTREE_H_

#include <cstdint>
#include <vector>

#include "lib/base/status.h"
#include "lib/scramble/scramble_dirent.h"

namespace e2q::scramble {

// Offsets in the dx_root block (struct ext2_dx_root_info follows the "."
// and ".." records).
constexpr uint32_t kDxRootInfoOffset = 24;
constexpr uint32_t kDxRootHeaderSize = 32;  // where the root's dx entries start
constexpr uint32_t kDxNodeHeaderSize = 8;   // where a node's dx entries start
constexpr uint32_t kDxTailSize = 8;         // struct ext2_dx_tail

struct HashedEntry {
  DirEntry entry;
  uint32_t hash;  // major hash, lowest bit clear (as ext2fs_dirhash gives)
  uint32_t minor_hash;
};

struct HtreeGeometry {
  uint32_t block_size;
  bool metadata_csum;       // dx_tail on index blocks, dirent tail on leaves
  int max_indirect_levels;  // 1, or 2 with the largedir feature
  uint64_t blocks;          // logical blocks 0..blocks-1, all mapped
};

// Index layout: how many blocks each level takes.  Logical block 0 is the
// root, then `upper_nodes` and `lower_nodes` index blocks, then the leaves.
struct HtreeShape {
  int indirect_levels = 0;
  uint64_t upper_nodes = 0;  // children of the root when indirect_levels 2
  uint64_t lower_nodes = 0;  // parents of the leaves when indirect_levels >= 1
  uint64_t leaves = 0;
};

uint32_t DxRootLimit(const HtreeGeometry& g);
uint32_t DxNodeLimit(const HtreeGeometry& g);

// The shallowest shape that references every one of g.blocks blocks with
// every index block non-empty; kNotSupported if none exists.
Result<HtreeShape> ChooseHtreeShape(const HtreeGeometry& g);

// Builds the whole directory: returns g.blocks blocks in logical order.
// `root_header` is the original root's first kDxRootHeaderSize bytes ("."
// and ".." records and dx_root_info, kept but for indirect_levels).
// `entries` are sorted here.  kNotSupported when the entries do not fit the
// leaves (the caller then falls back to a linear directory).
Result<std::vector<std::vector<uint8_t>>> BuildHtree(
    const HtreeGeometry& g, const uint8_t* root_header,
    std::vector<HashedEntry> entries);

}  // namespace e2q::scramble

#endif  // E2Q_LIB_SCRAMBLE_SCRAMBLE_HTREE_H_
