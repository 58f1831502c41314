// Snapshot create/take/delete/shrink/remove (see snapshot.h).
#include "tests/tools/next3gen/snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <map>

#include "tests/tools/next3gen/blockmap.h"
#include "tests/tools/next3gen/fsops.h"
#include "tests/tools/next3gen/gen.h"
#include "tests/tools/next3gen/manifest.h"

namespace n3g {
namespace {

constexpr uint64_t kDindSpan = 1ull << 20;  // image blocks under the DIND
constexpr uint64_t kTindSpan = 1ull << 30;

Snap* FindSnap(Gen& gen, uint32_t id) {
  for (auto& s : gen.snaps)
    if (s.id == id) return &s;
  Die("no snapshot " + std::to_string(id));
}

bool Listed(const Snap& s) { return s.state != "removed"; }

// Empties a snapshot inode inside a copy of its inode-table block (4.1 step
// 4); returns the fs blocks it held.
uint64_t FixInode(Gen& gen, uint8_t* itable_block, uint32_t ino) {
  uint32_t isize = EXT2_INODE_SIZE(gen.fs->super);
  uint64_t off = (uint64_t(ino - 1) % gen.fs->super->s_inodes_per_group) *
                 isize % kBlockSize;
  ext2_inode* in = reinterpret_cast<ext2_inode*>(itable_block + off);
  uint64_t blocks = in->i_blocks / 8;
  in->i_size = 0;
  in->i_size_high = 0;
  in->i_blocks = 0;
  in->osd2.linux2.l_i_blocks_hi = 0;
  in->i_flags &= ~(kSnapFileFl | kSnapDeletedFl | kSnapShrunkFl);
  memset(in->i_block, 0, sizeof in->i_block);
  return blocks;
}

void WriteExpectedImage(Gen& gen, const Snap& s,
                        const std::map<uint64_t, Block>& initial) {
  std::string path = gen.expect_dir + "/snap-" + std::to_string(s.id) + ".img";
  int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) Die(path + ": " + strerror(errno));
  if (ftruncate(fd, off_t(s.blocks * kBlockSize)) != 0)
    Die(path + ": truncate: " + strerror(errno));
  Block c;
  // The blocks set in the COW bitmaps, skipping 64 clear bits at a time (a
  // giant filesystem has 2^30 blocks and a few in use per group).
  for (uint64_t b = 0; b < s.blocks; b++) {
    uint64_t bit = b % kBlocksPerGroup, word = 0;
    if (bit % 64 == 0) {
      memcpy(&word, s.cowbm[b / kBlocksPerGroup]->data() + bit / 8, 8);
      if (word == 0) {
        b += 63;
        continue;
      }
    }
    if (!s.CowBit(b)) continue;
    auto it = initial.find(b);
    uint32_t g = uint32_t(b / kBlocksPerGroup);
    if (it != initial.end())
      c = it->second;
    else if (gen.BlockBitmap(g) == b)
      c = *s.cowbm[g];
    else if (gen.exclbm_set.count(b))
      c.fill(0);
    else
      gen.ReadRaw(b, c.data());
    bool zero = true;
    for (uint8_t x : c)
      if (x) {
        zero = false;
        break;
      }
    if (zero) continue;
    if (pwrite(fd, c.data(), kBlockSize, off_t(b * kBlockSize)) !=
        ssize_t(kBlockSize))
      Die(path + ": write: " + strerror(errno));
  }
  close(fd);
}

}  // namespace

std::string SnapshotName(long t) {
  time_t tt = t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "GMT-%Y.%m.%d-%H.%M.%S", &tm);
  return buf;
}

