// Tests for lib/io/slow_reads.h: SlowReads turns on only after several
// reads slower than memory; PrefetchHints merges nearby ranges and splits
// distant or long ones.
#include "lib/io/slow_reads.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lib/io/file.h"
#include "lib/io/rate_limit.h"
#include "lib/io/window_file.h"
#include "tests/unit/hint_log_file.h"

namespace e2q::io {
namespace {

using std::chrono::microseconds;

TEST(SlowReadsTest, FastReadsNeverActivate) {
  SlowReads slow;
  for (int i = 0; i < 1000; ++i) slow.Note(4096, SlowReads::Clock::now());
  EXPECT_FALSE(slow.active());
}

TEST(SlowReadsTest, SeveralSlowReadsActivate) {
  SlowReads slow;
  const auto long_ago = SlowReads::Clock::now() - microseconds(500);
  for (int i = 1; i < SlowReads::kToActivate; ++i) {
    slow.Note(4096, long_ago);
    EXPECT_FALSE(slow.active()) << i;
  }
  slow.Note(4096, long_ago);
  EXPECT_TRUE(slow.active());
}

TEST(SlowReadsTest, LargeReadsGetTimeForTheirCopy) {
  SlowReads slow;
  // 500 us for 8 MiB is a copy from memory (16 GB/s), not a device read.
  const auto start = SlowReads::Clock::now() - microseconds(500);
  for (int i = 0; i < 10; ++i) slow.Note(8 << 20, start);
  EXPECT_FALSE(slow.active());
}

// A file that says how many of its reads waited (File::ReadWaits).
class WaitCountingFile : public MemFile {
 public:
  int64_t ReadWaits() const override { return waits; }
  int64_t waits = 0;
};

TEST(SlowReadsTest, AFileThatCountsWaitsDecidesNotTheClock) {
  WaitCountingFile f;
  f.waits = 10;  // before this reader: not its own
  SlowReads slow(&f);
  const auto long_ago = SlowReads::Clock::now() - microseconds(500);
  // Reads that took long but did not wait (a reader that lost its core):
  // no prefetching.
  for (int i = 0; i < 100; ++i) slow.Note(4096, long_ago);
  EXPECT_FALSE(slow.active());
  for (int i = 1; i < SlowReads::kToActivate; ++i) {
    ++f.waits;
    slow.Note(4096, SlowReads::Clock::now());
    EXPECT_FALSE(slow.active()) << i;
  }
  ++f.waits;
  EXPECT_TRUE(slow.active());
}

TEST(SlowReadsTest, AFileThatCannotTellIsJudgedByTime) {
  WaitCountingFile f;
  f.waits = -1;
  SlowReads slow(&f);
  const auto long_ago = SlowReads::Clock::now() - microseconds(500);
  for (int i = 0; i < SlowReads::kToActivate; ++i) {
    EXPECT_FALSE(slow.active()) << i;
    slow.Note(4096, long_ago);
  }
  EXPECT_TRUE(slow.active());
  // A file that stops telling (the kernel refused RWF_NOWAIT after the
  // reader started) falls back to the clock too.
  WaitCountingFile g;
  SlowReads later(&g);
  g.waits = -1;
  for (int i = 0; i < SlowReads::kToActivate; ++i) later.Note(4096, long_ago);
  EXPECT_TRUE(later.active());
}

using Hints = std::vector<std::pair<uint64_t, uint64_t>>;

TEST(PrefetchHintsTest, NearbyRangesMergeDistantOnesDoNot) {
  HintLogFile f;
  const uint64_t near = 8192 + 4096 + PrefetchHints::kMaxGapBytes;
  {
    PrefetchHints hints(&f);
    hints.Add(0, 4096);
    hints.Add(8192, 4096);            // 4 KiB gap
    hints.Add(near, 4096);            // a gap of exactly kMaxGapBytes
    hints.Add(10 << 20, 4096);        // far: a new hint
    hints.Add((10 << 20) + 4096, 0);  // empty: ignored
    hints.Flush();
    EXPECT_EQ(f.hints().size(), 2u);
    hints.Add(20 << 20, 512);
  }  // the destructor announces the rest
  EXPECT_EQ(f.hints(),
            (Hints{{0, near + 4096}, {10 << 20, 4096}, {20 << 20, 512}}));
}

TEST(PrefetchHintsTest, LongStretchesAreSplit) {
  HintLogFile f;
  PrefetchHints hints(&f);
  for (uint64_t off = 0; off < (20u << 20); off += 1 << 20) {
    hints.Add(off, 1 << 20);
  }
  hints.Flush();
  // 20 MiB in hints of at most kMaxBytes (8 MiB): 8 + 8 + 4.
  EXPECT_EQ(f.hints(),
            (Hints{{0, 8 << 20}, {8 << 20, 8 << 20}, {16 << 20, 4 << 20}}));
}

TEST(PrefetchHintsTest, WindowFilesMoveHintsByTheirOffset) {
  auto base = std::make_unique<HintLogFile>(std::vector<uint8_t>(1000));
  HintLogFile* log = base.get();
  auto w = WindowFile::Create(std::move(base), 100, 300);
  ASSERT_TRUE(w.ok());
  (*w)->Prefetch(10, 50);
  (*w)->Prefetch(250, 500);  // clipped at the window's end
  (*w)->Prefetch(300, 10);   // past it: dropped
  EXPECT_EQ(log->hints(), (Hints{{110, 50}, {350, 50}}));
}

TEST(PrefetchHintsTest, RateLimitedFilesDropHints) {
  auto base = std::make_unique<HintLogFile>(std::vector<uint8_t>(1000));
  HintLogFile* log = base.get();
  RateLimitedFile f(std::move(base), std::make_shared<RateLimiter>(1 << 20));
  f.Prefetch(0, 1000);
  EXPECT_TRUE(log->hints().empty());
}

}  // namespace
}  // namespace e2q::io
