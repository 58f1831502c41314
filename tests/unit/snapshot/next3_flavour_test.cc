// Tests for the exclude bitmap's two locations in snapshot/next3 (the next3
// exclude inode 9, COMPAT 0x0080; bg_exclude_bitmap in the group
// descriptors, COMPAT 0x0100) on filesystems made by the generator with
// --exclude=inode|gdt|both ($NEXT3GEN, set by `make check`; skipped
// without it): the raw read-through image equals the generator's
// snap-ID.img on every block in use for each flavour, the descriptor
// location wins when both are present and disagree (as the ext4-snapshots
// kernel reads only the descriptors), and the normalisation releases the
// descriptor bitmaps.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/endian.h"
#include "lib/ext4/ext2_fs.h"
#include "snapshot/next3.h"
#include "snapshot/next3_format.h"
#include "tests/unit/test_util.h"

namespace e2q::snapshot {
namespace {

namespace stdfs = std::filesystem;

class Next3FlavourTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!dir_.empty()) stdfs::remove_all(dir_);
  }
  // Generates the busy scenario with --exclude=`flavour` into a fresh
  // directory; false (and the test skipped) without $NEXT3GEN.
  bool Generate(const std::string& flavour) {
    const char* gen = std::getenv("NEXT3GEN");
    if (gen == nullptr || access(gen, X_OK) != 0) return false;
    char tmpl[] = "/tmp/e2q-next3-flavour.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return false;
    dir_ = tmpl;
    const std::string cmd = std::string(gen) +
                            " --seed=4 --exclude=" + flavour + " " + dir_ +
                            "/fs.img " + dir_ + "/exp >/dev/null 2>&1";
    int rc = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << cmd;
    return WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  static uint32_t ReadLE32At(const std::string& path, uint64_t offset) {
    std::ifstream f(path, std::ios::binary);
    uint8_t b[4] = {};
    f.seekg(static_cast<std::streamoff>(offset));
    f.read(reinterpret_cast<char*>(b), 4);
    return LoadLE32(b);
  }
  static void WriteAt(const std::string& path, uint64_t offset,
                      const void* data, size_t len) {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(len));
    ASSERT_TRUE(f.good()) << path;
  }
  static std::vector<uint8_t> ReadBlock(io::File* f, uint64_t block) {
    std::vector<uint8_t> out(kBlockSize);
    Status s = f->ReadAt(block * kBlockSize, out.data(), out.size());
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }
  static bool AllZero(const std::vector<uint8_t>& b) {
    for (uint8_t x : b)
      if (x != 0) return false;
    return true;
  }
  // Group g's bg_exclude_bitmap_lo in the primary descriptors of an image
  // file (32-byte descriptors in block 1).
  static uint32_t DescriptorExclude(const std::string& path, uint32_t g) {
    return ReadLE32At(path, kBlockSize + g * 32 + kGdExcludeBitmapLo);
  }

  // Every block in use in snap-ID.img (by its own bitmaps) reads the same
  // from the raw read-through image; returns how many blocks were compared.
  void ExpectRawImagesMatch(uint64_t* compared) {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> dev,
                         io::OpenFileForRead(Path("fs.img")));
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Next3> n3, Next3::Open(dev.get()));
    for (const SnapshotInfo& s : n3->snapshots()) {
      if (s.state != SnapshotState::kActive &&
          s.state != SnapshotState::kFrozen) {
        continue;
      }
      const std::string want_path =
          Path("exp/snap-" + std::to_string(s.id) + ".img");
      ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> want,
                           io::OpenFileForRead(want_path));
      ext4::Filesystem::OpenOptions fo;
      ASSERT_OK_AND_ASSIGN(auto fs, ext4::Filesystem::Open(want.get(), fo));
      ext2_filsys f = fs->raw();
      ASSERT_EQ(ext2fs_read_block_bitmap(f), 0);
      ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> raw,
                           n3->OpenRawImage(s.id));
      uint64_t bad = 0;
      for (uint64_t b = 0; b < fs->blocks_count(); ++b) {
        if (!ext2fs_test_block_bitmap2(f->block_map, b)) continue;
        ++*compared;
        if (ReadBlock(raw.get(), b) != ReadBlock(want.get(), b) && bad++ < 5) {
          ADD_FAILURE() << "snapshot " << s.id << " block " << b
                        << " differs from " << want_path;
        }
      }
    }
  }

  std::string dir_;
};

