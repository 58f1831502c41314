// Tests for snapshot/next3 (the Next3 interface that -L, -x, -X and -R
// use) on a filesystem made by the project's generator
// (tests/tools/next3gen, found through $NEXT3GEN, which `make check` sets;
// skipped without it): the list, Find, images opened several times and
// concurrently read the same, refusals, and the normalisation plan.
#include "snapshot/next3.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lib/ext4/ext2_fs.h"
#include "tests/unit/test_util.h"

namespace e2q::snapshot {
namespace {

namespace stdfs = std::filesystem;

class Next3Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* gen = std::getenv("NEXT3GEN");
    if (gen == nullptr || access(gen, X_OK) != 0) return;
    char tmpl[] = "/tmp/e2q-next3-test.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return;
    dir_ = new std::string(tmpl);
    const std::string cmd = std::string(gen) + " --seed=5 --scenario=deleted " +
                            *dir_ + "/fs.img " + *dir_ + "/exp >/dev/null 2>&1";
    int rc = std::system(cmd.c_str());
    if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
      stdfs::remove_all(*dir_);
      delete dir_;
      dir_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr) stdfs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (dir_ == nullptr) GTEST_SKIP() << "NEXT3GEN not set or failed";
    auto dev = io::OpenFileForRead(*dir_ + "/fs.img");
    ASSERT_TRUE(dev.ok()) << dev.status().ToString();
    device_ = std::move(dev).value();
    auto n = Next3::Open(device_.get());
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    next3_ = std::move(n).value();
  }
  // list.txt as (ID, INODE, STATUS, NAME) lines.
  std::vector<std::string> ExpectedList() {
    std::ifstream in(*dir_ + "/exp/list.txt");
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  const SnapshotInfo* FirstWithState(SnapshotState state) {
    for (const SnapshotInfo& s : next3_->snapshots()) {
      if (s.state == state) return &s;
    }
    return nullptr;
  }
  // FNV-1a of bytes [offset, offset + len) of `f`, read in 4 MiB pieces
  // (images are hundreds of MiB: never held whole).
  static uint64_t Digest(io::File* f, uint64_t offset, uint64_t len,
                         Status* status) {
    std::vector<uint8_t> buf(4 << 20);
    uint64_t h = 1469598103934665603ull;
    while (len > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(len, buf.size()));
      *status = f->ReadAt(offset, buf.data(), n);
      if (!status->ok()) return 0;
      for (size_t i = 0; i < n; ++i) h = (h ^ buf[i]) * 1099511628211ull;
      offset += n;
      len -= n;
    }
    return h;
  }

  static std::string* dir_;
  std::unique_ptr<io::File> device_;
  std::unique_ptr<Next3> next3_;
};

std::string* Next3Test::dir_ = nullptr;

TEST_F(Next3Test, SnapshotsAreTheListNewestFirst) {
  EXPECT_TRUE(next3_->has_snapshot());
  EXPECT_FALSE(next3_->needs_recovery());
  std::vector<std::string> got;
  for (const SnapshotInfo& s : next3_->snapshots()) {
    std::ostringstream line;
    line << s.id << " " << s.inode << " " << StateName(s.state) << " "
         << s.path;
    got.push_back(line.str());
  }
  EXPECT_EQ(got, ExpectedList());
  ASSERT_FALSE(next3_->snapshots().empty());
  const SnapshotInfo& newest = next3_->snapshots().front();
  EXPECT_EQ(newest.state, SnapshotState::kActive);
  ASSERT_OK_AND_ASSIGN(const SnapshotInfo* found, next3_->Find(newest.id));
  EXPECT_EQ(found, &newest);
  Result<const SnapshotInfo*> none = next3_->Find(999999);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kNotFound);
  EXPECT_NE(none.status().message().find("snapshot 999999: "),
            std::string::npos);
}

