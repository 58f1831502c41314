// Normalise: plan the superblock, descriptor, bitmap and exclude-inode
// changes of an exported snapshot image.
#include "snapshot/next3_normalise.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "lib/base/endian.h"
#include "lib/ext4/ext2_fs.h"
#include "snapshot/next3_ext2.h"
#include "snapshot/next3_format.h"

namespace e2q::snapshot {

namespace {

std::string Num(uint64_t v) { return std::to_string(v); }

uint64_t CountZeroBits(const std::vector<uint8_t>& bits, uint64_t n) {
  uint64_t ones = 0;
  for (uint64_t i = 0; i < n / 8; ++i) ones += __builtin_popcount(bits[i]);
  for (uint64_t i = n / 8 * 8; i < n; ++i) ones += (bits[i / 8] >> (i % 8)) & 1;
  return n - ones;
}

struct InodeBlocks {
  uint64_t blocks_count;
  const BlockSet* reserved;
  BlockSet* out;
  std::string error;
};

int CollectBlock(ext2_filsys, blk64_t* blocknr, e2_blkcnt_t, blk64_t, int,
                 void* priv) {
  auto* c = static_cast<InodeBlocks*>(priv);
  const uint64_t b = *blocknr;
  if (b >= c->blocks_count || c->reserved->Contains(b)) {
    c->error = "block " + Num(b) +
               (b >= c->blocks_count ? " is past the end of the filesystem"
                                     : " is a fixed metadata block");
    return BLOCK_ABORT;
  }
  c->out->Add(b);
  return 0;
}

// Everything that changes in the primary descriptor of one group.
struct DescChange {
  uint32_t free_blocks;
  uint32_t free_inodes;
  bool clear_exclude;
};

class Planner {
 public:
  Planner(io::File* image, const ext4::Filesystem& fs, uint32_t snapshot_ino,
          Normalisation* n)
      : image_(image),
        fs_(fs),
        f_(fs.raw()),
        snapshot_ino_(snapshot_ino),
        n_(n) {}

  Status Run() {
    const std::string& name = image_->name();
    if (ext2fs_has_feature_metadata_csum(f_->super)) {
      return Status::NotSupported(
          name +
          ": normalise: metadata_csum images are not supported (next3 "
          "never made them)");
    }
    if (ext2fs_has_feature_bigalloc(f_->super)) {
      return Status::NotSupported(name +
                                  ": normalise: bigalloc is not supported");
    }
    reserved_ = FixedMetadataBlocks(fs_);
    const uint32_t compat = f_->super->s_feature_compat;
    if (compat & kCompatExcludeInode) {
      E2Q_RETURN_IF_ERROR(CollectExcludeInode());
    }
    std::vector<uint64_t> gd_exclude;
    if (compat & kCompatExcludeBitmap) {
      gd_exclude = ExcludeBitmapLocations(fs_);
      for (dgrp_t g = 0; g < gd_exclude.size(); ++g) {
        const uint64_t b = gd_exclude[g];
        if (b == 0) continue;
        if (b >= fs_.blocks_count() || reserved_.Contains(b)) {
          return Status::Corruption(name + ": group " + Num(g) +
                                    ": bg_exclude_bitmap " + Num(b) +
                                    " is not a usable block");
        }
        n_->released.Add(b);
      }
    }
    E2Q_RETURN_IF_ERROR(FindUnlinkedSnapshots());
    E2Q_RETURN_IF_ERROR(PlanBitmaps());
    E2Q_RETURN_IF_ERROR(PlanInodeBitmaps());
    E2Q_RETURN_IF_ERROR(PlanDescriptors(gd_exclude));
    E2Q_RETURN_IF_ERROR(PlanSuperblock());
    if (compat & kCompatExcludeInode) E2Q_RETURN_IF_ERROR(ClearExcludeInode());
    for (const BlockRun& r : n_->released.Runs()) {
      n_->patches.Zero(r.start, r.count);
    }
    return Status::OK();
  }

 private:
  Status Fail(const std::string& op, errcode_t err) {
    Status s = ext4::FromErrcode(image_->name(), op, err);
    return Status::Corruption(s.message());
  }

  Status CollectExcludeInode() {
    InodeBlocks c{fs_.blocks_count(), &reserved_, &n_->released, ""};
    errcode_t err = ext2fs_block_iterate3(f_, kExcludeIno, BLOCK_FLAG_READ_ONLY,
                                          nullptr, CollectBlock, &c);
    if (!c.error.empty()) {
      return Status::Corruption(image_->name() +
                                ": exclude inode 9: " + c.error);
    }
    if (err != 0) return Fail("exclude inode 9: read block map", err);
    return Status::OK();
  }

