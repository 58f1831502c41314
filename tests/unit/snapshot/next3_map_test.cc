// Tests for snapshot/next3_map: the snapshot block-map walker on hand-built
// indirect trees (DIND, TIND and the extra TIND roots in raw i_block[0..2]),
// its pointer validation, and that each tree level is read in few large
// reads.
#include "snapshot/next3_map.h"

#include <cstdint>
#include <vector>

#include "tests/unit/snapshot/next3_test_util.h"
#include "tests/unit/test_util.h"

namespace e2q::snapshot {
namespace {

using testing::CountingFile;
using testing::SetPointers;
using testing::TaggedDevice;

MapLimits Limits(uint64_t fs_blocks, uint64_t image_blocks,
                 const BlockSet* reserved = nullptr) {
  MapLimits l;
  l.fs_blocks = fs_blocks;
  l.image_blocks = image_blocks;
  l.reserved = reserved;
  return l;
}

std::vector<SnapshotMap::Run> Runs(const SnapshotMap& m) { return m.runs(); }

bool operator==(const SnapshotMap::Run& a, const SnapshotMap::Run& b) {
  return a.image == b.image && a.physical == b.physical && a.count == b.count;
}

TEST(Next3MapTest, DindTreeMapsTheFirstImageBlocks) {
  auto dev = TaggedDevice(64);
  uint32_t roots[kNumSlots] = {};
  roots[kDindSlot] = 10;
  SetPointers(dev.get(), 10, {{0, 11}, {2, 12}});
  SetPointers(dev.get(), 11, {{5, 20}, {6, 21}, {7, 30}});
  SetPointers(dev.get(), 12, {{0, 40}});
  ASSERT_OK_AND_ASSIGN(
      SnapshotMap m, ReadSnapshotMap(dev.get(), "t", roots, Limits(64, 4096)));
  std::vector<SnapshotMap::Run> want = {{5, 20, 2}, {7, 30, 1}, {2048, 40, 1}};
  ASSERT_EQ(m.runs().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_TRUE(m.runs()[i] == want[i]) << i;
  }
  EXPECT_EQ(m.mapped_blocks(), 4u);
  EXPECT_EQ(m.indirect_blocks().size(), 3u);
  EXPECT_TRUE(m.indirect_blocks().Contains(10));
  EXPECT_TRUE(m.indirect_blocks().Contains(11));
  EXPECT_TRUE(m.indirect_blocks().Contains(12));

  SnapshotMap::Lookup l = m.Find(4);
  EXPECT_FALSE(l.mapped);
  EXPECT_EQ(l.count, 1u);
  l = m.Find(6);
  EXPECT_TRUE(l.mapped);
  EXPECT_EQ(l.physical, 21u);
  EXPECT_EQ(l.count, 1u);
  l = m.Find(8);
  EXPECT_FALSE(l.mapped);
  EXPECT_EQ(l.count, 2040u);
  l = m.Find(3000);
  EXPECT_FALSE(l.mapped);
  EXPECT_EQ(l.count, UINT64_MAX - 3000);
}

TEST(Next3MapTest, TindAndExtraTindRootsInRawSlotsZeroToTwo) {
  auto dev = TaggedDevice(64);
  uint32_t roots[kNumSlots] = {};
  // i_block[14]: TIND #1 for image blocks 2^20 ..
  roots[kTindSlot] = 13;
  SetPointers(dev.get(), 13, {{1, 14}});
  SetPointers(dev.get(), 14, {{3, 15}});
  SetPointers(dev.get(), 15, {{9, 50}});
  // raw i_block[0]: TIND #2 for 2^20 + 2^30 ..
  roots[0] = 16;
  SetPointers(dev.get(), 16, {{0, 17}});
  SetPointers(dev.get(), 17, {{0, 18}});
  SetPointers(dev.get(), 18, {{0, 51}});
  // raw i_block[2]: TIND #4, its very last entry = the last mappable block.
  roots[2] = 19;
  SetPointers(dev.get(), 19, {{1023, 22}});
  SetPointers(dev.get(), 22, {{1023, 23}});
  SetPointers(dev.get(), 23, {{1023, 52}});
  ASSERT_OK_AND_ASSIGN(
      SnapshotMap m,
      ReadSnapshotMap(dev.get(), "t", roots, Limits(64, kMaxSnapshotBlocks)));
  ASSERT_EQ(m.runs().size(), 3u);
  EXPECT_EQ(m.runs()[0].image, kDindSpan + kDindSpan + 3 * kIndSpan + 9);
  EXPECT_EQ(m.runs()[0].physical, 50u);
  EXPECT_EQ(m.runs()[1].image, kDindSpan + kTindSpan);
  EXPECT_EQ(m.runs()[1].physical, 51u);
  EXPECT_EQ(m.runs()[2].image, kMaxSnapshotBlocks - 1);
  EXPECT_EQ(m.runs()[2].physical, 52u);
  EXPECT_EQ(m.indirect_blocks().size(), 9u);
  EXPECT_EQ(kMaxSnapshotBlocks, kDindSpan + 4 * kTindSpan);
  EXPECT_GE(kMaxSnapshotBlocks, uint64_t{1} << 32);
}

TEST(Next3MapTest, EmptyRootsGiveAnEmptyMap) {
  auto dev = TaggedDevice(4);
  uint32_t roots[kNumSlots] = {};
  ASSERT_OK_AND_ASSIGN(SnapshotMap m,
                       ReadSnapshotMap(dev.get(), "t", roots, Limits(4, 4)));
  EXPECT_TRUE(m.runs().empty());
  EXPECT_FALSE(m.Find(0).mapped);
}

TEST(Next3MapTest, DataPointerPastTheFilesystemIsCorruption) {
  auto dev = TaggedDevice(64);
  uint32_t roots[kNumSlots] = {};
  roots[kDindSlot] = 10;
  SetPointers(dev.get(), 10, {{0, 11}});
  SetPointers(dev.get(), 11, {{5, 99999}});
  Result<SnapshotMap> r =
      ReadSnapshotMap(dev.get(), "fs: snapshot 3", roots, Limits(64, 4096));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("fs: snapshot 3: image block 5 maps to "
                                      "block 99999, past the end of the "
                                      "filesystem (64 blocks)"),
            std::string::npos)
      << r.status().message();
}

TEST(Next3MapTest, RootPastTheFilesystemIsCorruption) {
  auto dev = TaggedDevice(64);
  uint32_t roots[kNumSlots] = {};
  roots[1] = 70;  // extra TIND #3
  Result<SnapshotMap> r =
      ReadSnapshotMap(dev.get(), "t", roots, Limits(64, kMaxSnapshotBlocks));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("i_block[1] (TIND root) is 70"),
            std::string::npos)
      << r.status().message();
}

