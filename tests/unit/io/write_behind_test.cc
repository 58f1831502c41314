// WriteBehind: writes land in order, one at a time, with the bytes handed
// over; errors come back from the next call; buffers are swapped, not
// copied.
#include "lib/io/write_behind.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "lib/io/file.h"

namespace e2q {
namespace {

// Records the order of writes and whether two ever overlapped in time; can
// fail the Nth write.
class RecordingFile : public io::MemFile {
 public:
  using io::MemFile::MemFile;
  Status WriteAt(uint64_t offset, const void* buf, size_t len) override {
    if (active_.fetch_add(1) != 0) overlapped_ = true;
    offsets.push_back(offset);
    Status s = ++writes == fail_at ? Status::IOError(name() + ": write: boom")
                                   : io::MemFile::WriteAt(offset, buf, len);
    active_.fetch_sub(1);
    return s;
  }
  std::vector<uint64_t> offsets;
  int writes = 0;
  int fail_at = -1;
  bool overlapped() const { return overlapped_; }

 private:
  std::atomic<int> active_{0};
  std::atomic<bool> overlapped_{false};
};

TEST(WriteBehindTest, WritesInOrderWithTheBytesHandedOver) {
  RecordingFile f("out");
  std::vector<uint8_t> want;
  {
    io::WriteBehind wb(&f);
    io::AlignedBuffer buf(4096);
    for (int i = 0; i < 50; ++i) {
      std::vector<uint8_t> chunk(4096, static_cast<uint8_t>(i * 7 + 1));
      ASSERT_EQ(buf.Append(chunk.data(), chunk.size()), chunk.size());
      const uint8_t* before = buf.data();
      ASSERT_TRUE(wb.Submit(uint64_t(i) * 4096, &buf).ok());
      EXPECT_TRUE(buf.empty());
      EXPECT_EQ(buf.capacity(), 4096u);
      // Handed over, not copied: the caller now fills another buffer.
      EXPECT_NE(buf.data(), before);
      want.insert(want.end(), chunk.begin(), chunk.end());
    }
    ASSERT_TRUE(wb.Drain().ok());
  }
  EXPECT_EQ(f.data(), want);
  ASSERT_EQ(f.offsets.size(), 50u);
  for (size_t i = 0; i < f.offsets.size(); ++i) {
    EXPECT_EQ(f.offsets[i], i * 4096);
  }
  EXPECT_FALSE(f.overlapped());
}

TEST(WriteBehindTest, AnErrorComesBackFromTheNextCallAndOnlyOnce) {
  RecordingFile f("out.qcow2");
  f.fail_at = 2;
  io::WriteBehind wb(&f);
  io::AlignedBuffer buf(512);
  std::vector<uint8_t> b(512, 1);
  buf.Append(b.data(), b.size());
  ASSERT_TRUE(wb.Submit(0, &buf).ok());
  buf.Append(b.data(), b.size());
  ASSERT_TRUE(wb.Submit(512, &buf).ok());  // this one fails, later
  buf.Append(b.data(), b.size());
  Status s = wb.Submit(1024, &buf);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("out.qcow2: write: boom"), std::string::npos)
      << s.ToString();
  EXPECT_EQ(buf.size(), 512u);  // not taken
  EXPECT_TRUE(wb.Drain().ok());
}

TEST(WriteBehindTest, EmptyBufferAndDestructionWithAWriteInFlight) {
  RecordingFile f("out");
  {
    io::WriteBehind wb(&f);
    io::AlignedBuffer buf(8192);
    ASSERT_TRUE(wb.Submit(0, &buf).ok());  // nothing to write
    EXPECT_TRUE(f.offsets.empty());
    std::vector<uint8_t> b(8192, 9);
    buf.Append(b.data(), b.size());
    ASSERT_TRUE(wb.Submit(4096, &buf).ok());
  }  // the destructor waits for the write
  ASSERT_EQ(f.data().size(), 4096u + 8192u);
  EXPECT_EQ(f.data()[4096], 9);
  EXPECT_EQ(f.data().back(), 9);
}

}  // namespace
}  // namespace e2q
