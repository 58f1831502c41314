// Tests for lib/block_set: merging, membership, cluster widening, clipping.
#include "lib/base/block_set.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

namespace e2q {
namespace {

std::vector<BlockRun> R(std::initializer_list<BlockRun> runs) { return runs; }

TEST(BlockSet, EmptyAndZeroCount) {
  BlockSet s;
  EXPECT_TRUE(s.empty());
  s.Add(5, 0);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
  EXPECT_FALSE(s.Contains(5));
  EXPECT_TRUE(s.Runs().empty());
}

TEST(BlockSet, MergesOverlappingAndAdjacentRuns) {
  BlockSet s;
  s.Add(10, 5);  // 10..14
  s.Add(20, 5);  // 20..24
  EXPECT_EQ(s.Runs(), R({{10, 5}, {20, 5}}));
  s.Add(15, 5);  // fills the gap exactly: one run
  EXPECT_EQ(s.Runs(), R({{10, 15}}));
  EXPECT_EQ(s.size(), 15u);
  s.Add(12, 3);  // inside
  EXPECT_EQ(s.Runs(), R({{10, 15}}));
  s.Add(9);   // adjacent before
  s.Add(25);  // adjacent after
  EXPECT_EQ(s.Runs(), R({{9, 17}}));
  EXPECT_EQ(s.size(), 17u);
  s.Add(0, 100);  // swallows everything
  EXPECT_EQ(s.Runs(), R({{0, 100}}));
  EXPECT_EQ(s.size(), 100u);
}

TEST(BlockSet, SpansSeveralRuns) {
  BlockSet s;
  for (uint64_t b = 0; b < 100; b += 10) s.Add(b, 2);
  EXPECT_EQ(s.Runs().size(), 10u);
  s.Add(15, 50);  // 15..64: swallows the runs at 20..60, leaves 10..11
  EXPECT_EQ(s.Runs(),
            R({{0, 2}, {10, 2}, {15, 50}, {70, 2}, {80, 2}, {90, 2}}));
  EXPECT_EQ(s.size(), 2u * 5 + 50);
}

TEST(BlockSet, Contains) {
  BlockSet s;
  s.Add(100, 10);
  EXPECT_FALSE(s.Contains(99));
  EXPECT_TRUE(s.Contains(100));
  EXPECT_TRUE(s.Contains(109));
  EXPECT_FALSE(s.Contains(110));
  EXPECT_FALSE(s.Contains(0));
}

TEST(BlockSet, AddSet) {
  BlockSet a, b;
  a.Add(0, 4);
  a.Add(10, 4);
  b.Add(4, 6);
  b.Add(30, 1);
  a.Add(b);
  EXPECT_EQ(a.Runs(), R({{0, 14}, {30, 1}}));
  EXPECT_EQ(a.size(), 15u);
}

TEST(BlockSet, SaturatesAtTheTopOfTheRange) {
  BlockSet s;
  s.Add(UINT64_MAX - 2, 10);  // would wrap
  EXPECT_EQ(s.Runs(), R({{UINT64_MAX - 2, 2}}));
  EXPECT_TRUE(s.Contains(UINT64_MAX - 1));
  s.ClipTo(1000);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
}

TEST(BlockSet, AlignToWidensToWholeUnitsAndClips) {
  BlockSet s;
  s.Add(5);      // -> 0..15
  s.Add(17, 2);  // -> 16..31 (adjacent: merges with the above)
  s.Add(70, 1);  // -> 64..79
  s.Add(99, 1);  // -> 96..111, clipped to 100
  s.AlignTo(16, 100);
  EXPECT_EQ(s.Runs(), R({{0, 32}, {64, 16}, {96, 4}}));
  EXPECT_EQ(s.size(), 52u);
}

TEST(BlockSet, AlignToOneOnlyClips) {
  BlockSet s;
  s.Add(3, 10);
  s.AlignTo(1, 8);
  EXPECT_EQ(s.Runs(), R({{3, 5}}));
  s.AlignTo(0, 8);
  EXPECT_EQ(s.Runs(), R({{3, 5}}));
}

TEST(BlockSet, AlignToNearTheTopOfTheRange) {
  BlockSet s;
  s.Add(UINT64_MAX - 5, 5);
  s.AlignTo(16, UINT64_MAX);
  ASSERT_FALSE(s.empty());
  const BlockRun r = s.Runs().back();
  EXPECT_EQ(r.start % 16, 0u);
  EXPECT_EQ(r.start + r.count, UINT64_MAX);
  EXPECT_EQ(s.size(), r.count);
}

TEST(BlockSet, ClipTo) {
  BlockSet s;
  s.Add(0, 10);
  s.Add(20, 10);
  s.Add(40, 10);
  s.ClipTo(25);
  EXPECT_EQ(s.Runs(), R({{0, 10}, {20, 5}}));
  EXPECT_EQ(s.size(), 15u);
  s.ClipTo(20);
  EXPECT_EQ(s.Runs(), R({{0, 10}}));
  s.ClipTo(0);
  EXPECT_TRUE(s.empty());
}

TEST(BlockSet, DropBelow) {
  BlockSet s;
  s.Add(0, 10);
  s.Add(20, 10);
  s.Add(40, 10);
  s.DropBelow(0);
  EXPECT_EQ(s.size(), 30u);
  s.DropBelow(5);
  EXPECT_EQ(s.Runs(), R({{5, 5}, {20, 10}, {40, 10}}));
  EXPECT_EQ(s.size(), 25u);
  s.DropBelow(30);
  EXPECT_EQ(s.Runs(), R({{40, 10}}));
  EXPECT_EQ(s.size(), 10u);
  s.DropBelow(45);
  EXPECT_EQ(s.Runs(), R({{45, 5}}));
  s.DropBelow(50);
  EXPECT_TRUE(s.empty());
}

// Against a plain std::set, with random adds in random order.
TEST(BlockSet, MatchesASetOfBlocks) {
  std::mt19937_64 rng(42);
  BlockSet s;
  std::set<uint64_t> ref;
  for (int i = 0; i < 2000; ++i) {
    uint64_t start = rng() % 5000;
    uint64_t count = rng() % 8;
    s.Add(start, count);
    for (uint64_t b = start; b < start + count; ++b) ref.insert(b);
  }
  EXPECT_EQ(s.size(), ref.size());
  uint64_t total = 0, prev_end = 0;
  bool first = true;
  for (const BlockRun& r : s.Runs()) {
    ASSERT_GT(r.count, 0u);
    if (!first) {
      EXPECT_GT(r.start, prev_end) << "runs must not touch";
    }
    first = false;
    prev_end = r.start + r.count;
    total += r.count;
  }
  EXPECT_EQ(total, ref.size());
  for (uint64_t b = 0; b < 5100; ++b) {
    ASSERT_EQ(s.Contains(b), ref.count(b) == 1) << b;
  }
}

}  // namespace
}  // namespace e2q
