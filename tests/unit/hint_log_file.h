// HintLogFile: a MemFile that records the prefetch hints it is given and
// the threads that read it, and, optionally, makes every read take a
// while, as a disk's would (so that readers using io::SlowReads start
// prefetching).
#ifndef E2Q_TESTS_UNIT_HINT_LOG_FILE_H_
#define E2Q_TESTS_UNIT_HINT_LOG_FILE_H_

#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "lib/io/file.h"

namespace e2q {

class HintLogFile : public io::MemFile {
 public:
  explicit HintLogFile(std::vector<uint8_t> data = {},
                       std::chrono::microseconds read_delay = {})
      : io::MemFile("dev", std::move(data)), delay_(read_delay) {}

  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override {
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      readers_.insert(std::this_thread::get_id());
    }
    return io::MemFile::ReadSome(offset, buf, len);
  }
  void Prefetch(uint64_t offset, uint64_t len) override {
    std::lock_guard<std::mutex> lock(mu_);
    hints_.emplace_back(offset, len);
  }
  std::vector<std::pair<uint64_t, uint64_t>> hints() {
    std::lock_guard<std::mutex> lock(mu_);
    return hints_;
  }
  // How many threads have read.
  size_t reader_threads() {
    std::lock_guard<std::mutex> lock(mu_);
    return readers_.size();
  }

 private:
  const std::chrono::microseconds delay_;
  std::mutex mu_;
  std::vector<std::pair<uint64_t, uint64_t>> hints_;
  std::set<std::thread::id> readers_;
};

}  // namespace e2q

#endif  // E2Q_TESTS_UNIT_HINT_LOG_FILE_H_
