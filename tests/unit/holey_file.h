// HoleyFile: an in-memory File that has holes (File::StretchAt), for the
// tests of readers that leave holes out.  Bytes in a hole read as zeros;
// the file counts how many bytes its reads took from holes.
#ifndef E2Q_TESTS_UNIT_HOLEY_FILE_H_
#define E2Q_TESTS_UNIT_HOLEY_FILE_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "lib/io/file.h"

namespace e2q {

class HoleyFile : public io::MemFile {
 public:
  // `holes`: [start, end) byte ranges, sorted and apart; `data` is zeroed
  // in them.
  HoleyFile(std::vector<uint8_t> data,
            std::vector<std::pair<uint64_t, uint64_t>> holes)
      : io::MemFile("holey.img", std::move(data)), holes_(std::move(holes)) {
    for (const auto& [a, b] : holes_) {
      std::fill(this->data().begin() + a, this->data().begin() + b, 0);
    }
  }

  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override {
    for (const auto& [a, b] : holes_) {
      const uint64_t from = std::max(a, offset);
      const uint64_t to = std::min(b, offset + len);
      if (from < to) hole_bytes_read_ += to - from;
    }
    return io::MemFile::ReadSome(offset, buf, len);
  }

  Stretch StretchAt(uint64_t offset) override {
    ++stretch_calls_;
    for (const auto& [a, b] : holes_) {
      if (offset < a) return {false, a};
      if (offset < b) return {true, b};
    }
    return {};
  }

  uint64_t hole_bytes_read() const { return hole_bytes_read_; }
  uint64_t stretch_calls() const { return stretch_calls_; }

 private:
  std::vector<std::pair<uint64_t, uint64_t>> holes_;
  std::atomic<uint64_t> hole_bytes_read_{0};
  std::atomic<uint64_t> stretch_calls_{0};
};

}  // namespace e2q

#endif  // E2Q_TESTS_UNIT_HOLEY_FILE_H_
