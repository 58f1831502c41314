// HashIndex: a map from 64-bit hashes to small non-zero values, in one
// flat array with linear probing: ClusterDedup's index of stored contents.
//
// The keys are already XXH3 hashes, so their low bits pick the slot
// directly.  A value of zero marks an empty slot (every value stored is a
// non-zero L2 entry or file offset).  std::unordered_map allocated a node
// per entry and missed the cache twice per look-up: on -Q of a copy of
// /usr its find and emplace took 10% of the run.
#ifndef E2Q_LIB_QCOW2_HASH_INDEX_H_
#define E2Q_LIB_QCOW2_HASH_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace e2q::qcow2 {

// V: a trivially copyable value with `bool empty() const` that is true
// only for V{}.
template <typename V>
class HashIndex {
 public:
  size_t size() const { return size_; }

  // The value stored under `key`, or null.
  const V* Find(uint64_t key) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = key & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.value.empty()) return nullptr;
      if (s.key == key) return &s.value;
    }
  }

  // Stores `value` (not empty) under `key`, replacing what was there.
  void Set(uint64_t key, const V& value) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
    Slot* s = Probe(key);
    if (s->value.empty()) ++size_;
    s->key = key;
    s->value = value;
  }

 private:
  struct Slot {
    uint64_t key = 0;
    V value{};
  };

  Slot* Probe(uint64_t key) {
    for (size_t i = key & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.value.empty() || s.key == key) return &s;
    }
  }

  void Grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.resize(old.empty() ? 1024 : old.size() * 2);
    mask_ = slots_.size() - 1;
    for (const Slot& s : old) {
      if (!s.value.empty()) *Probe(s.key) = s;
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_HASH_INDEX_H_