uint32_t TakeSnapshot(Gen& gen) {
  ext2_filsys fs = gen.fs;
  ext2_super_block* sb = fs->super;
  uint32_t id = sb->s_snapshot_id + 1;
  if (id == 0) id = 1;

  // --- create (under the previous active snapshot, whose COW applies) ---
  Snap s;
  s.id = id;
  s.blocks = gen.BlocksCount();
  s.name = SnapshotName(gen.now);
  s.state = "active";
  ext2_ino_t ino = 0;
  Check(ext2fs_new_inode(fs, gen.snapdir, LINUX_S_IFREG | 0600, nullptr, &ino),
        "new snapshot inode");
  ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
  s.ino = ino;
  ext2_inode& in = s.inode;
  in.i_mode = LINUX_S_IFREG | 0600;
  in.i_links_count = 1;
  in.i_atime = in.i_ctime = in.i_mtime = uint32_t(gen.now);
  in.i_flags = kSnapFileFl | kNoDumpFl;
  in.i_generation = id;
  in.osd1.linux1.l_i_version = sb->s_snapshot_list;  // i_next_snapshot
  uint64_t size = (s.blocks + kShift) * kBlockSize;
  in.i_size = uint32_t(size);
  in.i_size_high = uint32_t(size >> 32);
  // Tree roots, zero-filled (next3_snapshot_create): DIND, then TIND for
  // > 2^20 blocks, then the extra TINDs in raw i_block[0..2] for every
  // further 2^30 blocks.  The kernel's count may name one root more than
  // the blocks need (at exactly 2^20 + k * 2^30 blocks); keep it.
  uint64_t nind =
      s.blocks <= kDindSpan ? 1 : 1 + ((s.blocks - kDindSpan) / kTindSpan) + 1;
  if (nind > 5) Die("filesystems of 2^32 blocks or more are not generated");
  static const int kRootSlot[5] = {EXT2_DIND_BLOCK, EXT2_TIND_BLOCK, 0, 1, 2};
  Block zero{};
  for (uint64_t i = 0; i < nind; i++) {
    uint64_t r = gen.AllocSnapBlock(gen.InodeTableBlock(ino));
    gen.Write(r, zero.data());
    in.i_block[kRootSlot[i]] = uint32_t(r);
    in.i_blocks += 8;
  }
  Check(ext2fs_write_new_inode(fs, ino, &in), "write snapshot inode");
  LinkEntry(gen, gen.snapdir, s.name, ino, EXT2_FT_REG_FILE);
  sb->s_snapshot_list = ino;
  ext2fs_mark_super_dirty(fs);
  gen.snaps.push_back(s);
  Snap& sn = gen.snaps.back();

  // Initial blocks (3.4): superblock block, GDT blocks, and for the root
  // inode's group and every listed snapshot inode's group the block bitmap,
  // inode bitmap and the inode-table block holding that inode.
  std::map<uint64_t, int> kind;  // 0 sb, 1 gdt, 2 bbm, 3 ibm, 4 itable
  kind[0] = 0;
  for (uint64_t b = 1; b <= fs->desc_blocks; b++) kind[b] = 1;
  std::vector<uint32_t> inos = {EXT2_ROOT_INO};
  for (auto& x : gen.snaps)
    if (Listed(x)) inos.push_back(x.ino);
  for (uint32_t i : inos) {
    uint32_t g = (i - 1) / sb->s_inodes_per_group;
    kind[gen.BlockBitmap(g)] = 2;
    kind[gen.InodeBitmap(g)] = 3;
    kind[gen.InodeTableBlock(i)] = 4;
  }
  std::map<uint64_t, uint64_t> copy_of;
  for (auto& kv : kind) {
    uint64_t p = gen.AllocSnapBlock(kv.first);
    gen.SnapMap(sn, kv.first, p);
    copy_of[kv.first] = p;
  }
  gen.Flush();

  // --- take (frozen fs) ---
  uint32_t groups = gen.Groups();
  sn.cowbm.clear();
  for (uint32_t g = 0; g < groups; g++)
    sn.cowbm.push_back(gen.Intern(gen.MaskedBitmap(g)));
  std::map<uint64_t, Block> content;
  uint64_t excluded = 0;
  for (auto& kv : kind) {
    Block c;
    uint64_t b = kv.first;
    if (kv.second == 2) {
      c = *sn.cowbm[b / kBlocksPerGroup];
    } else {
      gen.ReadRaw(b, c.data());
    }
    if (kv.second == 4) {
      for (auto& x : gen.snaps)
        if (Listed(x) && gen.InodeTableBlock(x.ino) == b)
          excluded += FixInode(gen, c.data(), x.ino);
    }
    content[b] = c;
  }
  {
    Block& c = content[0];
    ext2_super_block* cs = reinterpret_cast<ext2_super_block*>(c.data() + 1024);
    cs->s_feature_ro_compat &= ~EXT4_FEATURE_RO_COMPAT_HAS_SNAPSHOT;
    cs->s_feature_incompat &= ~EXT3_FEATURE_INCOMPAT_RECOVER;
    cs->s_flags |= EXT2_FLAGS_IS_SNAPSHOT;
    cs->s_snapshot_inum = 0;
    cs->s_snapshot_list = 0;
    uint64_t fr = (uint64_t(cs->s_free_blocks_hi) << 32) +
                  cs->s_free_blocks_count + excluded;
    cs->s_free_blocks_count = uint32_t(fr);
    cs->s_free_blocks_hi = uint32_t(fr >> 32);
  }
  for (auto& kv : content) gen.Write(copy_of[kv.first], kv.second.data());

  // Activate: the previous active snapshot is frozen from now on.
  if (gen.active >= 0 && gen.snaps[gen.active].state == "active")
    gen.snaps[gen.active].state = "frozen";
  gen.active = int(gen.snaps.size() - 1);
  sb->s_snapshot_id = id;
  sb->s_snapshot_inum = ino;
  sb->s_snapshot_list = ino;
  sb->s_snapshot_r_blocks_count =
      2 * (s.blocks >> 10) + groups * 4 +
      (sb->s_inodes_count - sb->s_free_inodes_count) / 64;
  sb->s_feature_ro_compat |= EXT4_FEATURE_RO_COMPAT_HAS_SNAPSHOT;
  gen.Flush();

  WriteExpectedImage(gen, sn, content);
  WriteManifest(gen,
                gen.expect_dir + "/snap-" + std::to_string(id) + ".manifest",
                /*snapshot_view=*/true);
  return id;
}

