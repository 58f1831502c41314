// Invariant self-check (see check.h).
#include "tests/tools/next3gen/check.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tests/tools/next3gen/blockmap.h"
#include "tests/tools/next3gen/gen.h"

namespace n3g {
namespace {

// Calls f(i) for every set bit i of a bitmap block, skipping clear words.
template <typename F>
void ForEachBit(const Block& bm, F f) {
  for (uint64_t w = 0; w < kBlockSize / 8; w++) {
    uint64_t word;
    memcpy(&word, bm.data() + w * 8, 8);
    if (!word) continue;
    for (uint64_t i = w * 64; i < w * 64 + 64; i++)
      if ((bm[i / 8] >> (i % 8)) & 1) f(i);
  }
}

struct Listed {
  uint32_t ino;
  ext2_inode in;
};

class Checker {
 public:
  Checker(const std::string& image, const std::string& dir)
      : image_(image), dir_(dir) {}
  ~Checker() {  // also on the error path (Die throws)
    if (fs_) ext2fs_close_free(&fs_);
    if (fd_ >= 0) close(fd_);
  }

  std::vector<std::string> Run() {
    fd_ = open(image_.c_str(), O_RDONLY);
    if (fd_ < 0) return {image_ + ": open: " + strerror(errno)};
    errcode_t err = ext2fs_open(image_.c_str(), EXT2_FLAG_64BITS, 0, 0,
                                unix_io_manager, &fs_);
    if (err) return {image_ + ": ext2fs_open: " + error_message(err)};
    Check(ext2fs_read_bitmaps(fs_), "read bitmaps");
    read_ = [this](uint64_t b, void* buf) { Read(b, buf); };
    CheckList();
    CheckListFile();
    LoadExclude();
    CheckOwners();
    for (size_t k = 0; k < list_.size(); k++) CheckImageOf(k);
    return errors_;
  }

 private:
  void Bad(const std::string& s) {
    if (errors_.size() < 20) errors_.push_back(s);
  }
  void Read(uint64_t b, void* buf) const {
    if (pread(fd_, buf, kBlockSize, off_t(b * kBlockSize)) !=
        ssize_t(kBlockSize))
      Die("read block " + std::to_string(b));
  }
  ext2_inode Inode(uint32_t ino) {
    ext2_inode in{};
    Check(ext2fs_read_inode(fs_, ino, &in), "read inode");
    return in;
  }

  // Invariant 5: newest first, IDs strictly decreasing, active = head.
  void CheckList() {
    ext2_super_block* sb = fs_->super;
    if (!(sb->s_feature_ro_compat & EXT4_FEATURE_RO_COMPAT_HAS_SNAPSHOT))
      Bad("HAS_SNAPSHOT not set");
    uint32_t ino = sb->s_snapshot_list;
    if (ino != sb->s_snapshot_inum) Bad("active snapshot is not the list head");
    uint32_t last_id = 0;
    while (ino) {
      if (list_.size() > 100) {
        Bad("snapshot list does not end");
        break;
      }
      ext2_inode in = Inode(ino);
      if (!LINUX_S_ISREG(in.i_mode) || !(in.i_flags & kSnapFileFl) ||
          in.i_dtime)
        Bad("list entry " + std::to_string(ino) + " is not a snapshot file");
      if (list_.empty() && in.i_generation != sb->s_snapshot_id)
        Bad("s_snapshot_id differs from the head's ID");
      if (!list_.empty() && in.i_generation >= last_id)
        Bad("snapshot IDs not strictly decreasing");
      last_id = in.i_generation;
      for (int i = 3; i < EXT2_DIND_BLOCK; i++)  // invariant 6
        if (in.i_block[i])
          Bad("snapshot " + std::to_string(ino) + ": i_block[" +
              std::to_string(i) + "] set");
      // The roots: DIND, TIND, raw i_block[0..2], as many as next3 gives
      // a snapshot of its size (doc/next3-format.md 1.3), and no others.
      uint64_t size = EXT2_I_SIZE(&in) / kBlockSize;
      uint64_t blocks = size > kShift ? size - kShift : 0;
      uint64_t nind =
          blocks <= (1ull << 20) ? 1 : 1 + ((blocks - (1ull << 20)) >> 30) + 1;
      static const int kRootSlot[5] = {EXT2_DIND_BLOCK, EXT2_TIND_BLOCK, 0, 1,
                                       2};
      for (uint64_t r = 0; r < 5; r++)
        if ((in.i_block[kRootSlot[r]] != 0) != (r < nind))
          Bad("snapshot " + std::to_string(ino) + ": root in i_block[" +
              std::to_string(kRootSlot[r]) + "] " +
              (r < nind ? "missing" : "set") + " for " +
              std::to_string(blocks) + " blocks");
      list_.push_back({ino, in});
      ino = in.osd1.linux1.l_i_version;
    }
  }

