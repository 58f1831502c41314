// Tests for snapshot/next3_exclude: finding each group's exclude bitmap
// through a hand-built exclude inode (ino 9, DIND only) or from descriptor
// fields, and the checks on a damaged exclude inode.
#include "snapshot/next3_exclude.h"

#include <vector>

#include "tests/unit/snapshot/next3_test_util.h"
#include "tests/unit/test_util.h"

namespace e2q::snapshot {
namespace {

using testing::FillBlock;
using testing::SetPointers;
using testing::TaggedDevice;

Next3Inode ExcludeInode(uint32_t dind) {
  Next3Inode i;
  i.mode = kModeRegular | 0600;
  i.links_count = 1;
  i.block[kDindSlot] = dind;
  return i;
}

MapLimits Limits(uint64_t fs_blocks) {
  MapLimits l;
  l.fs_blocks = fs_blocks;
  return l;
}

class Next3ExcludeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dev_ = TaggedDevice(64);
    // DIND 10 -> IND 11 (groups 0..1023) and a preallocated, empty IND 12
    // for groups 1024.. the filesystem could grow to.
    SetPointers(dev_.get(), 10, {{0, 11}, {1, 12}});
    SetPointers(dev_.get(), 11, {{0, 20}, {1, 31}, {2, 22}});
    SetPointers(dev_.get(), 12, {});
  }
  Result<ExcludeBitmap> Read(const Next3Inode& inode, uint64_t groups) {
    return ExcludeBitmap::FromExcludeInode(dev_.get(), "fs: exclude inode 9",
                                           inode, groups, Limits(64));
  }
  void ExpectCorrupt(const Next3Inode& inode, uint64_t groups,
                     const std::string& what) {
    Result<ExcludeBitmap> r = Read(inode, groups);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), Code::kCorruption);
    EXPECT_NE(r.status().message().find("fs: exclude inode 9: " + what),
              std::string::npos)
        << r.status().message();
  }
  std::unique_ptr<io::MemFile> dev_;
};

TEST_F(Next3ExcludeTest, GroupBitmapsComeFromTheDindTree) {
  ASSERT_OK_AND_ASSIGN(ExcludeBitmap e, Read(ExcludeInode(10), 3));
  EXPECT_EQ(e.groups(), 3u);
  EXPECT_EQ(e.group_block(0), 20u);
  EXPECT_EQ(e.group_block(1), 31u);
  EXPECT_EQ(e.group_block(2), 22u);
  EXPECT_EQ(e.group_block(3), 0u);
  EXPECT_FALSE(e.empty());
  EXPECT_TRUE(e.IsBitmapBlock(22));
  EXPECT_FALSE(e.IsBitmapBlock(21));
  EXPECT_FALSE(e.IsBitmapBlock(11));  // the tree's own blocks are not bitmaps
  EXPECT_EQ(e.NextBitmapBlock(0), 20u);
  EXPECT_EQ(e.NextBitmapBlock(21), 22u);
  EXPECT_EQ(e.NextBitmapBlock(23), 31u);
  EXPECT_EQ(e.NextBitmapBlock(32), UINT64_MAX);

  FillBlock(dev_.get(), 31, 0x5A);
  std::vector<uint8_t> buf(kBlockSize);
  ASSERT_OK(e.ReadGroup(dev_.get(), 1, buf.data()));
  EXPECT_EQ(buf, std::vector<uint8_t>(kBlockSize, 0x5A));
  ASSERT_OK(e.ReadGroup(dev_.get(), 7, buf.data()));  // no such group
  EXPECT_EQ(buf, std::vector<uint8_t>(kBlockSize, 0));
}

TEST_F(Next3ExcludeTest, DescriptorFieldsWithGapsAndNoBitmapAtAll) {
  ExcludeBitmap e({40, 0, 41});
  EXPECT_EQ(e.group_block(1), 0u);
  EXPECT_TRUE(e.IsBitmapBlock(41));
  std::vector<uint8_t> buf(kBlockSize, 1);
  ASSERT_OK(e.ReadGroup(dev_.get(), 1, buf.data()));
  EXPECT_EQ(buf, std::vector<uint8_t>(kBlockSize, 0));

  ExcludeBitmap none;
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(none.IsBitmapBlock(0));
  EXPECT_EQ(none.NextBitmapBlock(0), UINT64_MAX);
}

TEST_F(Next3ExcludeTest, AGroupWithoutABitmapIsCorruption) {
  ExpectCorrupt(ExcludeInode(10), 4, "no exclude bitmap block for group 3");
}

TEST_F(Next3ExcludeTest, ABitmapPastTheLastGroupIsCorruption) {
  Result<ExcludeBitmap> r = Read(ExcludeInode(10), 2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("maps image block 2, past the image's "
                                      "2 blocks"),
            std::string::npos)
      << r.status().message();
}

TEST_F(Next3ExcludeTest, OnlyTheDindSlotMayBeUsed) {
  Next3Inode i = ExcludeInode(10);
  i.block[kIndSlot] = 10;  // next3 keeps IND == DIND only in memory
  ExpectCorrupt(i, 3,
                "i_block[12] is 10 (the exclude inode uses only "
                "i_block[13])");
  i = ExcludeInode(10);
  i.block[0] = 5;
  ExpectCorrupt(i, 3, "i_block[0] is 5");
  ExpectCorrupt(ExcludeInode(0), 3, "no block map (i_block[13] is 0)");
}

TEST_F(Next3ExcludeTest, TheExcludeInodeMustBeARegularIndirectFile) {
  Next3Inode i = ExcludeInode(10);
  i.mode = 0;
  ExpectCorrupt(i, 3, "not a regular file");
  i = ExcludeInode(10);
  i.flags = kExtentsFl;
  ExpectCorrupt(i, 3, "extent-mapped");
}

TEST_F(Next3ExcludeTest, PointersPastTheFilesystemAreCorruption) {
  SetPointers(dev_.get(), 11, {{0, 20}, {1, 31}, {2, 700}});
  Result<ExcludeBitmap> r = Read(ExcludeInode(10), 3);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("image block 2 maps to block 700, past "
                                      "the end of the filesystem"),
            std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace e2q::snapshot
