// BlockSet: a set of block numbers kept as sorted, disjoint, non-adjacent
// runs.  Adding is amortised cheap when blocks arrive roughly in order (as
// they do from an inode scan); memory is proportional to the number of runs,
// not to the filesystem size.
#ifndef E2Q_LIB_BASE_BLOCK_SET_H_
#define E2Q_LIB_BASE_BLOCK_SET_H_

#include <cstdint>
#include <map>
#include <vector>

namespace e2q {

struct BlockRun {
  uint64_t start;
  uint64_t count;
  bool operator==(const BlockRun& o) const {
    return start == o.start && count == o.count;
  }
};

class BlockSet {
 public:
  // Adds [start, start + count).  count 0 is a no-op.
  void Add(uint64_t start, uint64_t count = 1);
  void Add(const BlockSet& other);
  bool Contains(uint64_t block) const;
  // Total number of blocks.
  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // The runs, sorted by start; adjacent runs are merged.
  std::vector<BlockRun> Runs() const;
  // Widens every run to whole aligned units of `unit` blocks (bigalloc
  // clusters), clipped to [0, limit).
  void AlignTo(uint64_t unit, uint64_t limit);
  // Removes blocks at or past `limit`.
  void ClipTo(uint64_t limit);
  // Removes blocks below `first`.
  void DropBelow(uint64_t first);

 private:
  std::map<uint64_t, uint64_t> runs_;  // start -> end (exclusive)
  uint64_t size_ = 0;
};

}  // namespace e2q

#endif  // E2Q_LIB_BASE_BLOCK_SET_H_