  static int Collect(ext2_ino_t, int, ext2_dir_entry* de, int, int, char*,
                     void* priv) {
    auto* names = static_cast<std::map<uint32_t, std::string>*>(priv);
    std::string name(de->name, size_t(ext2fs_dirent_name_len(de)));
    if (name != "." && name != "..") (*names)[de->inode] = name;
    return 0;
  }

  // list.txt (written from the generator's memory) must be what the disk
  // says: IDs, inodes, states from the flags, names from /.snapshots.
  void CheckListFile() {
    std::map<uint32_t, std::string> names;
    ext2_ino_t dir = 0;
    if (ext2fs_lookup(fs_, EXT2_ROOT_INO, ".snapshots", 10, nullptr, &dir) ||
        ext2fs_dir_iterate2(fs_, dir, 0, nullptr, Collect, &names)) {
      Bad("cannot read /.snapshots");
      return;
    }
    std::string want;
    for (auto& l : list_) {
      const ext2_inode& in = l.in;
      std::string state = l.ino == fs_->super->s_snapshot_inum ? "active"
                          : (in.i_flags & kSnapShrunkFl)       ? "shrunk"
                          : (in.i_flags & kSnapDeletedFl)      ? "deleted"
                                                               : "frozen";
      auto it = names.find(l.ino);
      want += std::to_string(in.i_generation) + " " + std::to_string(l.ino) +
              " " + state + " " +
              (it == names.end() ? "-" : "/.snapshots/" + it->second) + "\n";
    }
    std::ifstream f(dir_ + "/list.txt");
    std::stringstream got;
    got << f.rdbuf();
    if (got.str() != want)
      Bad("list.txt differs from the image's list:\n" + want);
  }