void DeleteSnapshot(Gen& gen, uint32_t id) {
  Snap& s = *FindSnap(gen, id);
  if (s.state != "frozen")
    Die("delete: snapshot " + std::to_string(id) + " is " + s.state);
  s.inode.i_flags |= kSnapDeletedFl;
  s.state = "deleted";
  gen.WriteSnapInode(s);
}

void UnlinkSnapshot(Gen& gen, uint32_t id) {
  Snap& s = *FindSnap(gen, id);
  if (Listed(s) || !s.linked)
    Die("unlink: snapshot " + std::to_string(id) + " is " + s.state +
        (s.linked ? "" : ", already unlinked") +
        ": next3 refuses to unlink a snapshot on the list");
  Check(ext2fs_unlink(gen.fs, gen.snapdir, s.name.c_str(), s.ino, 0),
        "unlink " + s.name);
  s.linked = false;
  s.inode.i_links_count = 0;
  s.inode.i_ctime = uint32_t(gen.now);
  s.inode.i_dtime = uint32_t(gen.now);
  gen.WriteSnapInode(s);
  ext2fs_inode_alloc_stats2(gen.fs, s.ino, -1, 0);
}

void CleanupSnapshot(Gen& gen, uint32_t id) {
  Snap& s = *FindSnap(gen, id);
  if (s.state != "deleted") Die("cleanup: snapshot not deleted");
  const Snap* older = nullptr;  // nearest older non-deleted listed snapshot
  for (auto& x : gen.snaps) {
    if (&x == &s) break;
    if (x.state == "frozen" || x.state == "active") older = &x;
  }
  ReadFn read = [&gen](uint64_t b, void* buf) { gen.ReadRaw(b, buf); };
  if (older) {
    // Shrink: free what the older snapshot's COW bitmap does not need.
    MapRemoveIf(
        gen, s.inode,
        [older](uint64_t l, uint64_t) { return !older->CowBit(l - kShift); },
        [&gen](uint64_t p) { gen.FreeBlock(p); }, /*keep_empty_ind=*/true);
    s.inode.i_blocks = uint32_t(8 * MapCount(read, s.inode));
    s.inode.i_flags |= kSnapShrunkFl;
    s.state = "shrunk";
    gen.WriteSnapInode(s);
    return;
  }
  // Remove: all blocks freed, off the list, size 0 (SNAPSHOT_SET_REMOVED);
  // links, SNAPFILE and SNAPFILE_DELETED stay.
  MapRemoveIf(
      gen, s.inode, [](uint64_t, uint64_t) { return true; },
      [&gen](uint64_t p) { gen.FreeBlock(p); }, /*keep_empty_ind=*/false);
  for (auto& x : gen.snaps) {
    if (x.state != "removed" && x.inode.osd1.linux1.l_i_version == s.ino) {
      x.inode.osd1.linux1.l_i_version = s.inode.osd1.linux1.l_i_version;
      gen.WriteSnapInode(x);
    }
  }
  s.inode.osd1.linux1.l_i_version = 0;
  s.inode.i_size = s.inode.i_size_high = 0;
  s.inode.i_blocks = 0;
  s.state = "removed";
  gen.WriteSnapInode(s);
}

}  // namespace n3g
