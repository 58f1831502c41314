// ExcludeBitmap: where each group's exclude bitmap lives, and reading it.
#include "snapshot/next3_exclude.h"

#include <algorithm>
#include <cstring>

namespace e2q::snapshot {

namespace {
std::string Num(uint64_t v) { return std::to_string(v); }
}  // namespace

ExcludeBitmap::ExcludeBitmap(std::vector<uint64_t> group_blocks)
    : group_blocks_(std::move(group_blocks)) {
  for (uint64_t b : group_blocks_) {
    if (b != 0) sorted_.push_back(b);
  }
  std::sort(sorted_.begin(), sorted_.end());
}

Result<ExcludeBitmap> ExcludeBitmap::FromExcludeInode(
    io::File* device, const std::string& context, const Next3Inode& inode,
    uint64_t groups, const MapLimits& limits) {
  auto bad = [&](const std::string& what) {
    return Status::Corruption(context + ": " + what);
  };
  if (!inode.is_regular()) return bad("not a regular file");
  if (inode.flags & kExtentsFl) return bad("extent-mapped");
  for (int slot = 0; slot < kNumSlots; ++slot) {
    if (slot != kDindSlot && inode.block[slot] != 0) {
      return bad("i_block[" + Num(slot) + "] is " + Num(inode.block[slot]) +
                 " (the exclude inode uses only i_block[13])");
    }
  }
  if (inode.block[kDindSlot] == 0)
    return bad("no block map (i_block[13] is 0)");
  MapLimits l = limits;
  l.image_blocks = groups;
  uint32_t roots[kNumSlots] = {};
  roots[kDindSlot] = inode.block[kDindSlot];
  Result<SnapshotMap> map = ReadSnapshotMap(device, context, roots, l);
  if (!map.ok()) return map.status();
  std::vector<uint64_t> blocks(groups, 0);
  for (const SnapshotMap::Run& r : map->runs()) {
    for (uint64_t i = 0; i < r.count; ++i) blocks[r.image + i] = r.physical + i;
  }
  for (uint64_t g = 0; g < groups; ++g) {
    if (blocks[g] == 0)
      return bad("no exclude bitmap block for group " + Num(g));
  }
  return ExcludeBitmap(std::move(blocks));
}

bool ExcludeBitmap::IsBitmapBlock(uint64_t block) const {
  return std::binary_search(sorted_.begin(), sorted_.end(), block);
}

uint64_t ExcludeBitmap::NextBitmapBlock(uint64_t block) const {
  auto it = std::lower_bound(sorted_.begin(), sorted_.end(), block);
  return it == sorted_.end() ? UINT64_MAX : *it;
}

Status ExcludeBitmap::ReadGroup(io::File* device, uint64_t g,
                                uint8_t* out) const {
  const uint64_t b = group_block(g);
  if (b == 0) {
    std::memset(out, 0, kBlockSize);
    return Status::OK();
  }
  return device->ReadAt(b * kBlockSize, out, kBlockSize);
}

}  // namespace e2q::snapshot
