// RateLimiter (rate_limit.h).
#include "lib/io/rate_limit.h"

#include <thread>

namespace e2q::io {

RateLimiter::RateLimiter(uint64_t bytes_per_second, Hooks hooks)
    : rate_(bytes_per_second > 0 ? bytes_per_second : 1),
      hooks_(std::move(hooks)) {
  if (!hooks_.now) hooks_.now = [] { return Clock::now(); };
  if (!hooks_.sleep_until) {
    hooks_.sleep_until = [](Clock::time_point t) {
      std::this_thread::sleep_until(t);
    };
  }
}

void RateLimiter::Acquire(uint64_t bytes) {
  Clock::time_point start;
  Clock::time_point now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    now = hooks_.now();
    if (!started_) {
      next_ = now;
      started_ = true;
    } else if (next_ < now - kBurst) {
      next_ = now - kBurst;  // credit for a pause, up to kBurst
    }
    start = next_;
    const auto share = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(static_cast<double>(bytes) /
                                      static_cast<double>(rate_)));
    next_ = start + share;
  }
  if (start > now) hooks_.sleep_until(start);
}

}  // namespace e2q::io
