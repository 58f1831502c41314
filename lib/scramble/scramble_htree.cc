// Htree rebuild: shape, leaf packing, index blocks.
#include "lib/scramble/scramble_htree.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "lib/base/endian.h"

namespace e2q::scramble {

namespace {

constexpr uint32_t kDxEntrySize = 8;  // struct ext2_dx_entry: hash, block

struct IndexRef {
  uint32_t hash;   // lower bound of the child's hashes (bit 0: continued)
  uint32_t block;  // logical block of the child
};

// Writes a dx_countlimit and its entries at `at`.  The first entry's hash
// slot holds the count and limit, so only its block is stored.
void WriteDxEntries(uint8_t* at, uint32_t limit,
                    const std::vector<IndexRef>& refs, size_t begin,
                    size_t end) {
  StoreLE16(at, static_cast<uint16_t>(limit));
  StoreLE16(at + 2, static_cast<uint16_t>(end - begin));
  StoreLE32(at + 4, refs[begin].block);
  for (size_t i = begin + 1; i < end; ++i) {
    uint8_t* e = at + (i - begin) * kDxEntrySize;
    StoreLE32(e, refs[i].hash);
    StoreLE32(e + 4, refs[i].block);
  }
}

// Splits `children` into `nodes` index blocks numbered from `first_block`,
// as evenly as possible, and returns the references the level above needs.
std::vector<IndexRef> BuildNodeLevel(const std::vector<IndexRef>& children,
                                     uint64_t nodes, uint32_t first_block,
                                     uint32_t limit, uint32_t block_size,
                                     std::vector<std::vector<uint8_t>>* out) {
  std::vector<IndexRef> parents;
  uint64_t n = children.size();
  for (uint64_t i = 0; i < nodes; ++i) {
    size_t lo = static_cast<size_t>(i * n / nodes);
    size_t hi = static_cast<size_t>((i + 1) * n / nodes);
    uint32_t block = first_block + static_cast<uint32_t>(i);
    std::vector<uint8_t>& buf = (*out)[block];
    buf.assign(block_size, 0);
    // The fake record that makes the node read as one unused dirent.
    EncodeRecLen(buf.data(), block_size, block_size);
    WriteDxEntries(buf.data() + kDxNodeHeaderSize, limit, children, lo, hi);
    parents.push_back(IndexRef{children[lo].hash, block});
  }
  return parents;
}

// Fills leaf start offsets: entries [starts[j], starts[j+1]) go to leaf j.
// Balanced mode aims at equal fill, leaving room for later inserts as the
// kernel's splits would; greedy mode fills each leaf up.
bool PackLeaves(const std::vector<uint32_t>& sizes, uint64_t leaves,
                uint32_t capacity, bool balanced, std::vector<size_t>* starts) {
  uint64_t remaining = 0;
  for (uint32_t s : sizes) remaining += s;
  size_t i = 0;
  starts->assign(leaves + 1, 0);
  for (uint64_t j = 0; j < leaves; ++j) {
    (*starts)[j] = i;
    uint64_t target = (remaining + (leaves - j) - 1) / (leaves - j);
    uint64_t used = 0;
    while (i < sizes.size() && used + sizes[i] <= capacity) {
      if (balanced && used >= target && j + 1 != leaves) break;
      used += sizes[i];
      remaining -= sizes[i];
      ++i;
    }
  }
  (*starts)[leaves] = i;
  return i == sizes.size();
}

}  // namespace

uint32_t DxRootLimit(const HtreeGeometry& g) {
  return (g.block_size - kDxRootHeaderSize -
          (g.metadata_csum ? kDxTailSize : 0)) /
         kDxEntrySize;
}

uint32_t DxNodeLimit(const HtreeGeometry& g) {
  return (g.block_size - kDxNodeHeaderSize -
          (g.metadata_csum ? kDxTailSize : 0)) /
         kDxEntrySize;
}

Result<HtreeShape> ChooseHtreeShape(const HtreeGeometry& g) {
  const uint64_t root = DxRootLimit(g), node = DxNodeLimit(g);
  if (g.blocks < 2) {
    return Status::NotSupported("htree: directory has no leaf block");
  }
  const uint64_t avail = g.blocks - 1;  // all but the root
  HtreeShape s;
  if (avail <= root) {
    s.leaves = avail;
    return s;
  }
  // One level of nodes: the fewest nodes k whose k * node slots hold the
  // remaining avail - k leaves.
  if (g.max_indirect_levels >= 1) {
    for (uint64_t k = 1; k <= root && k < avail; ++k) {
      uint64_t leaves = avail - k;
      if (leaves > k * node) continue;
      if (leaves < k) break;
      s.indirect_levels = 1;
      s.lower_nodes = k;
      s.leaves = leaves;
      return s;
    }
  }
  if (g.max_indirect_levels >= 2) {
    for (uint64_t a = 1; a <= root && a < avail; ++a) {
      uint64_t rest = avail - a;  // lower nodes + leaves
      uint64_t b = std::max<uint64_t>(a, (rest + node) / (node + 1));
      if (b > a * node || b >= rest) continue;
      uint64_t leaves = rest - b;
      if (leaves > b * node || leaves < b) continue;
      s.indirect_levels = 2;
      s.upper_nodes = a;
      s.lower_nodes = b;
      s.leaves = leaves;
      return s;
    }
  }
  return Status::NotSupported("htree: " + std::to_string(g.blocks) +
                              " blocks need a deeper index than allowed");
}

Result<std::vector<std::vector<uint8_t>>> BuildHtree(
    const HtreeGeometry& g, const uint8_t* root_header,
    std::vector<HashedEntry> entries) {
  E2Q_ASSIGN_OR_RETURN(HtreeShape shape, ChooseHtreeShape(g));
  std::sort(entries.begin(), entries.end(),
            [](const HashedEntry& a, const HashedEntry& b) {
              if (a.hash != b.hash) return a.hash < b.hash;
              if (a.minor_hash != b.minor_hash) {
                return a.minor_hash < b.minor_hash;
              }
              return a.entry.name < b.entry.name;
            });
  std::vector<DirEntry> plain;
  std::vector<uint32_t> hashes, sizes;
  plain.reserve(entries.size());
  for (HashedEntry& e : entries) {
    hashes.push_back(e.hash);
    sizes.push_back(DirentSize(e.entry.name.size()));
    plain.push_back(std::move(e.entry));
  }
  const uint32_t capacity = LeafCapacity(g.metadata_csum, g.block_size);
  std::vector<size_t> starts;
  if (!PackLeaves(sizes, shape.leaves, capacity, true, &starts) &&
      !PackLeaves(sizes, shape.leaves, capacity, false, &starts)) {
    return Status::NotSupported("htree: entries do not fit the leaves");
  }

  std::vector<std::vector<uint8_t>> blocks(g.blocks);
  const uint32_t first_leaf =
      static_cast<uint32_t>(1 + shape.upper_nodes + shape.lower_nodes);
  std::vector<IndexRef> refs;
  for (uint64_t j = 0; j < shape.leaves; ++j) {
    size_t lo = starts[j], hi = starts[j + 1];
    uint32_t hash;
    if (lo < hi) {
      hash = hashes[lo];
      // Bit 0 says the previous leaf ends with the same hash, so a lookup
      // must go on into this one (the kernel's collision continuation).
      if (lo > 0 && hashes[lo - 1] == hash) hash |= 1;
    } else {
      hash = (lo > 0 ? hashes[lo - 1] : 0) | 1;
    }
    uint32_t block = first_leaf + static_cast<uint32_t>(j);
    blocks[block].resize(g.block_size);
    BuildLeafBlock(plain, lo, hi, g.metadata_csum, g.block_size,
                   blocks[block].data());
    refs.push_back(IndexRef{hash, block});
  }
  if (shape.indirect_levels >= 1) {
    refs = BuildNodeLevel(refs, shape.lower_nodes,
                          static_cast<uint32_t>(1 + shape.upper_nodes),
                          DxNodeLimit(g), g.block_size, &blocks);
  }
  if (shape.indirect_levels >= 2) {
    refs = BuildNodeLevel(refs, shape.upper_nodes, 1, DxNodeLimit(g),
                          g.block_size, &blocks);
  }
  std::vector<uint8_t>& root = blocks[0];
  root.assign(g.block_size, 0);
  std::memcpy(root.data(), root_header, kDxRootHeaderSize);
  EncodeRecLen(root.data(), 12, g.block_size);
  EncodeRecLen(root.data() + 12, g.block_size - 12, g.block_size);
  root[kDxRootInfoOffset + 6] = static_cast<uint8_t>(shape.indirect_levels);
  WriteDxEntries(root.data() + kDxRootHeaderSize, DxRootLimit(g), refs, 0,
                 refs.size());
  return blocks;
}

}  // namespace e2q::scramble