  // The snapshot list as it was at take, walked in the image from the
  // snapshot's own inode (the head then): next3 left each listed inode as
  // an empty file with its i_next_snapshot.  One with no link is an inode
  // that only the list kept alive; in the image it is an allocated inode
  // with links count 0 and no dtime, which e2fsck rejects.  The walk ends
  // at the first inode that is not such an empty regular file.
  Status FindUnlinkedSnapshots() {
    errcode_t err = ext2fs_read_bitmaps(f_);
    if (err != 0) return Fail("read bitmaps", err);
    std::set<uint32_t> seen;
    for (uint32_t ino = snapshot_ino_; ino != 0;) {
      if (ino < EXT2_FIRST_INO(f_->super) || ino > f_->super->s_inodes_count ||
          !seen.insert(ino).second) {
        break;
      }
      Result<Next3Inode> r = ReadNext3Inode(fs_, ino);
      if (!r.ok()) break;
      const Next3Inode& inode = r.value();
      if (!inode.is_regular() || inode.size != 0) break;
      if (inode.links_count == 0 && inode.dtime == 0 &&
          ext2fs_test_inode_bitmap2(f_->inode_map, ino)) {
        n_->released_inodes.push_back(ino);
      }
      ino = inode.next_snapshot;
    }
    return Status::OK();
  }

  // Frees the unlinked snapshot inodes: dtime set (to the image's last
  // write time, the take), bit cleared in the on-disk inode bitmap.
  Status PlanInodeBitmaps() {
    if (n_->released_inodes.empty()) return Status::OK();
    const uint32_t ipg = f_->super->s_inodes_per_group;
    const uint32_t dtime =
        std::max(f_->super->s_wtime, f_->super->s_inodes_count);
    std::map<uint64_t, std::vector<uint8_t>> bitmaps;  // block -> content
    for (uint32_t ino : n_->released_inodes) {
      const dgrp_t g = (ino - 1) / ipg;
      const uint32_t bit = (ino - 1) % ipg;
      const uint64_t loc = ext2fs_inode_bitmap_loc(f_, g);
      auto it = bitmaps.find(loc);
      if (it == bitmaps.end()) {
        std::vector<uint8_t> block(kBlockSize);
        E2Q_RETURN_IF_ERROR(
            image_->ReadAt(loc * kBlockSize, block.data(), block.size()));
        it = bitmaps.emplace(loc, std::move(block)).first;
      }
      it->second[bit / 8] =
          static_cast<uint8_t>(it->second[bit / 8] & ~(1u << (bit % 8)));
      E2Q_ASSIGN_OR_RETURN(InodeLocation where, LocateInode(fs_, ino));
      std::vector<uint8_t> le(4);
      StoreLE32(le.data(), dtime);
      n_->patches.Set(where.block, where.offset + 0x14, std::move(le));
      n_->changed.Add(where.block);
    }
    for (auto& [loc, block] : bitmaps) {
      n_->patches.SetBlock(loc, std::move(block));
      n_->changed.Add(loc);
    }
    return Status::OK();
  }

