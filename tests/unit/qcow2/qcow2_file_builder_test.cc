// Tests for Qcow2FileBuilder::ReadBack: what was appended reads back as it
// was, and a Rewrite() shows in every later read back, whether the bytes
// were written already or sit in a buffer that was handed over (sharing
// reads clusters back to verify them; the multi-snapshot writer rewrites
// tables and reads them back).
#include "lib/qcow2/qcow2_file_builder.h"

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

}  // namespace
}  // namespace e2q::qcow2
