// Tests for snapshot/next3_normalise: a plain ext3 image made by mke2fs is
// dressed up as a next3 snapshot image (exclude inode 9 with its DIND, IND
// and bitmap blocks, is_snapshot flag, exclude_inode feature, snapshot
// superblock fields, a stale group free count); the normalisation must
// release exactly the exclude inode's blocks, zero inode 9, clear the flags
// and fields, recompute the counts, and the patched image must pass a stock
// `e2fsck -fn` (which refuses it before).
#include "snapshot/next3_normalise.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/endian.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/io/patched_file.h"
#include "snapshot/next3_format.h"
#include "tests/unit/shell.h"
#include "tests/unit/test_util.h"

namespace e2q::snapshot {
namespace {

namespace stdfs = std::filesystem;

std::string Text(const std::vector<uint8_t>& v) {
  return std::string(v.begin(), v.end());
}

void WriteAll(const std::string& path, const std::vector<uint8_t>& data) {
  std::ofstream os(path, std::ios::binary | std::ios::trunc);
  os.write(reinterpret_cast<const char*>(data.data()),
           static_cast<std::streamsize>(data.size()));
}

// A small filesystem: two groups of 4096 blocks (next3 has 32768, which
// the normalisation does not depend on).
constexpr uint64_t kBlocks = 8192;
constexpr uint64_t kGroupBlocks = 4096;
// The exclude inode's blocks: the end of group 1, free in a fresh fs.
constexpr uint64_t kDind = 8188;
constexpr uint64_t kInd = 8189;
constexpr uint64_t kBitmap0 = 8190;
constexpr uint64_t kBitmap1 = 8191;

class Next3NormaliseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/e2q-next3-normalise.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    stdfs::create_directories(dir_ + "/tree/d");
    std::ofstream(dir_ + "/tree/d/file") << std::string(10000, 'x');
    ASSERT_EQ(Sh("mke2fs -q -F -b 4096 -g 4096 -I 256 -N 256 -O has_journal,"
                 "sparse_super,filetype,resize_inode,dir_index -d " +
                 dir_ + "/tree " + dir_ + "/fs.img 32M >/dev/null 2>&1"),
              0);
    data_ = ReadAll(dir_ + "/fs.img");
    ASSERT_EQ(data_.size(), kBlocks * kBlockSize);
    io::MemFile probe("probe", data_);
    ASSERT_OK_AND_ASSIGN(auto fs, ext4::Filesystem::Open(&probe, {}));
    ext2_filsys f = fs->raw();
    ASSERT_EQ(f->group_desc_count, 2u);
    bitmap_loc_ = ext2fs_block_bitmap_loc(f, 1);
    itable_loc_ = ext2fs_inode_table_loc(f, 0);
    free_blocks_[0] = ext2fs_bg_free_blocks_count(f, 0);
    free_blocks_[1] = ext2fs_bg_free_blocks_count(f, 1);
    free_total_ = ext2fs_free_blocks_count(f->super);

