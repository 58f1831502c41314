// Tests for Qcow2FileBuilder::ReadBack: what was appended reads back as it
// was, and a Rewrite() shows in every later read back, whether the bytes
// were written already or sit in a buffer that was handed over (sharing
// reads clusters back to verify them; the multi-snapshot writer rewrites
// tables and reads them back), and neither writes a partly filled buffer
// out early (which would leave later writes off O_DIRECT's alignment).
#include "lib/qcow2/qcow2_file_builder.h"

#include <utility>
#include <vector>

#include "lib/io/file.h"
#include "tests/unit/test_util.h"

namespace e2q::qcow2 {
namespace {

constexpr uint32_t kBits = 16;
constexpr uint64_t kCs = uint64_t{1} << kBits;

TEST(Qcow2FileBuilderTest, ReadBackSeesRewrites) {
  io::MemFile f("img");
  Qcow2FileBuilder b(&f, kBits);
  const uint64_t start = b.pos();
  const std::vector<uint8_t> a = RandomBytes(kCs, 3);
  ASSERT_OK(b.Append(a.data(), a.size()));
  ASSERT_OK(b.Flush());
  const std::vector<uint8_t> patch = RandomBytes(512, 9);
  // Rewritten once handed over, then again after the next buffer was:
  // the new bytes come back, never a buffer's.
  ASSERT_OK(b.Rewrite(start + 512, patch.data(), patch.size()));
  std::vector<uint8_t> want = a;
  std::copy(patch.begin(), patch.end(), want.begin() + 512);
  std::vector<uint8_t> got(kCs);
  ASSERT_OK(b.ReadBack(start, got.data(), kCs));
  EXPECT_EQ(got, want);
  const std::vector<uint8_t> c = RandomBytes(kCs, 4);
  ASSERT_OK(b.Append(c.data(), c.size()));
  ASSERT_OK(b.Flush());
  ASSERT_OK(b.Rewrite(start + kCs, patch.data(), patch.size()));
  ASSERT_OK(b.ReadBack(start, got.data(), kCs));
  EXPECT_EQ(got, want);
  want = c;
  std::copy(patch.begin(), patch.end(), want.begin());
  ASSERT_OK(b.ReadBack(start + kCs, got.data(), kCs));
  EXPECT_EQ(got, want);
}

// A file that takes direct writes and records where each write went.
class DirectMemFile : public io::MemFile {
 public:
  using io::MemFile::MemFile;
  bool WritesDirect() const override { return true; }
  Status WriteAt(uint64_t offset, const void* buf, size_t len) override {
    writes.emplace_back(offset, len);
    return io::MemFile::WriteAt(offset, buf, len);
  }
  std::vector<std::pair<uint64_t, size_t>> writes;
};

TEST(Qcow2FileBuilderTest, StraddlingReadBackAndRewriteKeepWritesAligned) {
  DirectMemFile f("img");
  Qcow2FileBuilder b(&f, kBits);
  const uint64_t start = b.pos();
  // Odd-sized appends (compressed clusters) until two buffers went out
  // (4 MiB each for a direct-writing file).  The writes are made on the
  // write-behind thread: a read back of old bytes waits for them.
  std::vector<uint8_t> all;
  uint32_t seed = 1;
  std::vector<uint8_t> got(9000);
  auto append_past = [&](uint64_t end) {
    while (b.pos() < end) {
      const std::vector<uint8_t> piece = RandomBytes(40000 + seed * 7, seed);
      ++seed;
      ASSERT_OK(b.Append(piece.data(), piece.size()));
      all.insert(all.end(), piece.begin(), piece.end());
    }
    ASSERT_OK(b.ReadBack(start, got.data(), 1));
  };
  append_past(start + (9u << 20));
  ASSERT_EQ(f.writes.size(), 2u);
  const auto [first, first_len] = f.writes.back();
  const uint64_t boundary = first + first_len;  // where the buffer starts
  ASSERT_GT(b.pos(), boundary + 5000);
  // Read back, then rewrite, a range with a part on each side.
  ASSERT_OK(b.ReadBack(boundary - 4000, got.data(), got.size()));
  EXPECT_TRUE(std::equal(got.begin(), got.end(),
                         all.begin() + (boundary - 4000 - start)));
  const std::vector<uint8_t> patch = RandomBytes(9000, 77);
  ASSERT_OK(b.Rewrite(boundary - 4000, patch.data(), patch.size()));
  std::copy(patch.begin(), patch.end(),
            all.begin() + (boundary - 4000 - start));
  ASSERT_OK(b.ReadBack(boundary - 4000, got.data(), got.size()));
  EXPECT_EQ(got, patch);
  // More appends: every buffer still goes out whole and aligned.
  append_past(start + (21u << 20));
  ASSERT_GE(f.writes.size(), 5u);
  for (const auto& [offset, len] : f.writes) {
    if (offset == boundary - 4000) continue;  // the rewrite's older part
    EXPECT_EQ(offset % 4096, 0u) << offset;
    EXPECT_EQ(len % 4096, 0u) << offset << " " << len;
  }
  ASSERT_OK(b.Flush());
  ASSERT_OK(b.ReadBack(start, got.data(), got.size()));
  EXPECT_TRUE(std::equal(got.begin(), got.end(), all.begin()));
  std::vector<uint8_t> whole(all.size());
  ASSERT_OK(b.ReadBack(start, whole.data(), whole.size()));
  EXPECT_EQ(whole, all);
}

}  // namespace
}  // namespace e2q::qcow2