  Status PlanBitmaps() {
    errcode_t err = ext2fs_read_bitmaps(f_);
    if (err != 0) return Fail("read bitmaps", err);
    // The released runs cut at group boundaries, by group (a filesystem of
    // 2^15 groups has released blocks in every group: no per-block work).
    std::map<dgrp_t, std::vector<BlockRun>> groups;
    for (const BlockRun& r : n_->released.Runs()) {
      ext2fs_unmark_block_bitmap_range2(f_->block_map, r.start, r.count);
      for (uint64_t b = r.start; b < r.start + r.count;) {
        const dgrp_t g = ext2fs_group_of_blk2(f_, b);
        const uint64_t end = std::min<uint64_t>(
            r.start + r.count, ext2fs_group_last_block2(f_, g) + 1);
        groups[g].push_back({b, end - b});
        b = end;
      }
    }
    // The on-disk bitmap blocks of the groups that lose blocks.
    for (const auto& [g, runs] : groups) {
      if (ext2fs_has_group_desc_csum(f_) &&
          ext2fs_bg_flags_test(f_, g, EXT2_BG_BLOCK_UNINIT)) {
        return Status::NotSupported(
            image_->name() + ": group " + Num(g) +
            ": exclude blocks in a group whose block bitmap is uninitialised");
      }
      const uint64_t loc = ext2fs_block_bitmap_loc(f_, g);
      std::vector<uint8_t> block(kBlockSize);
      E2Q_RETURN_IF_ERROR(
          image_->ReadAt(loc * kBlockSize, block.data(), block.size()));
      const uint64_t first = ext2fs_group_first_block2(f_, g);
      bool changed = false;
      for (const BlockRun& r : runs) {
        for (uint64_t b = r.start; b < r.start + r.count; ++b) {
          const uint64_t bit = b - first;
          if (block[bit / 8] & (1u << (bit % 8))) {
            block[bit / 8] =
                static_cast<uint8_t>(block[bit / 8] & ~(1u << (bit % 8)));
            changed = true;
          }
        }
      }
      if (changed) {
        n_->patches.SetBlock(loc, std::move(block));
        n_->changed.Add(loc);
      }
    }
    for (uint32_t ino : n_->released_inodes) {
      ext2fs_unmark_inode_bitmap2(f_->inode_map, ino);
    }
    // Free counts per group, from the bitmaps as they will read.
    std::vector<uint8_t> bits;
    free_blocks_.resize(f_->group_desc_count);
    free_inodes_.resize(f_->group_desc_count);
    const uint32_t ipg = f_->super->s_inodes_per_group;
    for (dgrp_t g = 0; g < f_->group_desc_count; ++g) {
      const uint64_t n = ext2fs_group_blocks_count(f_, g);
      bits.assign((n + 7) / 8, 0);
      err = ext2fs_get_block_bitmap_range2(
          f_->block_map, ext2fs_group_first_block2(f_, g), n, bits.data());
      if (err != 0) return Fail("block bitmap of group " + Num(g), err);
      free_blocks_[g] = CountZeroBits(bits, n);
      bits.assign((ipg + 7) / 8, 0);
      err = ext2fs_get_inode_bitmap_range2(f_->inode_map, uint64_t{g} * ipg + 1,
                                           ipg, bits.data());
      if (err != 0) return Fail("inode bitmap of group " + Num(g), err);
      free_inodes_[g] = CountZeroBits(bits, ipg);
    }
    return Status::OK();
  }

  Status PlanDescriptors(const std::vector<uint64_t>& gd_exclude) {
    const uint32_t desc_size = EXT2_DESC_SIZE(f_->super);
    const uint32_t per_block = EXT2_DESC_PER_BLOCK(f_->super);
    const bool wide = desc_size >= EXT2_MIN_DESC_SIZE_64BIT;
    std::map<uint64_t, std::vector<uint8_t>> blocks;  // GDT block -> content
    for (dgrp_t g = 0; g < f_->group_desc_count; ++g) {
      const bool clear_exclude = g < gd_exclude.size() && gd_exclude[g] != 0;
      if (!clear_exclude &&
          free_blocks_[g] == ext2fs_bg_free_blocks_count(f_, g) &&
          free_inodes_[g] == ext2fs_bg_free_inodes_count(f_, g)) {
        continue;
      }
      // Update libext2fs's copy first, so that its checksum covers the
      // new values.
      ext2fs_bg_free_blocks_count_set(f_, g, free_blocks_[g]);
      ext2fs_bg_free_inodes_count_set(f_, g, free_inodes_[g]);
      auto* d = static_cast<struct ext4_group_desc*>(
          static_cast<void*>(ext2fs_group_desc(f_, f_->group_desc, g)));
      if (clear_exclude) {
        d->bg_exclude_bitmap_lo = 0;
        if (wide) d->bg_exclude_bitmap_hi = 0;
      }
      const uint64_t loc = ext2fs_descriptor_block_loc2(
          f_, f_->super->s_first_data_block, g / per_block);
      auto it = blocks.find(loc);
      if (it == blocks.end()) {
        std::vector<uint8_t> content(kBlockSize);
        E2Q_RETURN_IF_ERROR(
            image_->ReadAt(loc * kBlockSize, content.data(), content.size()));
        it = blocks.emplace(loc, std::move(content)).first;
      }
      uint8_t* raw = it->second.data() + (g % per_block) * desc_size;
      StoreLE16(raw + 0x0C, static_cast<uint16_t>(free_blocks_[g]));
      StoreLE16(raw + 0x0E, static_cast<uint16_t>(free_inodes_[g]));
      if (wide) {
        StoreLE16(raw + 0x2C, static_cast<uint16_t>(free_blocks_[g] >> 16));
        StoreLE16(raw + 0x2E, static_cast<uint16_t>(free_inodes_[g] >> 16));
      }
      if (clear_exclude) {
        StoreLE32(raw + kGdExcludeBitmapLo, 0);
        if (wide) StoreLE32(raw + kGdExcludeBitmapHi, 0);
      }
      if (ext2fs_has_group_desc_csum(f_)) {
        StoreLE16(raw + 0x1E, ext2fs_group_desc_csum(f_, g));
      }
    }
    for (auto& [loc, content] : blocks) {
      n_->patches.SetBlock(loc, std::move(content));
      n_->changed.Add(loc);
    }
    return Status::OK();
  }

