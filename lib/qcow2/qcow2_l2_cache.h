// L2Cache: a bounded LRU cache of decoded qcow2 L2 tables, keyed by the
// table's host offset.  Sequential reads touch each table once in a row, so
// a few tables suffice for conversion; random access (Map then Read of the
// same range, several snapshots sharing tables) benefits from more.
#ifndef E2Q_LIB_QCOW2_QCOW2_L2_CACHE_H_
#define E2Q_LIB_QCOW2_QCOW2_L2_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

namespace e2q::qcow2 {

class L2Cache {
 public:
  // Holds up to max(2, budget_bytes / (entries * 8)) tables of `entries`
  // 64-bit entries each.
  L2Cache(size_t entries, size_t budget_bytes);

  // The cached table at host offset `offset`, or null.  A hit makes the
  // table the most recently used.
  const uint64_t* Find(uint64_t offset);
  // A table slot for `offset` (evicting the least recently used one) for
  // the caller to fill; it must be filled before the next Find.
  uint64_t* Insert(uint64_t offset);
  // Drops `offset` (after a failed fill).
  void Erase(uint64_t offset);
  void Clear();

 private:
  struct Slot {
    uint64_t offset;
    std::unique_ptr<uint64_t[]> table;
  };
  size_t entries_;
  size_t capacity_;
  std::list<Slot> lru_;  // most recently used first
  std::unordered_map<uint64_t, std::list<Slot>::iterator> index_;
};

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_QCOW2_L2_CACHE_H_