TEST_F(Next3Test, ImagesOpenedTwiceAndReadConcurrentlyAgree) {
  const SnapshotInfo* frozen = FirstWithState(SnapshotState::kFrozen);
  ASSERT_NE(frozen, nullptr);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> a,
                       next3_->OpenImage(frozen->id));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> b,
                       next3_->OpenImage(frozen->id));
  ASSERT_OK_AND_ASSIGN(uint64_t size, a->Size());
  EXPECT_EQ(size, frozen->blocks_count * 4096);
  const uint64_t half = size / 2 / 4096 * 4096;
  Status sa1, sa2, s1, s2;
  const uint64_t want1 = Digest(a.get(), 0, half, &sa1);
  const uint64_t want2 = Digest(a.get(), half, size - half, &sa2);
  ASSERT_OK(sa1);
  ASSERT_OK(sa2);
  // Two threads reading halves of the other instance.
  uint64_t got1 = 0, got2 = 0;
  std::thread t1([&] { got1 = Digest(b.get(), 0, half, &s1); });
  std::thread t2([&] { got2 = Digest(b.get(), half, size - half, &s2); });
  t1.join();
  t2.join();
  ASSERT_OK(s1);
  ASSERT_OK(s2);
  EXPECT_EQ(got1, want1);
  EXPECT_EQ(got2, want2);
  // The normalised image opens as a plain filesystem of the right size,
  // without the snapshot features.
  ext4::Filesystem::OpenOptions fo;
  ASSERT_OK_AND_ASSIGN(auto fs, ext4::Filesystem::Open(a.get(), fo));
  EXPECT_EQ(fs->blocks_count(), frozen->blocks_count);
  EXPECT_EQ(fs->raw()->super->s_feature_ro_compat & 0x80, 0u);
  EXPECT_EQ(fs->raw()->super->s_feature_compat & 0x180, 0u);
  EXPECT_EQ(fs->raw()->super->s_flags & 0x10, 0u);
}

TEST_F(Next3Test, RawImageDiffersOnlyInTheNormalisedBlocks) {
  const SnapshotInfo* active = FirstWithState(SnapshotState::kActive);
  ASSERT_NE(active, nullptr);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> raw,
                       next3_->OpenRawImage(active->id));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> norm,
                       next3_->OpenImage(active->id));
  ASSERT_OK_AND_ASSIGN(Normalisation plan, next3_->NormalisationOf(active->id));
  EXPECT_TRUE(plan.changed.Contains(0));
  EXPECT_FALSE(plan.released.empty());  // the exclude inode's blocks
  ASSERT_OK_AND_ASSIGN(uint64_t size, raw->Size());
  ASSERT_OK_AND_ASSIGN(uint64_t norm_size, norm->Size());
  ASSERT_EQ(size, norm_size);
  constexpr uint64_t kChunk = 1024;  // blocks
  std::vector<uint8_t> a(kChunk * 4096), b(kChunk * 4096);
  uint64_t differing = 0;
  for (uint64_t first = 0; first < size / 4096; first += kChunk) {
    const uint64_t n = std::min<uint64_t>(kChunk, size / 4096 - first);
    ASSERT_OK(raw->ReadAt(first * 4096, a.data(), n * 4096));
    ASSERT_OK(norm->ReadAt(first * 4096, b.data(), n * 4096));
    for (uint64_t i = 0; i < n; ++i) {
      if (std::equal(a.begin() + i * 4096, a.begin() + (i + 1) * 4096,
                     b.begin() + i * 4096)) {
        continue;
      }
      ++differing;
      const uint64_t blk = first + i;
      EXPECT_TRUE(plan.changed.Contains(blk) || plan.released.Contains(blk))
          << "block " << blk << " differs but is not in the plan";
    }
  }
  EXPECT_GT(differing, 0u);
}

TEST_F(Next3Test, DeletedAndShrunkSnapshotsAreRefused) {
  for (SnapshotState state :
       {SnapshotState::kDeleted, SnapshotState::kShrunk}) {
    const SnapshotInfo* s = FirstWithState(state);
    ASSERT_NE(s, nullptr) << StateName(state);
    Result<std::unique_ptr<io::File>> r = next3_->OpenImage(s->id);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("snapshot " + std::to_string(s->id) +
                                        ": " + StateName(state) +
                                        " snapshots cannot be exported"),
              std::string::npos)
        << r.status().message();
  }
}

}  // namespace
}  // namespace e2q::snapshot
