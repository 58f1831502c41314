// Tests for lib/io/window_file: a window shows exactly its bytes of the
// base, reads end at its end, windows that do not lie within the base are
// refused (overflowing sums included), and writes fail.
#include "lib/io/window_file.h"

#include <cstdint>
#include <memory>
#include <vector>

#include "tests/unit/holey_file.h"
#include "tests/unit/test_util.h"

namespace e2q {
namespace {

std::unique_ptr<io::MemFile> Base(size_t size) {
  std::vector<uint8_t> data(size);
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<uint8_t>(i * 7);
  return std::make_unique<io::MemFile>("disk.img", std::move(data));
}

TEST(WindowFileTest, ShowsTheWindowFromItsStart) {
  ASSERT_OK_AND_ASSIGN(auto w, io::WindowFile::Create(Base(1000), 100, 300));
  EXPECT_EQ(w->name(), "disk.img");
  ASSERT_OK_AND_ASSIGN(uint64_t size, w->Size());
  EXPECT_EQ(size, 300u);
  std::vector<uint8_t> buf(300);
  ASSERT_OK(w->ReadAt(0, buf.data(), buf.size()));
  for (size_t i = 0; i < buf.size(); ++i) {
    ASSERT_EQ(buf[i], static_cast<uint8_t>((i + 100) * 7)) << i;
  }
}

TEST(WindowFileTest, StretchesAreTheBasesSeenThroughTheWindow) {
  std::vector<uint8_t> data(10000, 5);
  auto base = std::make_unique<HoleyFile>(
      data,
      std::vector<std::pair<uint64_t, uint64_t>>{{1000, 3000}, {6000, 9000}});
  ASSERT_OK_AND_ASSIGN(auto w,
                       io::WindowFile::Create(std::move(base), 2000, 5000));
  io::File::Stretch s = w->StretchAt(0);  // base 2000: in the first hole
  EXPECT_TRUE(s.hole);
  EXPECT_EQ(s.end, 1000u);
  s = w->StretchAt(1000);  // base 3000: data up to the second hole
  EXPECT_FALSE(s.hole);
  EXPECT_EQ(s.end, 4000u);
  s = w->StretchAt(4500);  // base 6500: the hole, cut at the window's end
  EXPECT_TRUE(s.hole);
  EXPECT_EQ(s.end, 5000u);
  s = w->StretchAt(5000);  // past the window: data, left to the reads
  EXPECT_FALSE(s.hole);
}

TEST(WindowFileTest, ReadsStopAtTheWindowsEnd) {
  ASSERT_OK_AND_ASSIGN(auto w, io::WindowFile::Create(Base(1000), 100, 300));
  std::vector<uint8_t> buf(64, 0xee);
  ASSERT_OK_AND_ASSIGN(size_t n, w->ReadSome(290, buf.data(), buf.size()));
  EXPECT_EQ(n, 10u);
  EXPECT_EQ(buf[0], static_cast<uint8_t>(390 * 7));
  EXPECT_EQ(buf[10], 0xee);  // not written past what was read
  ASSERT_OK_AND_ASSIGN(n, w->ReadSome(300, buf.data(), buf.size()));
  EXPECT_EQ(n, 0u);
  ASSERT_OK_AND_ASSIGN(n, w->ReadSome(UINT64_MAX, buf.data(), buf.size()));
  EXPECT_EQ(n, 0u);
  // ReadAt past the end is the usual end-of-file error.
  Status s = w->ReadAt(290, buf.data(), 20);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
}

TEST(WindowFileTest, ToEndTakesTheRest) {
  ASSERT_OK_AND_ASSIGN(auto w, io::WindowFile::CreateToEnd(Base(1000), 999));
  ASSERT_OK_AND_ASSIGN(uint64_t size, w->Size());
  EXPECT_EQ(size, 1u);
  uint8_t b = 0;
  ASSERT_OK(w->ReadAt(0, &b, 1));
  EXPECT_EQ(b, static_cast<uint8_t>(999 * 7));
  ASSERT_OK_AND_ASSIGN(auto whole, io::WindowFile::CreateToEnd(Base(10), 0));
  ASSERT_OK_AND_ASSIGN(size, whole->Size());
  EXPECT_EQ(size, 10u);
}

TEST(WindowFileTest, RefusesWindowsOutsideTheBase) {
  struct Case {
    uint64_t offset, length;
  };
  for (Case c :
       {Case{1001, 0}, Case{0, 1001}, Case{500, 501}, Case{UINT64_MAX, 2},
        Case{2, UINT64_MAX}, Case{UINT64_MAX - 10, 20}}) {
    auto r = io::WindowFile::Create(Base(1000), c.offset, c.length);
    ASSERT_FALSE(r.ok()) << c.offset << "+" << c.length;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("disk.img: window at offset"),
              std::string::npos)
        << r.status().ToString();
  }
  auto r = io::WindowFile::CreateToEnd(Base(1000), 1001);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("beyond the end of the file (1000 "
                                      "bytes)"),
            std::string::npos)
      << r.status().ToString();
  // The whole base and an empty window at its end are fine.
  EXPECT_TRUE(io::WindowFile::Create(Base(1000), 0, 1000).ok());
  EXPECT_TRUE(io::WindowFile::Create(Base(1000), 1000, 0).ok());
}

TEST(WindowFileTest, IsReadOnly) {
  ASSERT_OK_AND_ASSIGN(auto w, io::WindowFile::Create(Base(100), 10, 20));
  uint8_t b = 1;
  EXPECT_EQ(w->WriteAt(0, &b, 1).code(), Code::kNotSupported);
  EXPECT_EQ(w->Truncate(5).code(), Code::kNotSupported);
  EXPECT_OK(w->Sync());
}

}  // namespace
}  // namespace e2q
