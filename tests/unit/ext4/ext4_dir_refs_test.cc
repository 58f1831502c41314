// Tests for lib/ext4_dir_refs: ForEachDirEntryInode reports every entry of
// every directory block exactly once, reads nearby blocks together (one read
// per window, not per block), and reports blocks past the device's end.
#include "lib/ext4/ext4_dir_refs.h"

#include <map>

#include "lib/base/endian.h"
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

}  // namespace
}  // namespace e2q::ext4
