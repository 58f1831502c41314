// Tests for lib/patched_file: reads through a PatchedFile show the base
// with its patches applied, for aligned and unaligned ranges and at the
// end of a base whose size is not a whole number of blocks; writes fail.
#include "lib/io/patched_file.h"

#include <memory>
#include <vector>

#include "tests/unit/test_util.h"

namespace e2q {
namespace {

constexpr uint32_t kBs = 16;

std::unique_ptr<io::PatchedFile> Make(size_t size) {
  std::vector<uint8_t> data(size);
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<uint8_t>(i);
  io::BlockPatches p(kBs);
  p.Set(1, 4, {0xAA, 0xBB});
  p.Zero(3, 1);
  p.SetBlock(5, std::vector<uint8_t>(kBs, 0xCC));
  auto base = std::make_unique<io::MemFile>("base", std::move(data));
  auto r = io::PatchedFile::Create(std::move(base), std::move(p));
  EXPECT_TRUE(r.ok());
  return std::move(r).value();
}

TEST(PatchedFileTest, WholeBlocksShowThePatches) {
  auto f = Make(8 * kBs);
  std::vector<uint8_t> buf(8 * kBs);
  ASSERT_OK(f->ReadAt(0, buf.data(), buf.size()));
  for (size_t i = 0; i < buf.size(); ++i) {
    uint8_t want = static_cast<uint8_t>(i);
    if (i == kBs + 4) want = 0xAA;
    if (i == kBs + 5) want = 0xBB;
    if (i / kBs == 3) want = 0;
    if (i / kBs == 5) want = 0xCC;
    ASSERT_EQ(buf[i], want) << i;
  }
  EXPECT_EQ(f->name(), "base");
  ASSERT_OK_AND_ASSIGN(uint64_t size, f->Size());
  EXPECT_EQ(size, 8 * kBs);
}

TEST(PatchedFileTest, UnalignedReadsAndAShortLastBlock) {
  auto f = Make(5 * kBs + 7);  // block 5 is partial: its patch is cut off
  std::vector<uint8_t> buf(3);
  ASSERT_OK(f->ReadAt(kBs + 3, buf.data(), buf.size()));
  EXPECT_EQ(buf, (std::vector<uint8_t>{kBs + 3, 0xAA, 0xBB}));
  std::vector<uint8_t> tail(10);
  ASSERT_OK_AND_ASSIGN(size_t n, f->ReadSome(5 * kBs - 3, tail.data(), 100));
  EXPECT_EQ(n, 10u);
  EXPECT_EQ(tail[2], static_cast<uint8_t>(5 * kBs - 1));
  EXPECT_EQ(tail[3], 0xCC);
  EXPECT_EQ(tail[9], 0xCC);
  ASSERT_OK_AND_ASSIGN(n, f->ReadSome(5 * kBs + 7, tail.data(), 1));
  EXPECT_EQ(n, 0u);
}

TEST(PatchedFileTest, IsReadOnly) {
  auto f = Make(2 * kBs);
  uint8_t b = 0;
  EXPECT_EQ(f->WriteAt(0, &b, 1).code(), Code::kNotSupported);
  EXPECT_EQ(f->Truncate(0).code(), Code::kNotSupported);
}

}  // namespace
}  // namespace e2q
