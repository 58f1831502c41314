// Tests for lib/io/rate_limit on a fake clock: transfers are spaced by
// their share of the rate, idle time earns no burst, and the wrapper
// charges reads, writes and zeroing.
#include "lib/io/rate_limit.h"

#include <vector>

#include "tests/unit/test_util.h"

namespace e2q::io {
namespace {

using Clock = RateLimiter::Clock;
using std::chrono::milliseconds;

struct FakeClock {
  Clock::time_point t{};
  std::vector<Clock::time_point> sleeps;
  RateLimiter::Hooks Hooks() {
    RateLimiter::Hooks h;
    h.now = [this] { return t; };
    h.sleep_until = [this](Clock::time_point until) {
      sleeps.push_back(until);
      t = until;
    };
    return h;
  }
};

TEST(RateLimiterTest, SpacesTransfersByTheirShare) {
  FakeClock c;
  RateLimiter limiter(1000, c.Hooks());  // 1000 bytes per second
  limiter.Acquire(500);                  // starts at once
  EXPECT_TRUE(c.sleeps.empty());
  limiter.Acquire(250);  // waits for the first one's half second
  ASSERT_EQ(c.sleeps.size(), 1u);
  EXPECT_EQ(c.t - Clock::time_point{}, milliseconds(500));
  limiter.Acquire(1000);
  EXPECT_EQ(c.t - Clock::time_point{}, milliseconds(750));
  // 1750 bytes started by 0.75 s, the next may start at 1.75 s: the rate
  // over the run is the limit.
  limiter.Acquire(1);
  EXPECT_EQ(c.t - Clock::time_point{}, milliseconds(1750));
}

TEST(RateLimiterTest, IdleTimeEarnsAtMostTheBurst) {
  FakeClock c;
  RateLimiter limiter(1000, c.Hooks());
  limiter.Acquire(100);
  c.t += std::chrono::seconds(10);  // computing, no I/O
  const size_t before = c.sleeps.size();
  limiter.Acquire(1000);  // at once, counted from 100 ms ago
  EXPECT_EQ(c.sleeps.size(), before);
  limiter.Acquire(1000);  // the next waits the rest of its second
  EXPECT_EQ(c.t - Clock::time_point{}, milliseconds(10900));
}

TEST(RateLimitedFileTest, ChargesReadsWritesAndZeroing) {
  FakeClock c;
  auto limiter = std::make_shared<RateLimiter>(1 << 20, c.Hooks());
  RateLimitedFile f(
      std::make_unique<MemFile>("dev", std::vector<uint8_t>(8 << 20)), limiter);
  std::vector<uint8_t> buf(1 << 20);
  ASSERT_OK(f.ReadAt(0, buf.data(), buf.size()));   // 1 MiB: at once
  ASSERT_OK(f.WriteAt(0, buf.data(), buf.size()));  // after 1 s
  ASSERT_OK(f.ZeroRange(0, 2 << 20));               // after 2 s
  ASSERT_OK(f.ReadAt(0, buf.data(), 1));            // after 4 s
  EXPECT_EQ(c.t - Clock::time_point{}, milliseconds(4000));
  EXPECT_EQ(f.name(), "dev");
}

}  // namespace
}  // namespace e2q::io
