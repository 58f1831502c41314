// Damage modes (see damage.h).  The image is changed through libext2fs with
// no snapshot engine attached: damage is not a filesystem change next3
// would protect.
#include "tests/tools/next3gen/damage.h"

#include <functional>
#include <vector>

#include "tests/tools/next3gen/blockmap.h"
#include "tests/tools/next3gen/gen.h"

namespace n3g {

bool DamageKnown(const std::string& kind) {
  return kind == "list-cycle" || kind == "not-snapfile" ||
         kind == "ptr-out-of-range" || kind == "truncated-map" ||
         kind == "bad-exclude-inode" || kind == "bad-exclude-bitmap";
}

void Damage(const std::string& image, const std::string& kind) {
  g_gen = nullptr;
  ext2_filsys fs = OpenFs(image, /*force=*/true);
  struct Guard {  // frees the handle when Die throws below
    ext2_filsys& fs;
    ~Guard() {
      if (fs) ext2fs_free(fs);
    }
  } guard{fs};
  ext2_super_block* sb = fs->super;
  std::vector<uint32_t> list;
  for (uint32_t ino = sb->s_snapshot_list; ino && list.size() < 100;) {
    list.push_back(ino);
    ext2_inode in{};
    Check(ext2fs_read_inode(fs, ino, &in), "read snapshot inode");
    ino = in.osd1.linux1.l_i_version;
  }
  if (list.empty()) Die(image + ": no snapshot to damage");
  auto rw = [fs](uint32_t ino, const std::function<void(ext2_inode&)>& f) {
    ext2_inode in{};
    Check(ext2fs_read_inode(fs, ino, &in), "read inode");
    f(in);
    Check(ext2fs_write_inode(fs, ino, &in), "write inode");
  };
  uint64_t beyond = ext2fs_blocks_count(sb) + 1000;
  if (kind == "list-cycle") {
    uint32_t head = list.front();
    rw(list.back(),
       [head](ext2_inode& in) { in.osd1.linux1.l_i_version = head; });
  } else if (kind == "not-snapfile") {
    rw(list.back(), [](ext2_inode& in) { in.i_flags &= ~kSnapFileFl; });
  } else if (kind == "ptr-out-of-range") {
    ext2_inode in{};
    Check(ext2fs_read_inode(fs, list.front(), &in), "read inode");
    // The first IND block under the DIND root: its first pointer.
    std::vector<uint32_t> dind(1024), ind(1024);
    Check(io_channel_read_blk64(fs->io, in.i_block[EXT2_DIND_BLOCK], 1,
                                dind.data()),
          "read DIND");
    uint64_t indb = 0;
    for (uint32_t p : dind)
      if (p) {
        indb = p;
        break;
      }
    if (!indb) Die("active snapshot has an empty map");
    Check(io_channel_read_blk64(fs->io, indb, 1, ind.data()), "read IND");
    for (auto& p : ind)
      if (p) {
        p = uint32_t(beyond);
        break;
      }
    Check(io_channel_write_blk64(fs->io, indb, 1, ind.data()), "write IND");
  } else if (kind == "truncated-map") {
    rw(list.front(), [](ext2_inode& in) {
      in.i_size = uint32_t(kShift * kBlockSize);
      in.i_size_high = 0;
    });
  } else if (kind == "bad-exclude-inode") {
    rw(kExcludeIno, [beyond](ext2_inode& in) {
      in.i_block[EXT2_DIND_BLOCK] = uint32_t(beyond);
    });
  } else if (kind == "bad-exclude-bitmap") {
    // Group 0's bg_exclude_bitmap_lo (descriptor offset 0x14) in the primary
    // descriptor block, written raw: nothing else in the block changes.
    if (!(sb->s_feature_compat & kCompatExcludeBitmap))
      Die(image + ": no bg_exclude_bitmap (COMPAT 0x0100 clear)");
    Block gdt;
    uint64_t loc = sb->s_first_data_block + 1;
    Check(io_channel_read_blk64(fs->io, loc, 1, gdt.data()), "read GDT");
    uint32_t v = uint32_t(beyond);
    for (int i = 0; i < 4; i++) gdt[0x14 + i] = uint8_t(v >> (8 * i));
    Check(io_channel_write_blk64(fs->io, loc, 1, gdt.data()), "write GDT");
  } else {
    Die("unknown damage kind " + kind);
  }
  // Only inodes and one indirect block changed: no superblock rewrite.
  fs->flags &= ~EXT2_FLAG_DIRTY;
  Check(ext2fs_close_free(&fs), "close");
}

}  // namespace n3g
