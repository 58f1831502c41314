// Bounded LRU cache of qcow2 L2 tables.
#include "lib/qcow2/qcow2_l2_cache.h"

#include <algorithm>

namespace e2q::qcow2 {

L2Cache::L2Cache(size_t entries, size_t budget_bytes)
    : entries_(entries),
      capacity_(std::max<size_t>(2, budget_bytes / (entries * 8))) {}

const uint64_t* L2Cache::Find(uint64_t offset) {
  auto it = index_.find(offset);
  if (it == index_.end()) return nullptr;
  if (it->second != lru_.begin()) {
    lru_.splice(lru_.begin(), lru_, it->second);
  }
  return lru_.front().table.get();
}

uint64_t* L2Cache::Insert(uint64_t offset) {
  Erase(offset);
  std::unique_ptr<uint64_t[]> table;
  if (lru_.size() >= capacity_) {
    // Reuse the evicted table's memory.
    table = std::move(lru_.back().table);
    index_.erase(lru_.back().offset);
    lru_.pop_back();
  } else {
    table.reset(new uint64_t[entries_]);
  }
  lru_.push_front(Slot{offset, std::move(table)});
  index_[offset] = lru_.begin();
  return lru_.front().table.get();
}

void L2Cache::Erase(uint64_t offset) {
  auto it = index_.find(offset);
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

void L2Cache::Clear() {
  lru_.clear();
  index_.clear();
}

}  // namespace e2q::qcow2
