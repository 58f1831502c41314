// Pacing of device I/O (--rate-limit=RATE, as qemu-img's -r): a backup or
// replication run takes at most RATE bytes per second of a busy disk.
//
// RateLimiter hands out transfer slots: a transfer of n bytes starts no
// earlier than the end of the previous one's share of time (n / rate
// seconds after its start).  Time spent without I/O (computing, syncing)
// earns credit of at most kBurst, so short pauses do not pull the average
// below the rate while over any stretch of a run the bytes moved stay
// within rate * (elapsed + kBurst) plus one transfer.  Thread-safe
// (exports read the device from several threads); the clock and the sleep
// can be replaced, so tests run on a fake clock.
//
// RateLimitedFile is the File wrapper that charges every read, write and
// zeroing of the device to one limiter.
#ifndef E2Q_LIB_IO_RATE_LIMIT_H_
#define E2Q_LIB_IO_RATE_LIMIT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "lib/io/file.h"
#include "lib/io/forwarding_file.h"

namespace e2q::io {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kBurst{100};
  struct Hooks {
    std::function<Clock::time_point()> now;              // Clock::now
    std::function<void(Clock::time_point)> sleep_until;  // this thread
  };

  // `bytes_per_second` > 0.
  explicit RateLimiter(uint64_t bytes_per_second, Hooks hooks = Hooks());

  // Waits until a transfer of `bytes` may start, and books its share.
  void Acquire(uint64_t bytes);

  uint64_t rate() const { return rate_; }

 private:
  const uint64_t rate_;
  Hooks hooks_;
  std::mutex mu_;
  bool started_ = false;
  Clock::time_point next_;  // when the next transfer may start
};

class RateLimitedFile : public ForwardingFile {
 public:
  // Owns `base`; `limiter` may be shared with other files.
  RateLimitedFile(std::unique_ptr<File> base,
                  std::shared_ptr<RateLimiter> limiter)
      : ForwardingFile(base.get()),
        owned_(std::move(base)),
        limiter_(std::move(limiter)) {}

  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override {
    limiter_->Acquire(len);
    return ForwardingFile::ReadSome(offset, buf, len);
  }
  Status WriteAt(uint64_t offset, const void* buf, size_t len) override {
    limiter_->Acquire(len);
    return ForwardingFile::WriteAt(offset, buf, len);
  }
  // Zeroing is charged as the writes it replaces: the device does that
  // work, or a good part of it.
  Status ZeroRange(uint64_t offset, uint64_t len) override {
    limiter_->Acquire(len);
    return ForwardingFile::ZeroRange(offset, len);
  }
  // Not passed on: reads started in the background would pass the limit.
  void Prefetch(uint64_t, uint64_t) override {}

 private:
  std::unique_ptr<File> owned_;
  std::shared_ptr<RateLimiter> limiter_;
};

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_RATE_LIMIT_H_
