// Inode fields and group layout through libext2fs.
#include "snapshot/next3_ext2.h"

#include <cstddef>
#include <cstring>
#include <string>

#include "lib/base/endian.h"

namespace e2q::snapshot {

Result<Next3Inode> ReadNext3Inode(const ext4::Filesystem& fs, uint32_t ino) {
  ext2_filsys f = fs.raw();
  if (ino == 0 || ino > f->super->s_inodes_count) {
    return Status::Corruption(fs.name() + ": inode " + std::to_string(ino) +
                              ": no such inode");
  }
  // The large-inode struct: libext2fs copies at most the inode size.
  struct ext2_inode_large raw;
  std::memset(&raw, 0, sizeof(raw));
  errcode_t err = ext2fs_read_inode_full(
      f, ino, reinterpret_cast<struct ext2_inode*>(&raw), sizeof(raw));
  if (err != 0) {
    return ext4::FromErrcode(fs.name(), "read inode " + std::to_string(ino),
                             err);
  }
  Next3Inode out;
  out.mode = raw.i_mode;
  out.links_count = raw.i_links_count;
  out.flags = raw.i_flags;
  out.dtime = raw.i_dtime;
  out.generation = raw.i_generation;
  out.next_snapshot = raw.osd1.linux1.l_i_version;
  out.size = uint64_t{raw.i_size} | uint64_t{raw.i_size_high} << 32;
  out.mtime = raw.i_mtime;
  // i_crtime exists when the inode is large and its extra part reaches it.
  const size_t crtime_end =
      offsetof(struct ext2_inode_large, i_crtime) + sizeof(raw.i_crtime);
  if (EXT2_INODE_SIZE(f->super) >= crtime_end &&
      EXT2_GOOD_OLD_INODE_SIZE + size_t{raw.i_extra_isize} >= crtime_end) {
    out.crtime = raw.i_crtime;
  }
  for (int i = 0; i < kNumSlots; ++i) out.block[i] = raw.i_block[i];
  return out;
}

BlockSet FixedMetadataBlocks(const ext4::Filesystem& fs) {
  ext2_filsys f = fs.raw();
  BlockSet out;
  out.Add(0);  // the superblock's block (or the boot block on 1 KiB fs)
  const uint64_t end = fs.blocks_count();
  auto add = [&](uint64_t start, uint64_t count) {
    if (start >= end) return;
    out.Add(start, std::min(count, end - start));
  };
  for (dgrp_t g = 0; g < f->group_desc_count; ++g) {
    blk64_t super = 0, old_desc = 0, new_desc = 0;
    blk_t used = 0;
    if (ext2fs_super_and_bgd_loc2(f, g, &super, &old_desc, &new_desc, &used) ==
            0 &&
        used > 0) {
      add(ext2fs_group_first_block2(f, g), used);
    }
    add(ext2fs_block_bitmap_loc(f, g), 1);
    add(ext2fs_inode_bitmap_loc(f, g), 1);
    add(ext2fs_inode_table_loc(f, g), f->inode_blocks_per_group);
  }
  return out;
}

std::vector<uint64_t> BlockBitmapLocations(const ext4::Filesystem& fs) {
  ext2_filsys f = fs.raw();
  std::vector<uint64_t> out(f->group_desc_count);
  for (dgrp_t g = 0; g < f->group_desc_count; ++g) {
    out[g] = ext2fs_block_bitmap_loc(f, g);
  }
  return out;
}

std::vector<uint64_t> ExcludeBitmapLocations(const ext4::Filesystem& fs) {
  ext2_filsys f = fs.raw();
  const uint32_t desc_size = EXT2_DESC_SIZE(f->super);
  std::vector<uint64_t> out(f->group_desc_count);
  for (dgrp_t g = 0; g < f->group_desc_count; ++g) {
    // In memory, libext2fs keeps descriptors in host order.
    const auto* d = static_cast<const struct ext4_group_desc*>(
        static_cast<const void*>(ext2fs_group_desc(f, f->group_desc, g)));
    uint64_t b = d->bg_exclude_bitmap_lo;
    if (desc_size >= EXT2_MIN_DESC_SIZE_64BIT) {
      b |= uint64_t{d->bg_exclude_bitmap_hi} << 32;
    }
    out[g] = b;
  }
  return out;
}

Result<InodeLocation> LocateInode(const ext4::Filesystem& fs, uint32_t ino) {
  ext2_filsys f = fs.raw();
  if (ino == 0 || ino > f->super->s_inodes_count) {
    return Status::Corruption(fs.name() + ": inode " + std::to_string(ino) +
                              ": no such inode");
  }
  const uint32_t ipg = f->super->s_inodes_per_group;
  const dgrp_t g = (ino - 1) / ipg;
  const uint64_t index = (ino - 1) % ipg;
  InodeLocation loc;
  loc.size = EXT2_INODE_SIZE(f->super);
  const uint64_t byte = index * loc.size;
  loc.block = ext2fs_inode_table_loc(f, g) + byte / fs.block_size();
  loc.offset = static_cast<uint32_t>(byte % fs.block_size());
  if (ext2fs_inode_table_loc(f, g) == 0 || loc.block >= fs.blocks_count()) {
    return Status::Corruption(fs.name() + ": inode " + std::to_string(ino) +
                              ": group " + std::to_string(g) +
                              " has no usable inode table");
  }
  return loc;
}

}  // namespace e2q::snapshot
