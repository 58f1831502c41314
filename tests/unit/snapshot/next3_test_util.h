// Helpers for the next3 unit tests: small hand-built devices in memory
// (4096-byte blocks, each block tagged with its own number so that a test
// can see where a block came from) and a File that counts the reads it
// serves.
#ifndef E2Q_TESTS_UNIT_NEXT3_TEST_UTIL_H_
#define E2Q_TESTS_UNIT_NEXT3_TEST_UTIL_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/endian.h"
#include "lib/io/file.h"
#include "lib/io/forwarding_file.h"
#include "snapshot/next3_format.h"

namespace e2q::snapshot::testing {

// A device of `blocks` blocks; block b holds the byte (b & 0xFF) | 0x80
// everywhere except its first 8 bytes, which hold b (LE64), so that
// pointer blocks start out as garbage and must be written explicitly.
inline std::unique_ptr<io::MemFile> TaggedDevice(uint64_t blocks) {
  std::vector<uint8_t> data(blocks * kBlockSize);
  for (uint64_t b = 0; b < blocks; ++b) {
    uint8_t* p = data.data() + b * kBlockSize;
    std::memset(p, static_cast<int>((b & 0x7F) | 0x80), kBlockSize);
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(b >> (8 * i));
  }
  return std::make_unique<io::MemFile>("dev", std::move(data));
}

// The tag TaggedDevice gave block b (its first 8 bytes).
inline uint64_t TagOf(const uint8_t* block) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{block[i]} << (8 * i);
  return v;
}

// Turns block b of `dev` into an indirect block with the given entries
// (index -> pointer); every other entry is 0.
inline void SetPointers(io::MemFile* dev, uint64_t b,
                        const std::vector<std::pair<uint32_t, uint32_t>>& e) {
  uint8_t* p = dev->data().data() + b * kBlockSize;
  std::memset(p, 0, kBlockSize);
  for (const auto& [index, pointer] : e) StoreLE32(p + 4 * index, pointer);
}

// Fills block b of `dev` with one byte value.
inline void FillBlock(io::MemFile* dev, uint64_t b, uint8_t value) {
  std::memset(dev->data().data() + b * kBlockSize, value, kBlockSize);
}

// Forwards to another File and counts the reads.
class CountingFile : public io::ForwardingFile {
 public:
  using io::ForwardingFile::ForwardingFile;
  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override {
    ++reads_;
    return io::ForwardingFile::ReadSome(offset, buf, len);
  }
  uint64_t reads() const { return reads_; }
  void reset() { reads_ = 0; }

 private:
  std::atomic<uint64_t> reads_{0};
};

}  // namespace e2q::snapshot::testing

#endif  // E2Q_TESTS_UNIT_NEXT3_TEST_UTIL_H_