TEST(Next3MapTest, PointerIntoFixedMetadataIsCorruption) {
  auto dev = TaggedDevice(64);
  BlockSet reserved;
  reserved.Add(0, 8);  // superblock, descriptors, bitmaps, inode table
  uint32_t roots[kNumSlots] = {};
  roots[kDindSlot] = 10;
  SetPointers(dev.get(), 10, {{0, 3}});  // an "inode table" block as IND
  Result<SnapshotMap> r =
      ReadSnapshotMap(dev.get(), "t", roots, Limits(64, 4096, &reserved));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("DIND block 10 entry 0 names IND block "
                                      "3, a filesystem metadata block"),
            std::string::npos)
      << r.status().message();
  roots[kDindSlot] = 2;
  r = ReadSnapshotMap(dev.get(), "t", roots, Limits(64, 4096, &reserved));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("i_block[13] (DIND root) is 2"),
            std::string::npos)
      << r.status().message();
}

TEST(Next3MapTest, ImageBlockPastTheImageIsCorruption) {
  auto dev = TaggedDevice(64);
  uint32_t roots[kNumSlots] = {};
  roots[kDindSlot] = 10;
  SetPointers(dev.get(), 10, {{1, 11}});
  SetPointers(dev.get(), 11, {{0, 20}});  // image block 1024
  Result<SnapshotMap> r =
      ReadSnapshotMap(dev.get(), "t", roots, Limits(64, 1000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("maps image block 1024, past the "
                                      "image's 1000 blocks"),
            std::string::npos)
      << r.status().message();
}

TEST(Next3MapTest, BlockNamedTwiceIsCorruption) {
  auto dev = TaggedDevice(64);
  uint32_t roots[kNumSlots] = {};
  roots[kDindSlot] = 10;
  SetPointers(dev.get(), 10, {{0, 11}, {1, 12}});
  SetPointers(dev.get(), 11, {{0, 20}});
  SetPointers(dev.get(), 12, {{0, 20}});  // the same data block again
  Result<SnapshotMap> r =
      ReadSnapshotMap(dev.get(), "t", roots, Limits(64, 4096));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("block 20 appears twice"),
            std::string::npos)
      << r.status().message();

  // A tree that names its own root: a loop, refused the same way.
  SetPointers(dev.get(), 10, {{0, 10}});
  r = ReadSnapshotMap(dev.get(), "t", roots, Limits(64, 4096));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("block 10 appears twice"),
            std::string::npos)
      << r.status().message();
}