  // The exclude bitmap from where the features say (3.7): bg_exclude_bitmap
  // when COMPAT 0x0100 is set (what the ext4-snapshots kernel reads), else
  // the exclude inode (COMPAT 0x0080).  With both, they must agree; a
  // location without its feature must be unused.
  void LoadExclude() {
    const uint32_t compat = fs_->super->s_feature_compat;
    const bool by_inode = compat & kCompatExcludeInode;
    const bool by_gdt = compat & kCompatExcludeBitmap;
    if (!by_inode && !by_gdt)
      Bad("neither exclude_inode (0x0080) nor exclude_bitmap (0x0100) set");
    uint32_t groups = fs_->group_desc_count;
    std::vector<uint64_t> from_inode(groups, 0), from_gdt(groups, 0);
    ext2_inode in = Inode(kExcludeIno);
    if (by_inode) {
      if (in.i_block[EXT2_IND_BLOCK]) Bad("exclude inode: i_block[12] set");
      for (uint32_t g = 0; g < groups; g++)
        from_inode[g] = MapGet(read_, in, kShift + g);
    } else if (in.i_mode || in.i_blocks || in.i_block[EXT2_DIND_BLOCK]) {
      Bad("inode 9 in use without the exclude_inode feature");
    }
    for (uint32_t g = 0; g < groups; g++) {
      const ext2_group_desc* d = ext2fs_group_desc(fs_, fs_->group_desc, g);
      from_gdt[g] = d->bg_exclude_bitmap_lo;
      if (from_gdt[g] && !by_gdt)
        Bad("group " + std::to_string(g) +
            ": bg_exclude_bitmap set without the exclude_bitmap feature");
      if (by_inode && by_gdt && from_gdt[g] != from_inode[g])
        Bad("group " + std::to_string(g) + ": bg_exclude_bitmap " +
            std::to_string(from_gdt[g]) + " but exclude inode block " +
            std::to_string(from_inode[g]));
    }
    const std::vector<uint64_t>& where = by_gdt ? from_gdt : from_inode;
    const uint64_t count = ext2fs_blocks_count(fs_->super);
    excl_.clear();
    if (!by_inode && !by_gdt) return;
    for (uint32_t g = 0; g < groups; g++) {
      uint64_t b = where[g];
      if (!b || b >= count || !ext2fs_test_block_bitmap2(fs_->block_map, b)) {
        Bad("exclude bitmap of group " + std::to_string(g) +
            (b ? " at unallocated block " + std::to_string(b) : " missing"));
        continue;
      }
      exclbm_[b] = g;
      Block bm;
      Read(b, bm.data());
      ForEachBit(bm, [&](uint64_t i) {
        uint64_t blk = uint64_t(g) * kBlocksPerGroup + i;
        if (blk < count) excl_.insert(blk);
      });
    }
  }

  // Invariants 3 and 4: exclude bitmap == blocks of all snapshot files, each
  // owned once, allocated, and counted in i_blocks.
  void CheckOwners() {
    std::map<uint64_t, uint32_t> owner;
    uint32_t n = fs_->super->s_inodes_count;
    for (uint32_t ino = 1; ino <= n; ino++) {
      if (!ext2fs_test_inode_bitmap2(fs_->inode_map, ino)) continue;
      ext2_inode in = Inode(ino);
      if (!LINUX_S_ISREG(in.i_mode) || !(in.i_flags & kSnapFileFl)) continue;
      uint64_t count = 0, moved = 0, copied = 0, ind = 0;
      auto own = [&](uint64_t p) {
        count++;
        if (p >= ext2fs_blocks_count(fs_->super)) {
          Bad("snapshot " + std::to_string(ino) + " maps block " +
              std::to_string(p) + " beyond the fs");
          return;
        }
        if (!owner.emplace(p, ino).second)
          Bad("block " + std::to_string(p) + " owned by snapshots " +
              std::to_string(owner[p]) + " and " + std::to_string(ino));
      };
      MapWalk(
          read_, in,
          [&](uint64_t l, uint64_t p) {
            own(p);
            (l - kShift == p ? moved : copied)++;
          },
          [&](uint64_t p) {
            own(p);
            ind++;
          });
      if (in.i_dtime == 0)
        stats_ += std::to_string(in.i_generation) +
                  " moved=" + std::to_string(moved) +
                  " copied=" + std::to_string(copied) +
                  " indirect=" + std::to_string(ind) + "\n";
      if (in.i_blocks != 8 * count)
        Bad("snapshot " + std::to_string(ino) + ": i_blocks " +
            std::to_string(in.i_blocks) + " for " + std::to_string(count) +
            " blocks");
    }
    // Every block that is owned or excluded (the others are neither).
    std::set<uint64_t> blocks(excl_);
    for (auto& o : owner) blocks.insert(o.first);
    for (uint64_t b : blocks) {
      bool owned = owner.count(b) != 0;
      if (owned != (excl_.count(b) != 0))
        Bad("block " + std::to_string(b) +
            (owned ? " owned by a snapshot but not excluded"
                   : " excluded but owned by no snapshot"));
      if (owned && !ext2fs_test_block_bitmap2(fs_->block_map, b))
        Bad("snapshot block " + std::to_string(b) + " free in the live bitmap");
      if (owned && exclbm_.count(b))
        Bad("exclude bitmap block " + std::to_string(b) +
            " owned by a snapshot");
    }
  }

