// BlockSet: an interval map of block runs.
#include "lib/base/block_set.h"

#include <algorithm>
#include <iterator>

namespace e2q {

void BlockSet::Add(uint64_t start, uint64_t count) {
  if (count == 0) return;
  uint64_t end = start + count;
  if (end < start) end = UINT64_MAX;  // saturate on overflow
  // First run that could touch or overlap [start, end): the one before
  // `start` if it reaches start.
  auto it = runs_.upper_bound(start);
  if (it != runs_.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= start) it = prev;
  }
  while (it != runs_.end() && it->first <= end) {
    start = std::min(start, it->first);
    end = std::max(end, it->second);
    size_ -= it->second - it->first;
    it = runs_.erase(it);
  }
  runs_.emplace_hint(it, start, end);
  size_ += end - start;
}

void BlockSet::Add(const BlockSet& other) {
  for (const auto& [s, e] : other.runs_) Add(s, e - s);
}

bool BlockSet::Contains(uint64_t block) const {
  auto it = runs_.upper_bound(block);
  if (it == runs_.begin()) return false;
  --it;
  return block < it->second;
}

std::vector<BlockRun> BlockSet::Runs() const {
  std::vector<BlockRun> out;
  out.reserve(runs_.size());
  for (const auto& [s, e] : runs_) out.push_back({s, e - s});
  return out;
}

void BlockSet::AlignTo(uint64_t unit, uint64_t limit) {
  if (unit <= 1) {
    ClipTo(limit);
    return;
  }
  BlockSet aligned;
  for (const auto& [s, e] : runs_) {
    uint64_t as = s / unit * unit;
    uint64_t ae = (e + unit - 1) / unit * unit;
    aligned.Add(as, ae - as);
  }
  *this = std::move(aligned);
  ClipTo(limit);
}

void BlockSet::ClipTo(uint64_t limit) {
  auto it = runs_.lower_bound(limit);
  while (it != runs_.end()) {
    size_ -= it->second - it->first;
    it = runs_.erase(it);
  }
  if (!runs_.empty()) {
    auto last = std::prev(runs_.end());
    if (last->second > limit) {
      size_ -= last->second - limit;
      last->second = limit;
    }
  }
}

void BlockSet::DropBelow(uint64_t first) {
  while (!runs_.empty() && runs_.begin()->first < first) {
    auto head = runs_.begin();
    const uint64_t end = head->second;
    size_ -= end - head->first;
    runs_.erase(head);
    if (end > first) {
      runs_.emplace(first, end);
      size_ += end - first;
      return;
    }
  }
}

}  // namespace e2q