  Status PlanSuperblock() {
    uint8_t sb[SUPERBLOCK_SIZE];
    E2Q_RETURN_IF_ERROR(image_->ReadAt(SUPERBLOCK_OFFSET, sb, sizeof(sb)));
    uint64_t free_blocks = 0, free_inodes = 0;
    for (uint64_t v : free_blocks_) free_blocks += v;
    for (uint64_t v : free_inodes_) free_inodes += v;
    StoreLE32(sb + kSbFreeBlocksLo, static_cast<uint32_t>(free_blocks));
    if (ext2fs_has_feature_64bit(f_->super)) {
      StoreLE32(sb + kSbFreeBlocksHi, static_cast<uint32_t>(free_blocks >> 32));
    }
    StoreLE32(sb + kSbFreeInodes, static_cast<uint32_t>(free_inodes));
    StoreLE32(sb + kSbFlags,
              LoadLE32(sb + kSbFlags) &
                  ~(kFlagsIsSnapshot | kFlagsFixSnapshot | kFlagsFixExclude));
    StoreLE32(sb + kSbFeatureCompat,
              LoadLE32(sb + kSbFeatureCompat) &
                  ~(kCompatExcludeInode | kCompatExcludeBitmap));
    StoreLE32(sb + kSbFeatureRoCompat,
              LoadLE32(sb + kSbFeatureRoCompat) & ~kRoCompatHasSnapshot);
    std::memset(sb + kSbSnapshotInum, 0,
                kSbSnapshotFieldsEnd - kSbSnapshotInum);
    n_->patches.Set(SUPERBLOCK_OFFSET / kBlockSize,
                    SUPERBLOCK_OFFSET % kBlockSize,
                    std::vector<uint8_t>(sb, sb + sizeof(sb)));
    n_->changed.Add(SUPERBLOCK_OFFSET / kBlockSize);
    return Status::OK();
  }

  Status ClearExcludeInode() {
    E2Q_ASSIGN_OR_RETURN(InodeLocation loc, LocateInode(fs_, kExcludeIno));
    std::vector<uint8_t> raw(loc.size);
    E2Q_RETURN_IF_ERROR(image_->ReadAt(loc.block * kBlockSize + loc.offset,
                                       raw.data(), raw.size()));
    if (raw == std::vector<uint8_t>(loc.size, 0)) return Status::OK();
    n_->patches.Set(loc.block, loc.offset, std::vector<uint8_t>(loc.size, 0));
    n_->changed.Add(loc.block);
    return Status::OK();
  }

  io::File* image_;
  const ext4::Filesystem& fs_;
  ext2_filsys f_;
  uint32_t snapshot_ino_;
  Normalisation* n_;
  BlockSet reserved_;
  std::vector<uint64_t> free_blocks_;
  std::vector<uint64_t> free_inodes_;
};

}  // namespace

Result<Normalisation> Normalise(io::File* image, uint64_t blocks_count,
                                uint32_t snapshot_ino) {
  ext4::Filesystem::OpenOptions fo;
  fo.fall_back_to_backup = false;
  Result<std::unique_ptr<ext4::Filesystem>> fs =
      ext4::Filesystem::Open(image, fo);
  if (!fs.ok()) {
    return Status::Corruption(fs.status().message() +
                              " (the snapshot image's superblock or group "
                              "descriptors are unusable)");
  }
  if (fs.value()->block_size() != kBlockSize) {
    return Status::Corruption(image->name() + ": image block size " +
                              Num(fs.value()->block_size()) + ", not 4096");
  }
  if (fs.value()->blocks_count() != blocks_count) {
    return Status::Corruption(image->name() + ": the image's superblock says " +
                              Num(fs.value()->blocks_count()) +
                              " blocks, the snapshot file " +
                              Num(blocks_count));
  }
  Normalisation n;
  Planner planner(image, *fs.value(), snapshot_ino, &n);
  E2Q_RETURN_IF_ERROR(planner.Run());
  return n;
}

}  // namespace e2q::snapshot
