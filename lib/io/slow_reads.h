// SlowReads: tells a reader when its reads wait for a device, so that it
// starts prefetching (File::Prefetch) only then; PrefetchHints: gathers
// the ranges it announces into few calls.
//
// Reads from the page cache take microseconds, and a prefetch hint per
// read would only add a system call to each of them (a warm -Q of a copy
// of /usr makes about 13,000 reads).
// Where the file can tell (File::ReadWaits: a POSIX file on a local file
// system or a block device), the reader prefetches for the rest of the run
// once kToActivate of its reads waited for the device.  Elsewhere (FUSE,
// test doubles) a read that takes longer than kFixedNs plus one nanosecond
// per kBytesPerNs bytes counts as such a read.  Timing alone misjudged
// warm runs on this 2-core machine: a reader thread that loses its core
// for a moment, or faults on its buffer, makes a cached read look slow,
// and a warm -Q of the usr benchmark filesystem started the read-ahead
// pool (16 more threads, reading everything a second time) in 3 of 4 runs.
// Thread-safe.
#ifndef E2Q_LIB_IO_SLOW_READS_H_
#define E2Q_LIB_IO_SLOW_READS_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "lib/io/file.h"

namespace e2q::io {

class SlowReads {
 public:
  static constexpr uint64_t kFixedNs = 50'000;
  // 4 GB/s: any memory copies faster.
  static constexpr uint64_t kBytesPerNs = 4;
  static constexpr int kToActivate = 4;

  using Clock = std::chrono::steady_clock;

  // Judges reads of `file` (not owned), counting from now.
  explicit SlowReads(const File* file)
      : file_(file), base_(std::max<int64_t>(0, file->ReadWaits())) {}
  // Judges by time only.
  SlowReads() = default;

  // Records one read of `bytes` that started at `start` and just ended.
  void Note(uint64_t bytes, Clock::time_point start) {
    if (slow_.load(std::memory_order_relaxed) >= kToActivate) return;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        Clock::now() - start)
                        .count();
    if (ns >= 0 && static_cast<uint64_t>(ns) > kFixedNs + bytes / kBytesPerNs) {
      slow_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  // True once reads have waited for a device (or, where the file cannot
  // tell, looked as if they did).
  bool active() const {
    const int64_t waits = file_ != nullptr ? file_->ReadWaits() : -1;
    if (waits >= 0) return waits - base_ >= kToActivate;
    return slow_.load(std::memory_order_relaxed) >= kToActivate;
  }

 private:
  const File* const file_ = nullptr;
  const int64_t base_ = 0;
  std::atomic<int> slow_{0};
};

// PrefetchHints: gathers the ranges a reader announces in increasing order
// into fewer File::Prefetch calls.  Ranges less than kMaxGapBytes apart
// become one, as the readers' own reads do (a small gap costs less than
// another request).  Larger gaps are not read, as they cost transfer
// time: a cold -Q of the meta benchmark filesystem through a simulated
// 500 MB/s device (bench/slow_device.sh) read 578-637 MB in 1.2-1.35 s
// with 256 KiB, 291 MB in 0.6 s with 16 KiB.
class PrefetchHints {
 public:
  static constexpr uint64_t kMaxGapBytes = 16 << 10;
  static constexpr uint64_t kMaxBytes = 8 << 20;

  explicit PrefetchHints(File* file) : file_(file) {}
  ~PrefetchHints() { Flush(); }
  PrefetchHints(const PrefetchHints&) = delete;
  PrefetchHints& operator=(const PrefetchHints&) = delete;

  void Add(uint64_t offset, uint64_t len) {
    if (len == 0) return;
    if (end_ != 0 && offset >= end_ && offset - end_ <= kMaxGapBytes &&
        offset + len - start_ <= kMaxBytes) {
      end_ = offset + len;
      return;
    }
    Flush();
    start_ = offset;
    end_ = offset + len;
  }
  // Announces what was gathered.
  void Flush() {
    if (end_ != 0) file_->Prefetch(start_, end_ - start_);
    start_ = end_ = 0;
  }

 private:
  File* const file_;
  uint64_t start_ = 0;
  uint64_t end_ = 0;  // 0: nothing gathered
};

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_SLOW_READS_H_
