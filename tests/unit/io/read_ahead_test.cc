#include "lib/io/read_ahead.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "lib/io/posix_file.h"
#include "tests/unit/page_cache.h"
#include "tests/unit/test_util.h"

namespace e2q::io {
namespace {

using Reads = std::map<uint64_t, uint64_t>;  // offset -> length

// A MemFile that records its reads, can fail them, and can hold every read
// until `gate` reads are in flight at once (or a second has passed).
class GatedFile : public MemFile {
 public:
  explicit GatedFile(size_t size, int gate = 0, bool fail = false)
      : MemFile("dev", std::vector<uint8_t>(size)), gate_(gate), fail_(fail) {}

  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override {
    std::unique_lock<std::mutex> lock(mu_);
    reads_[offset] += len;
    max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
    if (in_flight_ >= gate_) {
      opened_ = true;
      cv_.notify_all();
    }
    if (gate_ > 0) {
      cv_.wait_for(lock, std::chrono::seconds(1), [this] { return opened_; });
    }
    --in_flight_;
    lock.unlock();
    if (fail_) return Status::IOError("dev: read failed");
    return MemFile::ReadSome(offset, buf, len);
  }
  Reads reads() {
    std::lock_guard<std::mutex> lock(mu_);
    return reads_;
  }
  int in_flight() {
    std::lock_guard<std::mutex> lock(mu_);
    return in_flight_;
  }
  int max_in_flight() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_in_flight_;
  }

 private:
  const int gate_;
  const bool fail_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool opened_ = false;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  Reads reads_;
};

constexpr uint64_t kPiece = ReadAhead::kPieceBytes;

TEST(ReadAheadTest, ReadsExactlyWhatWasAnnouncedInPieces) {
  GatedFile f(4 << 20);
  ReadAhead ra(&f);
  ra.Announce(1000, 2 * kPiece + 10);
  ra.Announce(3 << 20, 4096);
  ra.Announce(2 << 20, 0);  // empty: nothing
  ra.Drain();
  EXPECT_EQ(f.reads(), (Reads{{1000, kPiece},
                              {1000 + kPiece, kPiece},
                              {1000 + 2 * kPiece, 10},
                              {3 << 20, 4096}}));
}

TEST(ReadAheadTest, ManyReadsAreInFlightAtOnce) {
  // Every read waits until eight are in flight: a pool that read one piece
  // at a time would see one, time out and record a maximum of 1.
  GatedFile f(16 * kPiece, /*gate=*/8);
  ReadAhead ra(&f);
  ra.Announce(0, 16 * kPiece);
  ra.Drain();
  EXPECT_GE(f.max_in_flight(), 8);
  EXPECT_LE(f.max_in_flight(), ReadAhead::kThreads);
  EXPECT_EQ(f.reads().size(), 16u);
}

TEST(ReadAheadTest, ReadErrorsAreIgnored) {
  GatedFile f(1 << 20, 0, /*fail=*/true);
  ReadAhead ra(&f);
  ra.Announce(0, 4 * kPiece);
  ra.Drain();  // returns: a failed piece is dropped, not retried
  EXPECT_EQ(f.reads().size(), 4u);
}

TEST(ReadAheadTest, AtMostTheQueueBoundWaits) {
  // Reads are held (the gate is never reached), so kThreads pieces are in
  // flight and the rest of what was announced queues up to
  // kMaxQueuedBytes; more is dropped.  The destructor drops the queue and
  // waits for the reads in flight.
  const uint64_t size = 2 * ReadAhead::kMaxQueuedBytes;
  GatedFile f(size, /*gate=*/1000);
  {
    ReadAhead ra(&f);
    ra.Announce(0, size);
    while (f.in_flight() < ReadAhead::kThreads) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ra.Announce(0, size);  // tops the queue up again
    EXPECT_EQ(ra.queued_bytes(), ReadAhead::kMaxQueuedBytes);
  }
  EXPECT_EQ(f.reads().size(), static_cast<size_t>(ReadAhead::kThreads));
}

TEST(ReadAheadTest, PosixFilePrefetchFillsThePageCache) {
  const size_t len = 8 * kPiece;
  const int fd = UncachedTempFile(std::vector<uint8_t>(len, 7));
  ASSERT_NE(fd, -1);
  if (fd == -2)
    GTEST_SKIP() << "this file system keeps the pages cached (tmpfs?)";
  PosixFile f("uncached", fd, /*owns_fd=*/true);
  f.Prefetch(kPiece, 4 * kPiece);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ResidentPages(fd, len) < 4 * kPiece / page &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(ResidentPages(fd, len), 4 * kPiece / page);
}

}  // namespace
}  // namespace e2q::io