TEST_F(Next3FlavourTest, RawImagesMatchTheGeneratorInEveryFlavour) {
  for (const char* flavour : {"inode", "gdt", "both"}) {
    SCOPED_TRACE(flavour);
    if (!Generate(flavour)) GTEST_SKIP() << "NEXT3GEN not set or failed";
    const uint32_t compat = ReadLE32At(Path("fs.img"), 1024 + 0x5C);
    const bool gdt = std::strcmp(flavour, "inode") != 0;
    EXPECT_EQ((compat & kCompatExcludeBitmap) != 0, gdt);
    EXPECT_EQ((compat & kCompatExcludeInode) != 0,
              std::strcmp(flavour, "gdt") != 0);
    EXPECT_EQ(DescriptorExclude(Path("fs.img"), 0) != 0, gdt);
    uint64_t compared = 0;
    ExpectRawImagesMatch(&compared);
    EXPECT_GT(compared, 1000u);
    stdfs::remove_all(dir_);
    dir_.clear();
  }
}

TEST_F(Next3FlavourTest, TheDescriptorWinsWhenBothLocationsDisagree) {
  if (!Generate("both")) GTEST_SKIP() << "NEXT3GEN not set or failed";
  const std::string fs = Path("fs.img");
  const uint64_t named = DescriptorExclude(fs, 0);  // also the inode's
  ASSERT_NE(named, 0u);
  // Move group 0's descriptor entry to a copy of its bitmap in a block free
  // at every take (the last block: never mapped by a snapshot), so the
  // masking stays the same and only the location differs.
  uint64_t other = 0;
  std::vector<uint8_t> content;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> dev,
                         io::OpenFileForRead(fs));
    ASSERT_OK_AND_ASSIGN(uint64_t size, dev->Size());
    other = size / kBlockSize - 1;
    content = ReadBlock(dev.get(), named);
    ASSERT_FALSE(AllZero(content)) << "group 0 has no excluded block";
    ASSERT_TRUE(AllZero(ReadBlock(dev.get(), other)));
  }
  WriteAt(fs, other * kBlockSize, content.data(), content.size());
  uint8_t le[4];
  StoreLE32(le, static_cast<uint32_t>(other));
  WriteAt(fs, kBlockSize + kGdExcludeBitmapLo, le, 4);

  auto read_active = [&](std::vector<uint8_t>* at_named,
                         std::vector<uint8_t>* at_other) {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> dev,
                         io::OpenFileForRead(fs));
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Next3> n3, Next3::Open(dev.get()));
    ASSERT_FALSE(n3->snapshots().empty());
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> raw,
                         n3->OpenRawImage(n3->snapshots().front().id));
    *at_named = ReadBlock(raw.get(), named);
    *at_other = ReadBlock(raw.get(), other);
  };
  std::vector<uint8_t> at_named, at_other;
  // COMPAT 0x0100 set: the descriptor's block reads as zeros, the exclude
  // inode's block as the live block it is.
  read_active(&at_named, &at_other);
  EXPECT_TRUE(AllZero(at_other));
  EXPECT_EQ(at_named, content);
  // Without COMPAT 0x0100 the exclude inode is the location.
  const uint32_t compat = ReadLE32At(fs, 1024 + 0x5C);
  StoreLE32(le, compat & ~kCompatExcludeBitmap);
  WriteAt(fs, 1024 + 0x5C, le, 4);
  read_active(&at_named, &at_other);
  EXPECT_TRUE(AllZero(at_named));
  EXPECT_EQ(at_other, content);
}

TEST_F(Next3FlavourTest, NormalisationReleasesTheDescriptorBitmaps) {
  if (!Generate("gdt")) GTEST_SKIP() << "NEXT3GEN not set or failed";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> dev,
                       io::OpenFileForRead(Path("fs.img")));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Next3> n3, Next3::Open(dev.get()));
  const SnapshotInfo& active = n3->snapshots().front();
  ASSERT_OK_AND_ASSIGN(Normalisation plan, n3->NormalisationOf(active.id));
  const uint32_t groups = static_cast<uint32_t>(
      (active.blocks_count + kBlocksPerGroup - 1) / kBlocksPerGroup);
  const std::string img =
      Path("exp/snap-" + std::to_string(active.id) + ".img");
  for (uint32_t g = 0; g < groups; ++g) {
    const uint64_t b = DescriptorExclude(img, g);
    ASSERT_NE(b, 0u) << "group " << g;
    EXPECT_TRUE(plan.released.Contains(b)) << "group " << g;
  }
  // Nothing else: there is no exclude inode in this flavour.
  EXPECT_EQ(plan.released.size(), groups);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> norm,
                       n3->OpenImage(active.id));
  std::vector<uint8_t> gdt = ReadBlock(norm.get(), 1);
  for (uint32_t g = 0; g < groups; ++g) {
    EXPECT_EQ(LoadLE32(gdt.data() + g * 32 + kGdExcludeBitmapLo), 0u);
  }
  std::vector<uint8_t> sb = ReadBlock(norm.get(), 0);
  EXPECT_EQ(LoadLE32(sb.data() + 1024 + 0x5C) &
                (kCompatExcludeBitmap | kCompatExcludeInode),
            0u);
}

}  // namespace
}  // namespace e2q::snapshot