    // Exclude inode: DIND -> IND -> one bitmap block per group.
    std::memset(Block(kDind), 0, kBlockSize);
    StoreLE32(Block(kDind), kInd);
    std::memset(Block(kInd), 0, kBlockSize);
    StoreLE32(Block(kInd), kBitmap0);
    StoreLE32(Block(kInd) + 4, kBitmap1);
    std::memset(Block(kBitmap0), 0xA5, kBlockSize);  // must read as zeros
    std::memset(Block(kBitmap1), 0x5A, kBlockSize);
    for (uint64_t b = kDind; b <= kBitmap1; ++b) {
      const uint64_t bit = b - kGroupBlocks;
      Block(bitmap_loc_)[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
    }
    uint8_t* ino9 = Block(itable_loc_) + 8 * 256;
    StoreLE16(ino9 + 0x00, 0100600);
    StoreLE16(ino9 + 0x1A, 1);
    StoreLE32(ino9 + 0x04, (2 + 1036) * kBlockSize);
    StoreLE32(ino9 + 0x1C, 4 * 8);
    StoreLE32(ino9 + 0x28 + 4 * kDindSlot, kDind);
    // The descriptors still count the four blocks as free (as a next3
    // image's stale counts do), and group 0 is off by 5 as well.
    StoreLE16(Block(1) + 0x0C, static_cast<uint16_t>(free_blocks_[0] - 5));
    // Superblock: next3 image fields.
    uint8_t* sb = Block(0) + 1024;
    StoreLE32(sb + kSbFeatureCompat,
              LoadLE32(sb + kSbFeatureCompat) | kCompatExcludeInode);
    StoreLE32(sb + kSbFlags, LoadLE32(sb + kSbFlags) | kFlagsIsSnapshot);
    StoreLE32(sb + kSbSnapshotId, 5);
    StoreLE32(sb + kSbSnapshotRBlocks, 77);
    StoreLE32(sb + kSbFreeBlocksLo, static_cast<uint32_t>(free_total_ + 100));
  }
  void TearDown() override { stdfs::remove_all(dir_); }

  uint8_t* Block(uint64_t b) { return data_.data() + b * kBlockSize; }

