// BlockPatches: a sorted map of block -> pieces, plus zeroed runs.
#include "lib/io/block_patches.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <iterator>
#include <string>

namespace e2q::io {

void BlockPatches::Set(uint64_t block, uint32_t offset,
                       std::vector<uint8_t> bytes) {
  assert(offset <= block_size_ && bytes.size() <= block_size_ - offset);
  std::vector<Piece>& pieces = patches_[block];
  // A whole-block piece makes every earlier piece irrelevant; dropping them
  // keeps memory at one copy per block.
  if (offset == 0 && bytes.size() == block_size_) pieces.clear();
  pieces.push_back(Piece{offset, std::move(bytes)});
}

void BlockPatches::Zero(uint64_t first, uint64_t count) {
  if (count == 0) return;
  uint64_t end = first + count < first ? UINT64_MAX : first + count;
  auto it = zeros_.upper_bound(first);
  if (it != zeros_.begin() && std::prev(it)->second >= first) --it;
  while (it != zeros_.end() && it->first <= end) {
    first = std::min(first, it->first);
    end = std::max(end, it->second);
    it = zeros_.erase(it);
  }
  zeros_.emplace(first, end);
}

uint64_t BlockPatches::zeroed_blocks() const {
  uint64_t n = 0;
  for (const auto& [start, end] : zeros_) n += end - start;
  return n;
}

Status BlockPatches::Apply(uint64_t first, uint64_t count,
                           uint8_t* data) const {
  if (count == 0) return Status::OK();
  uint64_t end = first + count;
  if (end < first || count > SIZE_MAX / block_size_) {
    return Status::InvalidArgument("scramble: apply: block range " +
                                   std::to_string(first) + "+" +
                                   std::to_string(count) + " overflows");
  }
  // Zeroed runs first, so that a Set patch inside one still shows.
  auto z = zeros_.upper_bound(first);
  if (z != zeros_.begin() && std::prev(z)->second > first) --z;
  for (; z != zeros_.end() && z->first < end; ++z) {
    uint64_t lo = std::max(first, z->first);
    uint64_t hi = std::min(end, z->second);
    std::memset(data + (lo - first) * block_size_, 0, (hi - lo) * block_size_);
  }
  for (auto it = patches_.lower_bound(first);
       it != patches_.end() && it->first < end; ++it) {
    uint8_t* block = data + (it->first - first) * block_size_;
    for (const Piece& p : it->second) {
      std::memcpy(block + p.offset, p.bytes.data(), p.bytes.size());
    }
  }
  return Status::OK();
}

}  // namespace e2q::io
