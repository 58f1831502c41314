// Tests for lib/ext4_dir_refs: ForEachDirEntryInode reports every entry of
// every directory block exactly once, reads nearby blocks together (one read
// per window, not per block), and reports blocks past the device's end.
#include "lib/ext4/ext4_dir_refs.h"

#include <map>

#include "lib/base/endian.h"
#include "lib/io/slow_reads.h"
#include "tests/unit/hint_log_file.h"
#include "tests/unit/test_util.h"

namespace e2q::ext4 {
namespace {

// A MemFile that counts the reads made of it.
class CountingFile : public io::MemFile {
 public:
  using io::MemFile::MemFile;
  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override {
    ++reads;
    return io::MemFile::ReadSome(offset, buf, len);
  }
  int reads = 0;
};

// A device of `blocks` blocks where directory block b holds one entry, for
// inode b + 1000, spanning the block.
std::vector<uint8_t> Device(uint64_t blocks, uint32_t bs,
                            const BlockSet& dirs) {
  std::vector<uint8_t> dev(blocks * bs, 0xee);  // garbage elsewhere
  for (const BlockRun& r : dirs.Runs()) {
    for (uint64_t b = r.start; b < r.start + r.count && b < blocks; ++b) {
      uint8_t* p = dev.data() + b * bs;
      StoreLE32(p, static_cast<uint32_t>(b + 1000));
      StoreLE16(p + 4, static_cast<uint16_t>(bs));
      p[6] = 1;
    }
  }
  return dev;
}

std::map<uint32_t, int> Walk(io::File* dev, uint32_t bs, const BlockSet& dirs,
                             std::vector<std::string>* warnings) {
  std::map<uint32_t, int> seen;
  ForEachDirEntryInode(dev, bs, dirs, [&](uint32_t ino) { ++seen[ino]; },
                       warnings);
  return seen;
}

TEST(DirRefsTest, EveryBlockOnceWithFewReads) {
  const uint32_t bs = 1024;
  BlockSet dirs;
  for (uint64_t b = 10; b < 200; b += 3) dirs.Add(b);  // small gaps
  dirs.Add(300, 2500);   // longer than one read (1 MiB = 1024 blocks)
  dirs.Add(2900);        // small gap after a long run
  dirs.Add(5000);        // large gap: a read of its own
  dirs.Add(5001, 2);
  CountingFile dev("dev", Device(6000, bs, dirs));
  std::vector<std::string> warnings;
  auto seen = Walk(&dev, bs, dirs, &warnings);
  EXPECT_TRUE(warnings.empty());
  std::map<uint32_t, int> want;
  for (const BlockRun& r : dirs.Runs()) {
    for (uint64_t b = r.start; b < r.start + r.count; ++b) want[b + 1000] = 1;
  }
  EXPECT_EQ(seen, want);
  // 10..199 in one read; 300..2799 in three; 2900 with the last of them or
  // alone; 5000..5002 in one: at most 6 reads, against 70 runs.
  EXPECT_LE(dev.reads, 6);
}

TEST(DirRefsTest, BlocksPastTheEndAreReported) {
  const uint32_t bs = 4096;
  BlockSet dirs;
  dirs.Add(2, 3);
  dirs.Add(8, 4);  // 10 and 11 are past the end
  CountingFile dev("dev", Device(10, bs, dirs));
  std::vector<std::string> warnings;
  auto seen = Walk(&dev, bs, dirs, &warnings);
  std::map<uint32_t, int> want = {{1002, 1}, {1003, 1}, {1004, 1},
                                  {1008, 1}, {1009, 1}};
  EXPECT_EQ(seen, want);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("directory block 10"), std::string::npos)
      << warnings[0];
}

TEST(DirRefsTest, FastReadsSendNoHints) {
  const uint32_t bs = 4096;
  BlockSet dirs;
  for (uint64_t b = 0; b < 20000; b += 64) dirs.Add(b);
  HintLogFile dev(Device(20000, bs, dirs));
  std::vector<std::string> warnings;
  Walk(&dev, bs, dirs, &warnings);
  EXPECT_TRUE(dev.hints().empty());
}

TEST(DirRefsTest, SlowReadsAnnounceTheWindowsAhead) {
  const uint32_t bs = 4096;
  BlockSet dirs;
  // 300 windows, one block each, 256 KiB apart (more than a read's gap).
  for (uint64_t b = 0; b < 300 * 64; b += 64) dirs.Add(b);
  HintLogFile dev(Device(300 * 64, bs, dirs), std::chrono::microseconds(300));
  std::vector<std::string> warnings;
  auto seen = Walk(&dev, bs, dirs, &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(seen.size(), 300u);  // the same entries as without hints
  const auto hints = dev.hints();
  ASSERT_FALSE(hints.empty());
  // Every directory block after the first few reads is announced exactly
  // once before it is read, inside one of the hints; the hints go forward.
  std::map<uint64_t, int> covered;
  uint64_t last_end = 0;
  for (const auto& [off, len] : hints) {
    EXPECT_GE(off, last_end);
    last_end = off + len;
    for (uint64_t b = 0; b < 300 * 64; b += 64) {
      if (b * bs >= off && b * bs + bs <= off + len) ++covered[b];
    }
  }
  for (const auto& [b, n] : covered) EXPECT_EQ(n, 1) << b;
  const uint64_t first = hints.front().first / bs;
  EXPECT_LE(first, 64u * (io::SlowReads::kToActivate + 1));
  for (uint64_t b = first; b < 300 * 64; b += 64) {
    EXPECT_EQ(covered.count(b), 1u) << "block " << b << " never announced";
  }
}

}  // namespace
}  // namespace e2q::ext4
