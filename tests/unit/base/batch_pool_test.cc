// BatchPool: every item of every batch runs exactly once, on a thread
// number in range; Start() returns before the work is done; any number of
// helpers, empty and one-item batches.
#include "lib/base/batch_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace e2q {
namespace {

TEST(BatchPoolTest, EveryItemOnceOnAThreadInRange) {
  for (unsigned helpers : {0u, 1u, 3u}) {
    auto pool = BatchPool::Create(helpers, "test");
    ASSERT_TRUE(pool.ok());
    EXPECT_EQ((*pool)->helpers(), helpers);
    for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{1000}}) {
      for (int round = 0; round < 20; ++round) {
        std::vector<std::atomic<int>> done(n);
        std::atomic<bool> bad_thread{false};
        (*pool)->Run(n, [&](unsigned thread, size_t i) {
          if (thread > helpers) bad_thread = true;
          done[i].fetch_add(1);
        });
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(done[i].load(), 1) << helpers << " " << n << " " << i;
        }
        EXPECT_FALSE(bad_thread);
      }
    }
  }
}

TEST(BatchPoolTest, HelpersWorkWhileTheCallerIsAway) {
  auto pool = BatchPool::Create(2, "test");
  ASSERT_TRUE(pool.ok());
  std::atomic<size_t> count{0};
  std::atomic<bool> helper_ran{false};
  (*pool)->Start(64, [&](unsigned thread, size_t) {
    if (thread != 0) helper_ran = true;
    count.fetch_add(1);
  });
  // The caller has not joined yet; the helpers alone can finish the batch.
  for (int i = 0; i < 2000 && count.load() < 64; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(count.load(), 64u);
  EXPECT_TRUE(helper_ran);
  (*pool)->Finish();
  EXPECT_EQ(count.load(), 64u);
}

}  // namespace
}  // namespace e2q
