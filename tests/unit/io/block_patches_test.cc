// Tests for lib/block_patches: patches land in the right block of any
// buffer range, later patches win, zeroed runs come before patches.
#include "lib/io/block_patches.h"

#include <vector>

#include "tests/unit/test_util.h"

namespace e2q {
namespace {

constexpr uint32_t kBs = 16;

std::vector<uint8_t> Filled(uint64_t blocks) {
  return std::vector<uint8_t>(blocks * kBs, 0xAA);
}

TEST(BlockPatchesTest, AppliesOnlyInsideTheRange) {
  io::BlockPatches p(kBs);
  p.SetBlock(5, std::vector<uint8_t>(kBs, 1));
  p.Set(7, 4, {9, 9});
  auto buf = Filled(3);  // blocks 6..8
  ASSERT_OK(p.Apply(6, 3, buf.data()));
  for (uint32_t i = 0; i < kBs; ++i) {
    EXPECT_EQ(buf[i], 0xAA);  // block 6 untouched
    uint8_t want = (i == 4 || i == 5) ? 9 : 0xAA;
    EXPECT_EQ(buf[kBs + i], want);
    EXPECT_EQ(buf[2 * kBs + i], 0xAA);
  }
  buf = Filled(1);
  ASSERT_OK(p.Apply(5, 1, buf.data()));
  EXPECT_EQ(buf, std::vector<uint8_t>(kBs, 1));
  EXPECT_TRUE(p.Has(5));
  EXPECT_FALSE(p.Has(6));
  EXPECT_EQ(p.patched_blocks(), 2u);
}

TEST(BlockPatchesTest, LaterPatchWinsAndWholeBlockReplacesPieces) {
  io::BlockPatches p(kBs);
  p.Set(1, 0, {1, 1, 1});
  p.Set(1, 1, {2});
  auto buf = Filled(1);
  ASSERT_OK(p.Apply(1, 1, buf.data()));
  EXPECT_EQ(buf[0], 1);
  EXPECT_EQ(buf[1], 2);
  EXPECT_EQ(buf[2], 1);
  p.SetBlock(1, std::vector<uint8_t>(kBs, 3));
  buf = Filled(1);
  ASSERT_OK(p.Apply(1, 1, buf.data()));
  EXPECT_EQ(buf, std::vector<uint8_t>(kBs, 3));
}

TEST(BlockPatchesTest, ZeroedRunsMergeAndClip) {
  io::BlockPatches p(kBs);
  p.Zero(10, 5);
  p.Zero(15, 5);  // adjacent: one run 10..19
  p.Zero(12, 2);  // inside
  p.Set(11, 0, {7});
  EXPECT_EQ(p.zeroed_blocks(), 10u);
  auto buf = Filled(12);  // blocks 8..19
  ASSERT_OK(p.Apply(8, 12, buf.data()));
  for (uint64_t b = 8; b < 20; ++b) {
    uint8_t want = b < 10 ? 0xAA : 0;
    if (b == 11)
      EXPECT_EQ(buf[(b - 8) * kBs], 7);
    else
      EXPECT_EQ(buf[(b - 8) * kBs], want) << b;
    EXPECT_EQ(buf[(b - 8) * kBs + 1], want) << b;
  }
  buf = Filled(2);  // 18..19: starts inside the run
  ASSERT_OK(p.Apply(18, 2, buf.data()));
  EXPECT_EQ(buf, std::vector<uint8_t>(2 * kBs, 0));
  ASSERT_OK(p.Apply(0, 0, nullptr));
}

}  // namespace
}  // namespace e2q