TEST(Next3MapTest, OverlappingRunsAreCorruption) {
  // A run of copies 20..23 and, elsewhere, a single entry naming 22; then
  // an IND block that lies inside a run of copies.
  auto dev = TaggedDevice(64);
  uint32_t roots[kNumSlots] = {};
  roots[kDindSlot] = 10;
  SetPointers(dev.get(), 10, {{0, 11}, {1, 12}});
  SetPointers(dev.get(), 11, {{0, 20}, {1, 21}, {2, 22}, {3, 23}});
  SetPointers(dev.get(), 12, {{7, 22}});
  Result<SnapshotMap> r =
      ReadSnapshotMap(dev.get(), "t", roots, Limits(64, 4096));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("block 22 appears twice"),
            std::string::npos)
      << r.status().message();

  SetPointers(dev.get(), 11, {{0, 30}, {1, 31}, {2, 32}, {3, 33}});
  SetPointers(dev.get(), 10, {{0, 11}, {1, 32}});  // IND 32 inside 30..33
  SetPointers(dev.get(), 32, {});
  r = ReadSnapshotMap(dev.get(), "t", roots, Limits(64, 4096));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("block 32 appears twice"),
            std::string::npos)
      << r.status().message();
}

TEST(Next3MapTest, TreeBlockPastTheEndOfTheDeviceIsCorruption) {
  auto dev = TaggedDevice(16);  // the filesystem claims 64 blocks
  uint32_t roots[kNumSlots] = {};
  roots[kDindSlot] = 10;
  SetPointers(dev.get(), 10, {{0, 40}});
  Result<SnapshotMap> r =
      ReadSnapshotMap(dev.get(), "fs: snapshot 2", roots, Limits(64, 4096));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("fs: snapshot 2: reading indirect "
                                      "blocks 40..40"),
            std::string::npos)
      << r.status().message();
}

TEST(Next3MapTest, EachLevelIsReadInLargeRuns) {
  // 200 IND blocks (at 100..299) under one DIND, each mapping 1024 blocks
  // contiguously: 2 reads for the tree (the DIND, then all INDs at once),
  // and the whole map collapses into one run.  Data blocks are never read,
  // so the device need not hold them.
  constexpr uint32_t kInds = 200;
  constexpr uint64_t kData = 1000;
  auto dev = TaggedDevice(100 + kInds);
  std::vector<std::pair<uint32_t, uint32_t>> dind;
  for (uint32_t i = 0; i < kInds; ++i) {
    dind.emplace_back(i, 100 + i);
    std::vector<std::pair<uint32_t, uint32_t>> ind;
    for (uint32_t j = 0; j < kAddrPerBlock; ++j) {
      ind.emplace_back(j, static_cast<uint32_t>(kData + i * kIndSpan + j));
    }
    SetPointers(dev.get(), 100 + i, ind);
  }
  SetPointers(dev.get(), 10, dind);
  CountingFile counting(dev.get());
  uint32_t roots[kNumSlots] = {};
  roots[kDindSlot] = 10;
  const uint64_t fs_blocks = kData + kInds * kIndSpan;
  ASSERT_OK_AND_ASSIGN(
      SnapshotMap m,
      ReadSnapshotMap(&counting, "t", roots, Limits(fs_blocks, fs_blocks)));
  EXPECT_EQ(counting.reads(), 2u);
  ASSERT_EQ(m.runs().size(), 1u);
  EXPECT_EQ(m.runs()[0].image, 0u);
  EXPECT_EQ(m.runs()[0].physical, kData);
  EXPECT_EQ(m.runs()[0].count, kInds * kIndSpan);
  EXPECT_EQ(m.mapped_blocks(), kInds * kIndSpan);
}

TEST(Next3MapTest, FromPairsSortsAndMergesRuns) {
  SnapshotMap m = SnapshotMap::FromPairs(
      {{7, 107}, {5, 105}, {6, 106}, {9, 50}, {10, 52}}, BlockSet());
  ASSERT_EQ(Runs(m).size(), 3u);
  EXPECT_TRUE(Runs(m)[0] == (SnapshotMap::Run{5, 105, 3}));
  EXPECT_TRUE(Runs(m)[1] == (SnapshotMap::Run{9, 50, 1}));
  EXPECT_TRUE(Runs(m)[2] == (SnapshotMap::Run{10, 52, 1}));
  EXPECT_EQ(m.mapped_blocks(), 5u);
  SnapshotMap::Lookup l = m.Find(5);
  EXPECT_TRUE(l.mapped);
  EXPECT_EQ(l.count, 3u);
  l = m.Find(0);
  EXPECT_FALSE(l.mapped);
  EXPECT_EQ(l.count, 5u);
}

}  // namespace
}  // namespace e2q::snapshot