  // 3.3: block b of the snapshot at list position k.
  void ReadThrough(size_t k, uint64_t b, Block& out) {
    for (size_t j = k + 1; j-- > 0;) {
      uint64_t p = MapGet(read_, list_[j].in, b + kShift);
      if (p) {
        Read(p, out.data());
        return;
      }
    }
    uint64_t g = b / kBlocksPerGroup;
    if (g < fs_->group_desc_count && ext2fs_block_bitmap_loc(fs_, g) == b) {
      Read(b, out.data());
      uint64_t start = g * kBlocksPerGroup;
      for (auto it = excl_.lower_bound(start);
           it != excl_.end() && *it < start + kBlocksPerGroup; ++it) {
        uint64_t i = *it - start;
        out[i / 8] &= uint8_t(~(1 << (i % 8)));
      }
      return;
    }
    if (exclbm_.count(b)) {
      out.fill(0);
      return;
    }
    Read(b, out.data());
  }

  // Invariants 1 and 2 against the saved expected image.
  void CheckImageOf(size_t k) {
    const ext2_inode& in = list_[k].in;
    uint32_t id = in.i_generation;
    if (in.i_flags & (kSnapDeletedFl | kSnapShrunkFl)) return;
    std::string path = dir_ + "/snap-" + std::to_string(id) + ".img";
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) {
      Bad(path + ": missing");
      return;
    }
    Block b0;
    if (pread(fd, b0.data(), kBlockSize, 0) != ssize_t(kBlockSize))
      Die(path + ": short read");
    const ext2_super_block* sb =
        reinterpret_cast<const ext2_super_block*>(b0.data() + 1024);
    uint64_t n = sb->s_blocks_count;
    uint64_t isize = EXT2_I_SIZE(&in);
    if (isize != (n + kShift) * kBlockSize)
      Bad("snapshot " + std::to_string(id) + ": i_size does not match");
    uint64_t groups = (n + kBlocksPerGroup - 1) / kBlocksPerGroup;
    uint64_t bad = 0;
    for (uint64_t g = 0; g < groups; g++) {
      Block bm;
      uint64_t bbm = ext2fs_block_bitmap_loc(fs_, g);
      if (pread(fd, bm.data(), kBlockSize, off_t(bbm * kBlockSize)) !=
          ssize_t(kBlockSize))
        Die(path + ": short read");
      ForEachBit(bm, [&](uint64_t i) {
        uint64_t b = g * kBlocksPerGroup + i;
        if (b >= n) return;
        Block want, got;
        if (pread(fd, want.data(), kBlockSize, off_t(b * kBlockSize)) !=
            ssize_t(kBlockSize))
          Die(path + ": short read");
        ReadThrough(k, b, got);
        if (want != got && bad++ < 5)
          Bad("snapshot " + std::to_string(id) + " block " + std::to_string(b) +
              ": read-through differs from snap-" + std::to_string(id) +
              ".img");
      });
    }
    close(fd);
  }

  std::string image_, dir_;
  int fd_ = -1;
  ext2_filsys fs_ = nullptr;
  ReadFn read_;
  std::vector<Listed> list_;
  std::set<uint64_t> excl_;  // live exclude bitmap
  std::map<uint64_t, uint32_t> exclbm_;
  std::vector<std::string> errors_;

 public:
  std::string stats_;
};

}  // namespace

std::vector<std::string> CheckImage(const std::string& image,
                                    const std::string& expect_dir,
                                    std::string* stats) {
  Checker c(image, expect_dir);
  std::vector<std::string> errors = c.Run();
  if (stats) *stats += c.stats_;
  return errors;
}

}  // namespace n3g
