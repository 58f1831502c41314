// InodeWalker: per-inode block selection, extent and indirect tree walks.
#include "lib/ext4/ext4_inode_walk.h"

#include <algorithm>
#include <cstring>

#include "lib/base/endian.h"

namespace e2q::ext4 {

namespace {

// On-disk names (include/linux/ext2_fs.h and the ext4 extent format).
constexpr uint16_t kExtentMagic = 0xF30A;
constexpr uint32_t kExtentHeaderSize = 12;
constexpr uint32_t kExtentEntrySize = 12;
constexpr uint32_t kRootExtentCapacity = (60 - kExtentHeaderSize) / 12;
constexpr uint16_t kInitMaxLen = 32768;  // longer ee_len = unwritten extent
// The kernel never builds trees deeper than 5; anything past this is
// corruption and would only make the walk slower.
constexpr uint32_t kMaxExtentDepth = 32;
constexpr uint32_t kBadInode = 1;

constexpr uint16_t kTypeMask = 0xF000;
constexpr uint16_t kTypeDir = 0x4000;
constexpr uint16_t kTypeReg = 0x8000;
constexpr uint16_t kTypeLnk = 0xA000;
constexpr uint16_t kTypeChr = 0x2000;
constexpr uint16_t kTypeBlk = 0x6000;

constexpr uint32_t kFlagExtents = 0x00080000;
constexpr uint32_t kFlagEaInode = 0x00200000;
constexpr uint32_t kFlagInlineData = 0x10000000;

constexpr int kDirectBlocks = 12;
constexpr uint64_t kFastSymlinkMax = 60;  // sizeof(i_block)

}  // namespace

InodeFields InodeFields::Decode(const uint8_t* raw, bool has_64bit) {
  InodeFields f;
  f.mode = LoadLE16(raw + 0);
  f.size = LoadLE32(raw + 4) | uint64_t{LoadLE32(raw + 108)} << 32;
  f.dtime = LoadLE32(raw + 20);
  f.links_count = LoadLE16(raw + 26);
  f.blocks_lo = LoadLE32(raw + 28);
  f.flags = LoadLE32(raw + 32);
  std::memcpy(f.i_block, raw + 40, sizeof(f.i_block));
  f.file_acl = LoadLE32(raw + 104);
  if (has_64bit) f.file_acl |= uint64_t{LoadLE16(raw + 118)} << 32;
  return f;
}

uint32_t InodeFields::block(int i) const { return LoadLE32(i_block + 4 * i); }

InodeWalker::InodeWalker(io::File* device, const WalkGeometry& geometry,
                         BlockSet* out, std::vector<std::string>* warnings)
    : device_(device), g_(geometry), out_(out), warnings_(warnings) {}

void InodeWalker::Warn(uint32_t ino, const std::string& what) {
  warnings_->push_back("inode " + std::to_string(ino) + ": " + what);
}

bool InodeWalker::InRange(uint64_t block) const {
  return block >= g_.first_data_block && block < g_.blocks_count;
}

bool InodeWalker::ReadBlock(uint32_t ino, const char* what, uint64_t block,
                            std::vector<uint8_t>* buf) {
  buf->resize(g_.block_size);
  ++blocks_read_;
  Status s = device_->ReadAt(block * g_.block_size, buf->data(), buf->size());
  if (!s.ok()) {
    Warn(ino,
         std::string(what) + " " + std::to_string(block) + ": " + s.message());
    return false;
  }
  return true;
}

void InodeWalker::AddData(uint64_t start, uint64_t count) {
  // Out-of-range data blocks are e2fsck's to report; e2image ignores them.
  if (start >= g_.blocks_count) return;
  count = std::min(count, g_.blocks_count - start);
  out_->Add(start, count);
  if (in_dir_ && dirs_ != nullptr) dirs_->Add(start, count);
}

void InodeWalker::WalkJournalBackup(uint32_t journal_ino,
                                    const uint8_t* jnl_blocks) {
  InodeFields in;
  std::memcpy(in.i_block, jnl_blocks, sizeof(in.i_block));
  in.size = LoadLE32(jnl_blocks + 64) | uint64_t{LoadLE32(jnl_blocks + 60)}
                                            << 32;
  in_dir_ = false;
  // The backup keeps no flags; an extent header says how to read it.
  if (LoadLE16(in.i_block) == kExtentMagic) {
    WalkExtentRoot(journal_ino, in, Want::kAll);
  } else {
    WalkIndirect(journal_ino, in, Want::kAll);
  }
}

void InodeWalker::Walk(uint32_t ino, const uint8_t* raw) {
  const InodeFields in = InodeFields::Decode(raw, g_.has_64bit);
  const bool reserved = ino < g_.first_ino;
  // e2image looks only at linked inodes; e2fsck also checks reserved ones,
  // and inodes that look in use but lost their links are worth keeping.
  if (in.links_count == 0 && !reserved && (in.mode == 0 || in.dtime != 0)) {
    return;
  }
  if (in.file_acl != 0) {
    if (InRange(in.file_acl)) {
      out_->Add(in.file_acl);
    } else {
      Warn(ino, "extended attribute block " + std::to_string(in.file_acl) +
                    ": outside the filesystem");
    }
  }

  const uint16_t type = in.mode & kTypeMask;
  const bool is_dir = type == kTypeDir;
  const bool is_reg = type == kTypeReg;
  const bool is_lnk = type == kTypeLnk;
  in_dir_ = is_dir;
  const bool inline_data = (in.flags & kFlagInlineData) != 0;
  const bool extents = (in.flags & kFlagExtents) != 0;

  if (ino == kBadInode) {
    // Its data blocks are the bad blocks themselves: never read them.
    if (extents) {
      WalkExtentRoot(ino, in, Want::kMapping);
    } else {
      WalkIndirect(ino, in, Want::kMapping);
    }
    return;
  }

  // libext2fs' ext2fs_inode_has_valid_blocks2(), which e2image uses.
  bool valid_blocks = is_dir || is_reg || is_lnk;
  if (is_lnk) {
    if (in.file_acl == 0) {
      valid_blocks = in.blocks_lo != 0;
    } else {
      valid_blocks =
          in.size >= kFastSymlinkMax || (in.size > 4 && in.block(1) == 0);
    }
  }
  if (inline_data) valid_blocks = false;

  const bool whole = ino == g_.journal_inum || ino == g_.orphan_file_inum ||
                     ino == g_.quota_inums[0] || ino == g_.quota_inums[1] ||
                     ino == g_.quota_inums[2] || (in.flags & kFlagEaInode) != 0;
  // e2fsck reads a symlink's block whenever it is too long to be fast.
  const bool slow_symlink =
      is_lnk && !inline_data && (valid_blocks || in.size >= kFastSymlinkMax);

  Want want;
  if ((whole && !inline_data) || (is_dir && valid_blocks) || slow_symlink) {
    want = Want::kAll;
  } else if (is_reg && valid_blocks) {
    want = g_.all_data && in.links_count != 0 ? Want::kAll : Want::kMapping;
  } else if (!is_dir && !is_reg && !is_lnk && !reserved && !inline_data) {
    SelectSpecialFirstBlock(ino, in);
    return;
  } else {
    return;
  }
  if (extents) {
    WalkExtentRoot(ino, in, want);
  } else {
    WalkIndirect(ino, in, want);
  }
}

void InodeWalker::SelectSpecialFirstBlock(uint32_t ino, const InodeFields& in) {
  if (in.block(0) == 0) return;
  if (g_.has_extents && (in.flags & kFlagExtents)) {
    // Rare enough to take the whole (tiny) file.
    WalkExtentRoot(ino, in, Want::kAll);
    return;
  }
  bool not_device = false;
  for (int i = 0; i < 15; ++i) {
    uint32_t b = in.block(i);
    if (b == 0) continue;
    if (i >= 4) not_device = true;
    if (!InRange(b)) return;  // e2fsck: cannot be a directory
  }
  const uint16_t type = in.mode & kTypeMask;
  if ((type == kTypeChr || type == kTypeBlk) && in.links_count == 1 &&
      !not_device) {
    return;
  }
  out_->Add(in.block(0));
}

void InodeWalker::WalkExtentRoot(uint32_t ino, const InodeFields& in,
                                 Want want) {
  const uint8_t* h = in.i_block;
  if (LoadLE16(h) != kExtentMagic) {
    Warn(ino, "extent header in inode: bad magic");
    return;
  }
  uint32_t depth = LoadLE16(h + 6);
  if (depth > kMaxExtentDepth) {
    Warn(ino, "extent tree depth " + std::to_string(depth) + ": too deep");
    return;
  }
  if (depth == 0 && want == Want::kMapping) return;  // nothing outside
  WalkExtentNode(ino, h, kRootExtentCapacity, depth, want);
}

void InodeWalker::WalkExtentNode(uint32_t ino, const uint8_t* node,
                                 uint32_t capacity, uint32_t depth, Want want) {
  uint32_t entries = LoadLE16(node + 2);
  if (entries > capacity) {
    Warn(ino, "extent node at depth " + std::to_string(depth) + ": " +
                  std::to_string(entries) + " entries, room for " +
                  std::to_string(capacity));
    entries = capacity;
  }
  const uint32_t child_capacity =
      (g_.block_size - kExtentHeaderSize) / kExtentEntrySize;
  for (uint32_t i = 0; i < entries; ++i) {
    const uint8_t* e = node + kExtentHeaderSize + i * kExtentEntrySize;
    if (depth == 0) {
      uint32_t len = LoadLE16(e + 4);
      if (len > kInitMaxLen) len -= kInitMaxLen;
      uint64_t start = LoadLE32(e + 8) | uint64_t{LoadLE16(e + 6)} << 32;
      if (want == Want::kAll) AddData(start, len);
      continue;
    }
    uint64_t child = LoadLE32(e + 4) | uint64_t{LoadLE16(e + 8)} << 32;
    if (!InRange(child)) {
      Warn(ino, "extent index points to block " + std::to_string(child) +
                    ", outside the filesystem");
      continue;
    }
    out_->Add(child);
    // A leaf is not read when only mapping blocks are wanted.
    if (depth == 1 && want == Want::kMapping) continue;
    uint64_t key = child * 64 + depth;
    if (!visited_.insert(key).second) continue;
    if (level_bufs_.size() < depth) level_bufs_.resize(depth);
    std::vector<uint8_t>* buf = &level_bufs_[depth - 1];
    if (!ReadBlock(ino, "extent tree block", child, buf)) continue;
    const uint8_t* h = buf->data();
    if (LoadLE16(h) != kExtentMagic) {
      Warn(ino, "extent tree block " + std::to_string(child) + ": bad magic");
      continue;
    }
    if (LoadLE16(h + 6) != depth - 1) {
      Warn(ino, "extent tree block " + std::to_string(child) + ": depth " +
                    std::to_string(LoadLE16(h + 6)) + ", expected " +
                    std::to_string(depth - 1));
    }
    // Interpreted by its position in the tree, as libext2fs does.
    WalkExtentNode(ino, h, child_capacity, depth - 1, want);
  }
}

void InodeWalker::WalkIndirect(uint32_t ino, const InodeFields& in, Want want) {
  if (want == Want::kAll) {
    for (int i = 0; i < kDirectBlocks; ++i) {
      if (in.block(i) != 0) AddData(in.block(i), 1);
    }
  }
  for (int level = 1; level <= 3; ++level) {
    uint32_t b = in.block(kDirectBlocks + level - 1);
    if (b != 0) WalkIndirectBlock(ino, b, level, want);
  }
}

void InodeWalker::WalkIndirectBlock(uint32_t ino, uint64_t block, int level,
                                    Want want) {
  static const char* const kNames[] = {
      "", "indirect block", "double indirect block", "triple indirect block"};
  if (!InRange(block)) {
    Warn(ino, std::string(kNames[level]) + " " + std::to_string(block) +
                  ": outside the filesystem");
    return;
  }
  out_->Add(block);
  if (level == 1 && want == Want::kMapping) return;
  if (level >= 2 && !visited_.insert(block * 64 + 40 + level).second) return;
  if (level_bufs_.size() < static_cast<size_t>(level))
    level_bufs_.resize(level);
  std::vector<uint8_t>* buf = &level_bufs_[level - 1];
  if (!ReadBlock(ino, kNames[level], block, buf)) return;
  const uint32_t n = g_.block_size / 4;
  uint64_t run_start = 0, run_len = 0;
  for (uint32_t j = 0; j < n; ++j) {
    uint32_t e = LoadLE32(buf->data() + 4 * j);
    if (e == 0) continue;
    if (level > 1) {
      WalkIndirectBlock(ino, e, level - 1, want);
      continue;
    }
    if (run_len != 0 && e == run_start + run_len) {
      ++run_len;
      continue;
    }
    if (run_len != 0) AddData(run_start, run_len);
    run_start = e;
    run_len = 1;
  }
  if (run_len != 0) AddData(run_start, run_len);
}

}  // namespace e2q::ext4
