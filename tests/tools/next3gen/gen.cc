// The copy-/move-on-write engine (doc/next3-format.md 3.2, 9.5 (a)): every live
// write passes BeforeWrite, every live free passes Release, every data
// overwrite asks NeedsMove.
#include "tests/tools/next3gen/gen.h"

#include <unistd.h>

#include <cstring>

#include "tests/tools/next3gen/blockmap.h"

namespace n3g {

Gen* g_gen = nullptr;

void Die(const std::string& msg) { throw std::runtime_error(msg); }

void Check(errcode_t err, const std::string& what) {
  if (err) Die(what + ": " + error_message(err));
}

bool Snap::CowBit(uint64_t b) const {
  if (b >= blocks) return false;
  const Block& bm = *cowbm[b / kBlocksPerGroup];
  uint64_t bit = b % kBlocksPerGroup;
  return (bm[bit / 8] >> (bit % 8)) & 1;
}

uint64_t Gen::Rand() {
  if (rng_ == 0) rng_ = seed * 0x9E3779B97F4A7C15ull + 0x1234567;
  // splitmix64
  uint64_t z = (rng_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void Gen::SetTime(time_t t) {
  now = t;
  fs->now = t;
}

uint64_t Gen::BlocksCount() const { return ext2fs_blocks_count(fs->super); }
uint32_t Gen::Groups() const { return fs->group_desc_count; }
uint64_t Gen::BlockBitmap(uint32_t g) const {
  return ext2fs_block_bitmap_loc(fs, g);
}
uint64_t Gen::InodeBitmap(uint32_t g) const {
  return ext2fs_inode_bitmap_loc(fs, g);
}
uint64_t Gen::InodeTableBlock(uint32_t ino) const {
  uint32_t ipg = fs->super->s_inodes_per_group;
  uint32_t g = (ino - 1) / ipg;
  uint64_t idx = (ino - 1) % ipg;
  return ext2fs_inode_table_loc(fs, g) +
         idx * EXT2_INODE_SIZE(fs->super) / kBlockSize;
}

void Gen::ReadRaw(uint64_t b, void* buf) const {
  ReadBytes(fs->io, b * kBlockSize, kBlockSize, buf);
}

void Gen::Write(uint64_t b, const void* buf) {
  WriteBytes(fs->io, b * kBlockSize, kBlockSize, buf);
}

namespace {

errcode_t PickBlock(ext2_filsys fs, blk64_t goal, blk64_t* ret) {
  errcode_t err = ext2fs_new_block2(fs, goal, fs->block_map, ret);
  if (!err && g_gen) g_gen->pending.insert(*ret);
  return err;
}

void AllocStats(ext2_filsys, blk64_t b, int inuse) {
  if (inuse > 0 && g_gen) g_gen->pending.erase(b);
}

}  // namespace

void Gen::InstallAllocHooks() {
  ext2fs_set_alloc_block_callback(fs, PickBlock, nullptr);
  ext2fs_set_block_alloc_stats_callback(fs, AllocStats, nullptr);
}

uint64_t Gen::AllocBlock(uint64_t goal, bool zero) {
  blk64_t b = 0;
  if (goal >= BlocksCount()) goal = 0;
  for (;;) {
    Check(ext2fs_new_block2(fs, goal, fs->block_map, &b), "allocate block");
    if (!pending.count(b)) break;
    goal = b + 1 < BlocksCount() ? b + 1 : 0;
  }
  ext2fs_block_alloc_stats2(fs, b, +1);
  bitmap_changes_++;
  if (zero) {
    Block z{};
    Write(b, z.data());
  }
  return b;
}

uint64_t Gen::AllocSnapBlock(uint64_t goal) {
  uint64_t b = AllocBlock(goal, false);
  SetExcluded(b, true);
  return b;
}

void Gen::FreeBlock(uint64_t b) {
  ext2fs_block_alloc_stats2(fs, b, -1);
  bitmap_changes_++;
  SetExcluded(b, false);
}

void Gen::SetExcluded(uint64_t b, bool on) {
  if (on ? excl.insert(b).second : excl.erase(b) != 0)
    excl_dirty.insert(uint32_t(b / kBlocksPerGroup));
}

Block Gen::MaskedBitmap(uint32_t g) const {
  Block bm;
  ReadRaw(BlockBitmap(g), bm.data());
  uint64_t start = uint64_t(g) * kBlocksPerGroup;
  for (auto it = excl.lower_bound(start);
       it != excl.end() && *it < start + kBlocksPerGroup; ++it) {
    uint64_t i = *it - start;
    bm[i / 8] &= uint8_t(~(1 << (i % 8)));
  }
  return bm;
}

std::shared_ptr<const Block> Gen::Intern(const Block& b) {
  auto it = interned_.find(b);
  if (it == interned_.end())
    it = interned_.emplace(b, std::make_shared<const Block>(b)).first;
  return it->second;
}

uint64_t Gen::SnapLookup(const Snap& s, uint64_t b) const {
  return MapGet([this](uint64_t blk, void* buf) { ReadRaw(blk, buf); }, s.inode,
                b + kShift);
}

bool Gen::Protected(uint64_t b) const {
  if (active < 0) return false;
  const Snap& s = snaps[active];
  if (!s.CowBit(b)) return false;
  return SnapLookup(s, b) == 0;
}

void Gen::BeforeWrite(uint64_t off, uint64_t len, const uint8_t* data) {
  if (len == 0) return;
  uint64_t first = off / kBlockSize, last = (off + len - 1) / kBlockSize;
  for (uint64_t b = first; b <= last; b++) {
    if (exclbm_set.count(b)) continue;  // "exclude bitmap update - skip cow"
    if (!Protected(b)) continue;
    // Engine invariant: a protected block is never free (a free would
    // have moved it), so nobody can be writing new content into it.
    if (!ext2fs_test_block_bitmap2(fs->block_map, b))
      Die("write to block " + std::to_string(b) +
          ": free in the live bitmap but protected by the active snapshot");
    if (off == b * kBlockSize && len >= kBlockSize) {
      Block old;
      ReadRaw(b, old.data());
      if (memcmp(old.data(), data + (b - first) * kBlockSize, kBlockSize) == 0)
        continue;  // an unchanged block is not a change
    }
    if (writing_.count(b))
      Die("re-entrant copy-on-write of block " + std::to_string(b));
    writing_.insert(b);
    CowCopy(b);
    writing_.erase(b);
  }
}

void Gen::CowCopy(uint64_t b) {
  Snap& s = snaps[active];
  Block old;
  uint32_t g = uint32_t(b / kBlocksPerGroup);
  if (g < Groups() && BlockBitmap(g) == b)
    old = *s.cowbm[g];  // the COW bitmap: bitmap at take & ~exclude
  else
    ReadRaw(b, old.data());
  uint64_t p = AllocSnapBlock(b);
  Write(p, old.data());
  SnapMap(s, b, p);
}

void Gen::MoveIntoActive(uint64_t b) {
  Snap& s = snaps[active];
  SnapMap(s, b, b);
  SetExcluded(b, true);
  bitmap_changes_++;
}

void Gen::Release(uint64_t b) {
  if (Protected(b))
    MoveIntoActive(b);
  else
    FreeBlock(b);
}

void Gen::SnapMap(Snap& s, uint64_t b, uint64_t p) {
  int fresh = MapSet(*this, s.inode, b + kShift, p, [this](uint64_t goal) {
    uint64_t n = AllocSnapBlock(goal);
    Block z{};
    Write(n, z.data());
    return n;
  });
  s.inode.i_blocks += 8 * (1 + fresh);
  s.inode.i_ctime = uint32_t(now);
  WriteSnapInode(s);
}

void Gen::WriteSnapInode(Snap& s) {
  Check(ext2fs_write_inode(fs, s.ino, &s.inode),
        "write snapshot inode " + std::to_string(s.ino));
}

void Gen::Flush() {
  // Writing a bitmap block can copy it into the active snapshot, which
  // allocates blocks and so changes bitmaps already written: repeat until
  // a round allocates nothing (the second write of a block is no longer
  // protected, so this ends after at most a few rounds).
  for (int round = 0;; round++) {
    if (round > 8) Die("flush: bitmaps do not settle");
    uint64_t before = bitmap_changes_;
    ext2fs_mark_bb_dirty(fs);
    ext2fs_mark_ib_dirty(fs);
    Check(ext2fs_write_bitmaps(fs), "write bitmaps");
    // Only the exclude bitmaps that changed (a 16 TiB filesystem has
    // 2^17 groups).
    std::set<uint32_t> dirty;
    dirty.swap(excl_dirty);
    for (uint32_t g : dirty) {
      Block bm{};
      uint64_t start = uint64_t(g) * kBlocksPerGroup;
      for (auto it = excl.lower_bound(start);
           it != excl.end() && *it < start + kBlocksPerGroup; ++it) {
        uint64_t i = *it - start;
        bm[i / 8] |= uint8_t(1 << (i % 8));
      }
      Write(exclbm_block[g], bm.data());
    }
    if (bitmap_changes_ == before && excl_dirty.empty()) break;
  }
  ext2fs_mark_super_dirty(fs);
  Check(ext2fs_flush(fs), "flush");
}

}  // namespace n3g
