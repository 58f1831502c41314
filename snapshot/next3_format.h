// next3 on-disk constants and the few inode fields the snapshot code reads,
// as doc/next3.md names them (next3
// 1.0.12+ layout: 4 KiB blocks, first data block 0, 32768 blocks per group,
// snapshot files indirect-mapped with the +1036 shift).
#ifndef E2Q_SNAPSHOT_NEXT3_FORMAT_H_
#define E2Q_SNAPSHOT_NEXT3_FORMAT_H_

#include <cstddef>
#include <cstdint>

namespace e2q::snapshot {

// Geometry next3 hard-codes (SNAPSHOT_BLOCKS_PER_GROUP_BITS = 15, block
// size = page size).
constexpr uint32_t kBlockSize = 4096;
constexpr uint32_t kAddrPerBlock = kBlockSize / 4;  // 1024
constexpr uint64_t kBlocksPerGroup = 32768;

// SNAPSHOT_BLOCK_OFFSET: image block b is inode block b + 1036.  The tree
// below therefore starts at the DIND slot: DIND[b >> 10] -> IND[b & 1023].
constexpr uint64_t kSnapshotBlockOffset = 12 + kAddrPerBlock;
// Image blocks mapped by one IND, one DIND and one TIND subtree.
constexpr uint64_t kIndSpan = kAddrPerBlock;               // 2^10
constexpr uint64_t kDindSpan = kIndSpan * kAddrPerBlock;   // 2^20
constexpr uint64_t kTindSpan = kDindSpan * kAddrPerBlock;  // 2^30
// DIND + TIND (slot 14) + the three extra TINDs (raw slots 0..2).
constexpr uint64_t kMaxSnapshotBlocks = kDindSpan + 4 * kTindSpan;

// Raw i_block[] slots of a snapshot file.
constexpr int kDindSlot = 13;
constexpr int kTindSlot = 14;
constexpr int kExtraTindSlots = 3;  // raw i_block[0..2] = TIND #2..#4
constexpr int kIndSlot = 12;
constexpr int kNumSlots = 15;

// Superblock (byte offsets inside the 1024-byte superblock).
constexpr size_t kSbFreeBlocksLo = 0x0C;
constexpr size_t kSbFreeInodes = 0x10;
constexpr size_t kSbFeatureCompat = 0x5C;
constexpr size_t kSbFeatureRoCompat = 0x64;
constexpr size_t kSbFreeBlocksHi = 0x158;
constexpr size_t kSbFlags = 0x160;
constexpr size_t kSbSnapshotInum = 0x180;
constexpr size_t kSbSnapshotId = 0x184;
constexpr size_t kSbSnapshotRBlocks = 0x188;  // 8 bytes
constexpr size_t kSbSnapshotList = 0x190;
constexpr size_t kSbSnapshotFieldsEnd = 0x194;

constexpr uint32_t kCompatExcludeInode = 0x0080;   // 1.47: legacy, unnamed
constexpr uint32_t kCompatExcludeBitmap = 0x0100;  // bg_exclude_bitmap
constexpr uint32_t kRoCompatHasSnapshot = 0x0080;
constexpr uint32_t kFlagsIsSnapshot = 0x0010;
constexpr uint32_t kFlagsFixSnapshot = 0x0020;
constexpr uint32_t kFlagsFixExclude = 0x0040;

// Group descriptor (byte offsets): the ext4-snapshots exclude bitmap.
constexpr size_t kGdExcludeBitmapLo = 0x14;
constexpr size_t kGdExcludeBitmapHi = 0x34;  // 64-byte descriptors only

// Inode flags (i_flags) that reach the disk.
constexpr uint32_t kSnapfileFl = 0x01000000;
constexpr uint32_t kSnapfileDeletedFl = 0x04000000;
constexpr uint32_t kSnapfileShrunkFl = 0x08000000;
constexpr uint32_t kExtentsFl = 0x00080000;

constexpr uint32_t kExcludeIno = 9;
constexpr uint32_t kRootIno = 2;

constexpr uint16_t kModeTypeMask = 0xF000;
constexpr uint16_t kModeRegular = 0x8000;
constexpr uint16_t kModeDirectory = 0x4000;

// The fields of an on-disk inode that the snapshot code reads.
struct Next3Inode {
  uint16_t mode = 0;
  uint16_t links_count = 0;
  uint32_t flags = 0;
  uint32_t dtime = 0;
  uint32_t generation = 0;     // the snapshot ID
  uint32_t next_snapshot = 0;  // osd1 (offset 0x24): next older on the list
  uint64_t size = 0;           // i_size | i_size_high << 32
  uint32_t mtime = 0;          // i_mtime
  uint32_t crtime = 0;         // i_crtime (large inodes only; else 0)
  uint32_t block[kNumSlots] = {};

  bool is_regular() const { return (mode & kModeTypeMask) == kModeRegular; }
};

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_NEXT3_FORMAT_H_
