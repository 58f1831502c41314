// Live filesystem changes through the next3 engine (see fsops.h).
#include "tests/tools/next3gen/fsops.h"

#include <algorithm>
#include <cstring>

#include "tests/tools/next3gen/blockmap.h"
#include "tests/tools/next3gen/gen.h"

namespace n3g {
namespace {

ext2_inode ReadInode(Gen& gen, uint32_t ino) {
  ext2_inode in{};
  Check(ext2fs_read_inode(gen.fs, ino, &in),
        "read inode " + std::to_string(ino));
  return in;
}

void WriteInode(Gen& gen, uint32_t ino, ext2_inode& in) {
  Check(ext2fs_write_inode(gen.fs, ino, &in),
        "write inode " + std::to_string(ino));
}

// Deterministic content of logical block l of inode ino, version v.
void Pattern(Gen& gen, uint32_t ino, uint64_t l, uint64_t v, Block& out) {
  uint64_t x =
      gen.seed * 0x9E3779B97F4A7C15ull ^ (uint64_t(ino) << 40) ^ (l << 8) ^ v;
  for (size_t i = 0; i < kBlockSize; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    memcpy(out.data() + i, &x, 8);
  }
  char tag[64];
  int n = snprintf(tag, sizeof tag, "ino %u block %llu v %llu\n", ino,
                   (unsigned long long)l, (unsigned long long)v);
  memcpy(out.data(), tag, size_t(n));
}

uint64_t g_version = 0;

ReadFn Reader(Gen& gen) {
  return [&gen](uint64_t b, void* buf) { gen.ReadRaw(b, buf); };
}

AllocFn ZeroAlloc(Gen& gen) {
  return [&gen](uint64_t goal) { return gen.AllocBlock(goal, true); };
}

void SetSize(ext2_inode& in, uint64_t size) {
  in.i_size = uint32_t(size);
  in.i_size_high = uint32_t(size >> 32);
}

bool HasBlockMap(const ext2_inode& in) {
  // Fast symlinks keep their target in i_block.
  return !(LINUX_S_ISLNK(in.i_mode) && in.i_blocks == 0);
}

void FreeInode(Gen& gen, uint32_t ino, ext2_inode& in, bool dir) {
  if (HasBlockMap(in))
    MapRemoveIf(
        gen, in, [](uint64_t, uint64_t) { return true; },
        [&gen](uint64_t b) { gen.Release(b); }, false);
  memset(in.i_block, 0, sizeof in.i_block);
  in.i_links_count = 0;
  in.i_blocks = 0;
  SetSize(in, 0);
  in.i_dtime = in.i_ctime = uint32_t(gen.now);
  WriteInode(gen, ino, in);
  ext2fs_inode_alloc_stats2(gen.fs, ino, -1, dir ? 1 : 0);
}

// Runs `add` (which adds an entry to `dir`), expanding the directory
// when it is full, then returns the inode `name` names there.
template <typename Add>
ext2_ino_t AddEntry(Gen& gen, uint32_t dir, const std::string& name,
                    const std::string& what, Add add) {
  for (int tries = 0;; tries++) {
    errcode_t err = add();
    if (err == EXT2_ET_DIR_NO_SPACE && tries < 2) {
      Check(ext2fs_expand_dir(gen.fs, dir), "expand dir");
      continue;
    }
    Check(err, what + " " + name);
    break;
  }
  ext2_ino_t ino = 0;
  Check(ext2fs_lookup(gen.fs, dir, name.c_str(), int(name.size()), nullptr,
                      &ino),
        "lookup " + name);
  return ino;
}

}  // namespace

void LinkEntry(Gen& gen, uint32_t dir, const std::string& name, uint32_t ino,
               int file_type) {
  for (int tries = 0;; tries++) {
    errcode_t err = ext2fs_link(gen.fs, dir, name.c_str(), ino, file_type);
    if (err == EXT2_ET_DIR_NO_SPACE && tries < 2) {
      Check(ext2fs_expand_dir(gen.fs, dir), "expand dir");
      continue;
    }
    Check(err, "link " + name);
    return;
  }
}

uint32_t MakeDir(Gen& gen, uint32_t parent, const std::string& name,
                 int inode_group) {
  ext2_ino_t want = 0;
  if (inode_group >= 0)  // new_inode starts at the "parent's" group
    Check(ext2fs_new_inode(
              gen.fs,
              uint32_t(inode_group) * gen.fs->super->s_inodes_per_group + 1,
              LINUX_S_IFDIR | 0755, nullptr, &want),
          "new directory inode");
  return AddEntry(gen, parent, name, "mkdir", [&] {
    return ext2fs_mkdir(gen.fs, parent, want, name.c_str());
  });
}

void RemoveDir(Gen& gen, uint32_t parent, const std::string& name,
               uint32_t ino) {
  Check(ext2fs_unlink(gen.fs, parent, name.c_str(), ino, 0), "unlink " + name);
  ext2_inode in = ReadInode(gen, ino);
  FreeInode(gen, ino, in, true);
  ext2_inode p = ReadInode(gen, parent);
  p.i_links_count--;
  p.i_mtime = p.i_ctime = uint32_t(gen.now);
  WriteInode(gen, parent, p);
}

uint32_t MakeSymlink(Gen& gen, uint32_t parent, const std::string& name,
                     const std::string& target) {
  return AddEntry(gen, parent, name, "symlink", [&] {
    return ext2fs_symlink(gen.fs, parent, 0, name.c_str(), target.c_str());
  });
}

uint32_t MakeFile(Gen& gen, uint32_t parent, const std::string& name,
                  const std::vector<uint64_t>& blocks, uint64_t size,
                  int group) {
  ext2_ino_t ino = 0;
  Check(ext2fs_new_inode(gen.fs, parent, LINUX_S_IFREG | 0644, nullptr, &ino),
        "new inode");
  ext2fs_inode_alloc_stats2(gen.fs, ino, +1, 0);
  ext2_inode in{};
  in.i_mode = LINUX_S_IFREG | 0644;
  in.i_links_count = 1;
  in.i_atime = in.i_ctime = in.i_mtime = uint32_t(gen.now);
  Check(ext2fs_write_new_inode(gen.fs, ino, &in), "write new inode");
  LinkEntry(gen, parent, name, ino, EXT2_FT_REG_FILE);
  WriteBlocks(gen, ino, blocks, size, group);
  return ino;
}

void WriteBlocks(Gen& gen, uint32_t ino, const std::vector<uint64_t>& blocks,
                 uint64_t min_size, int group) {
  ext2_inode in = ReadInode(gen, ino);
  if (!LINUX_S_ISREG(in.i_mode) || !in.i_links_count)
    Die("write: inode " + std::to_string(ino) + " is not a regular file");
  // Spread files over the groups (by inode number), so that snapshots own
  // blocks and copy bitmaps in every group.
  uint64_t goal =
      uint64_t(group >= 0 ? uint32_t(group) : ino * 13 % gen.Groups()) *
      kBlocksPerGroup;
  for (uint64_t l : blocks) {
    Block data;
    Pattern(gen, ino, l, ++g_version, data);
    uint64_t p = MapGet(Reader(gen), in, l);
    if (p && !gen.NeedsMove(p)) {
      gen.Write(p, data.data());  // in place: not protected
      continue;
    }
    uint64_t q = gen.AllocBlock(p ? p : goal, false);
    gen.Write(q, data.data());
    int fresh = MapSet(gen, in, l, q, ZeroAlloc(gen));
    in.i_blocks += 8 * fresh + (p ? 0 : 8);
    if (p) gen.MoveIntoActive(p);  // move-on-write: old block to snapshot
    goal = q + 1;
  }
  uint64_t size = EXT2_I_SIZE(&in), new_size = std::max(size, min_size);
  for (uint64_t l : blocks)  // a block written past EOF extends the file
    if (l * kBlockSize >= new_size) new_size = (l + 1) * kBlockSize;
  SetSize(in, new_size);
  in.i_mtime = in.i_ctime = uint32_t(gen.now);
  WriteInode(gen, ino, in);
}

void TruncateFile(Gen& gen, uint32_t ino, uint64_t size) {
  ext2_inode in = ReadInode(gen, ino);
  if (!LINUX_S_ISREG(in.i_mode) || !in.i_links_count)
    Die("truncate: inode " + std::to_string(ino) + " is not a regular file");
  uint64_t first = (size + kBlockSize - 1) / kBlockSize;
  MapRemoveIf(
      gen, in, [first](uint64_t l, uint64_t) { return l >= first; },
      [&gen](uint64_t b) { gen.Release(b); }, false);
  in.i_blocks = uint32_t(8 * MapCount(Reader(gen), in));
  SetSize(in, size);
  in.i_mtime = in.i_ctime = uint32_t(gen.now);
  WriteInode(gen, ino, in);
}

void RemoveFile(Gen& gen, uint32_t parent, const std::string& name,
                uint32_t ino) {
  Check(ext2fs_unlink(gen.fs, parent, name.c_str(), ino, 0), "unlink " + name);
  ext2_inode in = ReadInode(gen, ino);
  if (in.i_links_count > 1) {
    in.i_links_count--;
    in.i_ctime = uint32_t(gen.now);
    WriteInode(gen, ino, in);
    return;
  }
  FreeInode(gen, ino, in, false);
}

void AddLink(Gen& gen, uint32_t dir, const std::string& name, uint32_t ino) {
  LinkEntry(gen, dir, name, ino, EXT2_FT_REG_FILE);
  ext2_inode in = ReadInode(gen, ino);
  in.i_links_count++;
  in.i_ctime = uint32_t(gen.now);
  WriteInode(gen, ino, in);
}

void Rename(Gen& gen, uint32_t from_dir, const std::string& from,
            uint32_t to_dir, const std::string& to, uint32_t ino, int ft) {
  LinkEntry(gen, to_dir, to, ino, ft);
  Check(ext2fs_unlink(gen.fs, from_dir, from.c_str(), ino, 0),
        "unlink " + from);
}

}  // namespace n3g
