// Indirect block map helpers (see blockmap.h).
#include "tests/tools/next3gen/blockmap.h"

#include <cstring>
#include <vector>

#include "tests/tools/next3gen/gen.h"

namespace n3g {
namespace {

constexpr uint64_t kPer = 1024;  // pointers per 4 KiB block
constexpr uint64_t kIndBase = 12;
constexpr uint64_t kDindBase = kIndBase + kPer;
constexpr uint64_t kTindBase = kDindBase + kPer * kPer;
constexpr uint64_t kTindSpan = kPer * kPer * kPer;
constexpr uint64_t kEnd = kTindBase + kTindSpan;
// Snapshot files only (doc/next3-format.md 1.3): raw i_block[0..2] are further
// TIND roots for logical blocks kEnd + k * 2^30 onwards (fs blocks from
// 2^20 + 2^30 on), and there are no direct or IND blocks.
constexpr int kExtraTinds = 3;

struct Path {
  int slot;    // i_block index
  int levels;  // indirect levels below the slot (0 = direct)
  uint64_t rel;
};

bool IsSnapFile(const ext2_inode& in) {
  return LINUX_S_ISREG(in.i_mode) && (in.i_flags & kSnapFileFl);
}

Path PathOf(const ext2_inode& in, uint64_t l) {
  if (IsSnapFile(in)) {
    if (l < kDindBase)
      Die("snapshot file: logical block " + std::to_string(l) +
          " below the DIND range");
    if (l >= kEnd && l < kEnd + kExtraTinds * kTindSpan) {
      uint64_t k = (l - kEnd) / kTindSpan;
      return {int(k), 3, l - kEnd - k * kTindSpan};
    }
  }
  if (l < kIndBase) return {int(l), 0, 0};
  if (l < kDindBase) return {EXT2_IND_BLOCK, 1, l - kIndBase};
  if (l < kTindBase) return {EXT2_DIND_BLOCK, 2, l - kDindBase};
  if (l < kEnd) return {EXT2_TIND_BLOCK, 3, l - kTindBase};
  Die("logical block " + std::to_string(l) + " beyond the TIND range");
}

uint64_t Span(int levels) {  // logical blocks under one pointer at `levels`
  uint64_t s = 1;
  for (int i = 1; i < levels; i++) s *= kPer;
  return s;
}

using Ptrs = std::vector<uint32_t>;

Ptrs ReadPtrs(const ReadFn& read, uint64_t b) {
  Ptrs v(kPer);
  read(b, v.data());
  return v;
}

void WalkInd(const ReadFn& read, uint64_t b, int levels, uint64_t base,
             const std::function<void(uint64_t, uint64_t)>& data,
             const std::function<void(uint64_t)>& ind) {
  ind(b);
  Ptrs v = ReadPtrs(read, b);
  uint64_t span = Span(levels);
  for (uint64_t i = 0; i < kPer; i++) {
    if (!v[i]) continue;
    if (levels == 1)
      data(base + i, v[i]);
    else
      WalkInd(read, v[i], levels - 1, base + i * span, data, ind);
  }
}

// Returns true when the block has no pointers left.
bool RemoveInd(Gen& gen, uint64_t b, int levels, uint64_t base,
               const std::function<bool(uint64_t, uint64_t)>& remove,
               const ReleaseFn& release, bool keep_empty) {
  ReadFn read = [&gen](uint64_t blk, void* buf) { gen.ReadRaw(blk, buf); };
  Ptrs v = ReadPtrs(read, b);
  uint64_t span = Span(levels);
  bool changed = false, empty = true;
  for (uint64_t i = 0; i < kPer; i++) {
    if (!v[i]) continue;
    if (levels == 1) {
      if (remove(base + i, v[i])) {
        release(v[i]);
        v[i] = 0;
        changed = true;
      }
    } else if (RemoveInd(gen, v[i], levels - 1, base + i * span, remove,
                         release, keep_empty)) {
      if (!keep_empty) {
        release(v[i]);
        v[i] = 0;
        changed = true;
      }
    }
    if (v[i]) empty = false;
  }
  // A block about to be released is not rewritten first (the kernel frees
  // a fully truncated branch without touching it).
  if (changed && !(empty && !keep_empty)) gen.Write(b, v.data());
  return empty;
}

}  // namespace

uint64_t MapGet(const ReadFn& read, const ext2_inode& inode, uint64_t l) {
  Path path = PathOf(inode, l);
  uint64_t b = inode.i_block[path.slot];
  for (int lv = path.levels; lv >= 1 && b; lv--) {
    Ptrs v = ReadPtrs(read, b);
    b = v[(path.rel / Span(lv)) % kPer];
  }
  return b;
}

int MapSet(Gen& gen, ext2_inode& inode, uint64_t l, uint64_t p,
           const AllocFn& alloc) {
  Path path = PathOf(inode, l);
  if (path.levels == 0) {
    inode.i_block[path.slot] = uint32_t(p);
    return 0;
  }
  int fresh = 0;
  if (!inode.i_block[path.slot]) {
    inode.i_block[path.slot] = uint32_t(alloc(p));
    fresh++;
  }
  uint64_t b = inode.i_block[path.slot];
  for (int lv = path.levels; lv >= 1; lv--) {
    Ptrs v(kPer);
    gen.ReadRaw(b, v.data());
    uint64_t idx = (path.rel / Span(lv)) % kPer;
    if (lv == 1) {
      v[idx] = uint32_t(p);
      gen.Write(b, v.data());
      break;
    }
    if (!v[idx]) {
      v[idx] = uint32_t(alloc(p));
      fresh++;
      gen.Write(b, v.data());
    }
    b = v[idx];
  }
  return fresh;
}

void MapWalk(const ReadFn& read, const ext2_inode& inode,
             const std::function<void(uint64_t, uint64_t)>& data,
             const std::function<void(uint64_t)>& ind) {
  int direct = IsSnapFile(inode) ? kExtraTinds : 0;
  for (uint64_t i = uint64_t(direct); i < kIndBase; i++)
    if (inode.i_block[i]) data(i, inode.i_block[i]);
  const uint64_t base[3] = {kIndBase, kDindBase, kTindBase};
  for (int k = 0; k < 3; k++)
    if (inode.i_block[EXT2_IND_BLOCK + k])
      WalkInd(read, inode.i_block[EXT2_IND_BLOCK + k], k + 1, base[k], data,
              ind);
  for (int k = 0; k < direct; k++)
    if (inode.i_block[k])
      WalkInd(read, inode.i_block[k], 3, kEnd + uint64_t(k) * kTindSpan, data,
              ind);
}

void MapRemoveIf(Gen& gen, ext2_inode& inode,
                 const std::function<bool(uint64_t, uint64_t)>& remove,
                 const ReleaseFn& release, bool keep_empty_ind) {
  int direct = IsSnapFile(inode) ? kExtraTinds : 0;
  for (uint64_t i = uint64_t(direct); i < kIndBase; i++) {
    if (inode.i_block[i] && remove(i, inode.i_block[i])) {
      release(inode.i_block[i]);
      inode.i_block[i] = 0;
    }
  }
  struct Root {
    int slot, levels;
    uint64_t base;
  };
  std::vector<Root> roots = {{EXT2_IND_BLOCK, 1, kIndBase},
                             {EXT2_DIND_BLOCK, 2, kDindBase},
                             {EXT2_TIND_BLOCK, 3, kTindBase}};
  for (int k = 0; k < direct; k++)
    roots.push_back({k, 3, kEnd + uint64_t(k) * kTindSpan});
  for (const Root& r : roots) {
    uint32_t& slot = inode.i_block[r.slot];
    if (!slot) continue;
    if (RemoveInd(gen, slot, r.levels, r.base, remove, release,
                  keep_empty_ind) &&
        !keep_empty_ind) {
      release(slot);
      slot = 0;
    }
  }
}

uint64_t MapCount(const ReadFn& read, const ext2_inode& inode) {
  uint64_t n = 0;
  MapWalk(
      read, inode, [&n](uint64_t, uint64_t) { n++; }, [&n](uint64_t) { n++; });
  return n;
}

}  // namespace n3g
