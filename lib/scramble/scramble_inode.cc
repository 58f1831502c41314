// InodeEditor: inode location, raw read through the filesystem's I/O
// channel, checksum and patch.
#include "lib/scramble/scramble_inode.h"

#include <cstring>
#include <string>

namespace e2q::scramble {

Result<InodeEditor::Location> InodeEditor::Locate(ext2_ino_t ino) const {
  ext2_super_block* sb = fs_->super;
  const std::string what = "inode " + std::to_string(ino);
  if (ino == 0 || ino > sb->s_inodes_count || sb->s_inodes_per_group == 0) {
    return Status::Corruption(what + ": locate: inode number out of range");
  }
  dgrp_t group = (ino - 1) / sb->s_inodes_per_group;
  uint64_t index = (ino - 1) % sb->s_inodes_per_group;
  if (group >= fs_->group_desc_count) {
    return Status::Corruption(what + ": locate: group out of range");
  }
  uint64_t table = ext2fs_inode_table_loc(fs_, group);
  uint64_t byte = index * EXT2_INODE_SIZE(sb);
  uint64_t block = table + byte / fs_->blocksize;
  if (table == 0 || block < table || block >= ext2fs_blocks_count(sb)) {
    return Status::Corruption(what + ": locate: inode table of group " +
                              std::to_string(group) + " is outside the fs");
  }
  return Location{block, static_cast<uint32_t>(byte % fs_->blocksize)};
}

Result<std::vector<uint8_t>> InodeEditor::Read(ext2_ino_t ino) {
  E2Q_ASSIGN_OR_RETURN(Location loc, Locate(ino));
  if (cache_.empty() || cached_block_ != loc.block) {
    cache_.assign(fs_->blocksize, 0);
    errcode_t err = io_channel_read_blk64(fs_->io, loc.block, 1, cache_.data());
    if (err != 0) {
      cache_.clear();
      return ext4::FromErrcode("inode " + std::to_string(ino),
                         "read inode table block " + std::to_string(loc.block),
                         err);
    }
    cached_block_ = loc.block;
  }
  const uint8_t* p = cache_.data() + loc.offset;
  return std::vector<uint8_t>(p, p + EXT2_INODE_SIZE(fs_->super));
}

Status InodeEditor::Write(ext2_ino_t ino, std::vector<uint8_t> raw) {
  E2Q_ASSIGN_OR_RETURN(Location loc, Locate(ino));
  if (raw.size() != static_cast<size_t>(EXT2_INODE_SIZE(fs_->super))) {
    return Status::InvalidArgument("inode " + std::to_string(ino) +
                                   ": write: wrong size");
  }
  // ext2fs_inode_csum_set works on the on-disk (little-endian) layout and
  // covers the whole inode size, extra fields included.
  errcode_t err = ext2fs_inode_csum_set(
      fs_, ino, reinterpret_cast<ext2_inode_large*>(raw.data()));
  if (err != 0) {
    return ext4::FromErrcode("inode " + std::to_string(ino), "checksum", err);
  }
  patches_->Set(loc.block, loc.offset, std::move(raw));
  return Status::OK();
}

}  // namespace e2q::scramble