  std::string dir_;
  std::vector<uint8_t> data_;
  uint64_t bitmap_loc_ = 0;
  uint64_t itable_loc_ = 0;
  uint64_t free_blocks_[2] = {};
  uint64_t free_total_ = 0;
};

bool BitSet(const uint8_t* bitmap, uint64_t bit) {
  return (bitmap[bit / 8] >> (bit % 8)) & 1;
}

TEST_F(Next3NormaliseTest, ReleasesTheExcludeInodeAndPassesE2fsck) {
  WriteAll(dir_ + "/before.img", data_);
  // Stock e2fsck refuses the unnormalised image (exclude_inode feature).
  EXPECT_NE(Sh("e2fsck -fn " + dir_ + "/before.img >/dev/null 2>&1"), 0);

  auto image = std::make_unique<io::MemFile>("snap", data_);
  io::MemFile* raw = image.get();
  ASSERT_OK_AND_ASSIGN(Normalisation n, Normalise(raw, kBlocks, 0));
  BlockSet want_released;
  want_released.Add(kDind, 4);
  EXPECT_EQ(n.released.Runs(), want_released.Runs());
  EXPECT_TRUE(n.changed.Contains(0));
  EXPECT_TRUE(n.changed.Contains(1));  // the descriptors
  EXPECT_TRUE(n.changed.Contains(bitmap_loc_));
  EXPECT_TRUE(n.changed.Contains(itable_loc_));  // inode 9
  EXPECT_EQ(n.changed.size(), 4u);

  ASSERT_OK_AND_ASSIGN(
      auto patched,
      io::PatchedFile::Create(std::move(image), std::move(n.patches)));
  std::vector<uint8_t> out(data_.size());
  ASSERT_OK(patched->ReadAt(0, out.data(), out.size()));
  const uint8_t* sb = out.data() + 1024;
  EXPECT_EQ(LoadLE32(sb + kSbFeatureCompat) & kCompatExcludeInode, 0u);
  EXPECT_EQ(LoadLE32(sb + kSbFlags) & kFlagsIsSnapshot, 0u);
  for (size_t off = kSbSnapshotInum; off < kSbSnapshotFieldsEnd; ++off) {
    EXPECT_EQ(sb[off], 0) << off;
  }
  EXPECT_EQ(LoadLE32(sb + kSbFreeBlocksLo), free_total_);
  const uint8_t* gd = out.data() + kBlockSize;
  EXPECT_EQ(LoadLE16(gd + 0x0C), free_blocks_[0]);
  EXPECT_EQ(LoadLE16(gd + 32 + 0x0C), free_blocks_[1]);
  const uint8_t* bitmap = out.data() + bitmap_loc_ * kBlockSize;
  for (uint64_t b = kDind; b <= kBitmap1; ++b) {
    EXPECT_FALSE(BitSet(bitmap, b - kGroupBlocks)) << b;
    EXPECT_EQ(std::vector<uint8_t>(out.begin() + b * kBlockSize,
                                   out.begin() + (b + 1) * kBlockSize),
              std::vector<uint8_t>(kBlockSize, 0))
        << b;
  }
  EXPECT_TRUE(BitSet(bitmap, 0));  // group 1's backup superblock
  const uint8_t* ino9 = out.data() + itable_loc_ * kBlockSize + 8 * 256;
  EXPECT_EQ(std::vector<uint8_t>(ino9, ino9 + 256),
            std::vector<uint8_t>(256, 0));
  // Everything else is untouched.
  for (uint64_t b = 2; b < kBlocks; ++b) {
    if (b == bitmap_loc_ || b == itable_loc_ || (b >= kDind && b <= kBitmap1)) {
      continue;
    }
    ASSERT_EQ(std::memcmp(out.data() + b * kBlockSize, Block(b), kBlockSize), 0)
        << "block " << b;
  }

  WriteAll(dir_ + "/after.img", out);
  EXPECT_EQ(Sh("e2fsck -fn " + dir_ + "/after.img >" + dir_ + "/fsck.txt 2>&1"),
            0)
      << Text(ReadAll(dir_ + "/fsck.txt"));
}

TEST_F(Next3NormaliseTest, ReleasesUnlinkedSnapshotFilesOfTheListAtTake) {
  // The list at take, as left in the image: inode 20 (this snapshot,
  // links 1) -> 21 (links 0: only the list kept it) -> 0.  Both are the empty
  // files next3 leaves; inode 22, not on the list, has links 0 too and must be
  // left alone.
  const uint32_t ipg = 256 / 2;
  ASSERT_EQ(LoadLE32(Block(0) + 1024 + 0x28), ipg);
  io::MemFile probe("probe", data_);
  ASSERT_OK_AND_ASSIGN(auto fs, ext4::Filesystem::Open(&probe, {}));
  const uint64_t ibitmap = ext2fs_inode_bitmap_loc(fs->raw(), 0);
  for (uint32_t ino : {20u, 21u, 22u}) {
    uint8_t* in = Block(itable_loc_) + (ino - 1) * 256;
    StoreLE16(in + 0x00, 0100600);
    StoreLE16(in + 0x1A, ino == 20 ? 1 : 0);
    StoreLE32(in + 0x20, 0x40);
    StoreLE32(in + 0x24, ino == 20 ? 21 : 0);  // i_next_snapshot
    StoreLE32(in + 0x64, 30 - ino);            // IDs
    Block(ibitmap)[(ino - 1) / 8] |=
        static_cast<uint8_t>(1u << ((ino - 1) % 8));
  }
  auto image = std::make_unique<io::MemFile>("snap", data_);
  io::MemFile* raw = image.get();
  ASSERT_OK_AND_ASSIGN(Normalisation n, Normalise(raw, kBlocks, 20));
  EXPECT_EQ(n.released_inodes, std::vector<uint32_t>{21});
  EXPECT_TRUE(n.changed.Contains(ibitmap));
  ASSERT_OK_AND_ASSIGN(
      auto patched,
      io::PatchedFile::Create(std::move(image), std::move(n.patches)));
  std::vector<uint8_t> out(data_.size());
  ASSERT_OK(patched->ReadAt(0, out.data(), out.size()));
  const uint8_t* bits = out.data() + ibitmap * kBlockSize;
  EXPECT_TRUE(BitSet(bits, 19));
  EXPECT_FALSE(BitSet(bits, 20));
  EXPECT_TRUE(BitSet(bits, 21));
  const uint8_t* in21 = out.data() + itable_loc_ * kBlockSize + 20 * 256;
  EXPECT_GE(LoadLE32(in21 + 0x14), 256u);  // i_dtime
  EXPECT_EQ(LoadLE16(in21), 0100600);      // otherwise as it was
  // Inode 22 (not on the list) still makes e2fsck complain, and so does
  // inode 20, which no directory names here: clear both in the output;
  // what remains of the release of 21 must be clean.
  for (uint32_t ino : {20u, 22u}) {
    std::memset(out.data() + itable_loc_ * kBlockSize + (ino - 1) * 256, 0,
                256);
    out[ibitmap * kBlockSize + (ino - 1) / 8] &=
        static_cast<uint8_t>(~(1u << ((ino - 1) % 8)));
  }
  StoreLE16(
      out.data() + kBlockSize + 0x0E,
      static_cast<uint16_t>(LoadLE16(out.data() + kBlockSize + 0x0E) + 2));
  StoreLE32(out.data() + 1024 + kSbFreeInodes,
            LoadLE32(out.data() + 1024 + kSbFreeInodes) + 2);
  WriteAll(dir_ + "/after.img", out);
  EXPECT_EQ(Sh("e2fsck -fn " + dir_ + "/after.img >" + dir_ + "/fsck.txt 2>&1"),
            0)
      << Text(ReadAll(dir_ + "/fsck.txt"));
}

TEST_F(Next3NormaliseTest, ReleasesDescriptorExcludeBitmapsOfTheExt4Flavour) {
  // The ext4-snapshots flavour: bg_exclude_bitmap in each descriptor
  // (COMPAT exclude_bitmap) next to the exclude inode, as E2-S made it.
  uint8_t* sb = Block(0) + 1024;
  StoreLE32(sb + kSbFeatureCompat,
            LoadLE32(sb + kSbFeatureCompat) | kCompatExcludeBitmap);
  StoreLE32(Block(1) + kGdExcludeBitmapLo, kBitmap0);
  StoreLE32(Block(1) + 32 + kGdExcludeBitmapLo, kBitmap1);
  auto image = std::make_unique<io::MemFile>("snap", data_);
  io::MemFile* raw = image.get();
  ASSERT_OK_AND_ASSIGN(Normalisation n, Normalise(raw, kBlocks, 0));
  BlockSet want_released;
  want_released.Add(kDind, 4);
  EXPECT_EQ(n.released.Runs(), want_released.Runs());
  ASSERT_OK_AND_ASSIGN(
      auto patched,
      io::PatchedFile::Create(std::move(image), std::move(n.patches)));
  std::vector<uint8_t> out(data_.size());
  ASSERT_OK(patched->ReadAt(0, out.data(), out.size()));
  EXPECT_EQ(LoadLE32(out.data() + 1024 + kSbFeatureCompat) &
                (kCompatExcludeBitmap | kCompatExcludeInode),
            0u);
  EXPECT_EQ(LoadLE32(out.data() + kBlockSize + kGdExcludeBitmapLo), 0u);
  EXPECT_EQ(LoadLE32(out.data() + kBlockSize + 32 + kGdExcludeBitmapLo), 0u);
  EXPECT_EQ(LoadLE16(out.data() + kBlockSize + 32 + 0x0C), free_blocks_[1]);
  WriteAll(dir_ + "/after.img", out);
  EXPECT_EQ(Sh("e2fsck -fn " + dir_ + "/after.img >" + dir_ + "/fsck.txt 2>&1"),
            0)
      << Text(ReadAll(dir_ + "/fsck.txt"));
}

TEST_F(Next3NormaliseTest, ReleasesBlocksInEveryGroupThatHoldsThem) {
  // Group 0's exclude bitmap moved to the last block of group 0, as next3
  // puts each group's bitmap in its group: the released blocks are then
  // cut at the group boundary and each group's bitmap loses its own.
  constexpr uint64_t kBitmap0InGroup0 = kGroupBlocks - 1;
  io::MemFile probe("probe", data_);
  ASSERT_OK_AND_ASSIGN(auto fs, ext4::Filesystem::Open(&probe, {}));
  const uint64_t bitmap0_loc = ext2fs_block_bitmap_loc(fs->raw(), 0);
  ASSERT_FALSE(BitSet(Block(bitmap0_loc), kBitmap0InGroup0));  // free
  Block(bitmap0_loc)[kBitmap0InGroup0 / 8] |=
      static_cast<uint8_t>(1u << (kBitmap0InGroup0 % 8));
  const uint64_t bit = kBitmap0 - kGroupBlocks;
  Block(bitmap_loc_)[bit / 8] &= static_cast<uint8_t>(~(1u << (bit % 8)));
  StoreLE32(Block(kInd), kBitmap0InGroup0);
  std::memcpy(Block(kBitmap0InGroup0), Block(kBitmap0), kBlockSize);
  std::memset(Block(kBitmap0), 0, kBlockSize);

  auto image = std::make_unique<io::MemFile>("snap", data_);
  io::MemFile* raw = image.get();
  ASSERT_OK_AND_ASSIGN(Normalisation n, Normalise(raw, kBlocks, 0));
  BlockSet want_released;
  want_released.Add(kBitmap0InGroup0);
  want_released.Add(kDind, 2);
  want_released.Add(kBitmap1);
  EXPECT_EQ(n.released.Runs(), want_released.Runs());
  EXPECT_TRUE(n.changed.Contains(bitmap0_loc));
  EXPECT_TRUE(n.changed.Contains(bitmap_loc_));
  ASSERT_OK_AND_ASSIGN(
      auto patched,
      io::PatchedFile::Create(std::move(image), std::move(n.patches)));
  std::vector<uint8_t> out(data_.size());
  ASSERT_OK(patched->ReadAt(0, out.data(), out.size()));
  EXPECT_FALSE(BitSet(out.data() + bitmap0_loc * kBlockSize, kBitmap0InGroup0));
  for (uint64_t b : {kDind, kInd, kBitmap1}) {
    EXPECT_FALSE(
        BitSet(out.data() + bitmap_loc_ * kBlockSize, b - kGroupBlocks))
        << b;
  }
  EXPECT_EQ(LoadLE16(out.data() + kBlockSize + 0x0C), free_blocks_[0]);
  EXPECT_EQ(LoadLE16(out.data() + kBlockSize + 32 + 0x0C), free_blocks_[1]);
  EXPECT_EQ(LoadLE32(out.data() + 1024 + kSbFreeBlocksLo), free_total_);
  WriteAll(dir_ + "/after.img", out);
  EXPECT_EQ(Sh("e2fsck -fn " + dir_ + "/after.img >" + dir_ + "/fsck.txt 2>&1"),
            0)
      << Text(ReadAll(dir_ + "/fsck.txt"));
}

TEST_F(Next3NormaliseTest,
       ADescriptorExcludeBitmapInFixedMetadataIsCorruption) {
  uint8_t* sb = Block(0) + 1024;
  StoreLE32(sb + kSbFeatureCompat,
            LoadLE32(sb + kSbFeatureCompat) | kCompatExcludeBitmap);
  StoreLE32(Block(1) + 32 + kGdExcludeBitmapLo,
            static_cast<uint32_t>(itable_loc_));
  io::MemFile image("snap", data_);
  Result<Normalisation> r = Normalise(&image, kBlocks, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("group 1: bg_exclude_bitmap"),
            std::string::npos)
      << r.status().message();
}

TEST_F(Next3NormaliseTest, AnImageOfTheWrongSizeIsCorruption) {
  io::MemFile image("snap", data_);
  Result<Normalisation> r = Normalise(&image, 8000, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("superblock says 8192 blocks, the "
                                      "snapshot file 8000"),
            std::string::npos)
      << r.status().message();
}

TEST_F(Next3NormaliseTest, AnExcludeBlockInFixedMetadataIsCorruption) {
  StoreLE32(Block(kInd) + 4, static_cast<uint32_t>(itable_loc_ + 1));
  io::MemFile image("snap", data_);
  Result<Normalisation> r = Normalise(&image, kBlocks, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("snap: exclude inode 9: block"),
            std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace e2q::snapshot
