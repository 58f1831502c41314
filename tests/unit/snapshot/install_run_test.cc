// Tests for snapshot/install_run: the -I sequence in memory, on a small
// "filesystem" (a superblock and random blocks) and a hand-made increment
// with its base guard.  An increment is applied only onto exactly its base
// state; the device is not written before the undo file is committed; a
// run killed at any device write is completed by a rerun; -U gives back
// the base byte for byte; a device already in the image's state is not
// written.  (func/install runs the same on real ext4 exports, judged by
// qemu-img, e2image and e2fsck.)
#include "snapshot/install_run.h"

#include <cstring>
#include <random>

#include "lib/base/endian.h"
#include "lib/image/base_guard.h"
#include "lib/image/provenance.h"
#include "lib/image/stamp.h"
#include "lib/qcow2/qcow2_guest_file.h"
#include "lib/qcow2/qcow2_writer.h"
#include "snapshot/rollback_run.h"
#include "tests/doubles/fault_file.h"
#include "tests/unit/test_util.h"

namespace e2q::snapshot {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint32_t kBits = 14;  // 16 KiB clusters over 4 KiB blocks
constexpr uint64_t kCs = uint64_t{1} << kBits;
constexpr uint64_t kSize = 64 * kCs;  // 1 MiB
constexpr std::array<uint8_t, 16> kUuid = {1, 2,  3,  4,  5,  6,  7,  8,
                                           9, 10, 11, 12, 13, 14, 15, 16};

class MemDurableOutput : public DurableOutput {
 public:
  MemDurableOutput(Bytes* committed, int* commits)
      : committed_(committed), commits_(commits) {}
  io::File* file() override { return &file_; }
  Status Commit() override {
    ++*commits_;
    *committed_ = file_.data();
    return Status::OK();
  }

 private:
  io::MemFile file_{"undo.qcow2.tmp"};
  Bytes* committed_;
  int* commits_;
};

Bytes BaseState() {
  Bytes b(kSize);
  std::mt19937 rng(5);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  uint8_t* sb = &b[1024];
  std::memset(sb, 0, 1024);
  StoreLE32(sb + 0x18, 2);  // 4 KiB blocks
  StoreLE16(sb + 0x38, 0xEF53);
  std::memcpy(sb + 0x68, kUuid.data(), 16);
  StoreLE32(sb + 0x2C, 1700000000);  // s_mtime
  StoreLE16(sb + 0x34, 3);           // s_mnt_count
  return b;
}

// An increment from `base` to `next`: the clusters that differ stored
// (as zero clusters where `next` is zero), with provenance and base guard.
Bytes MakeIncrement(const Bytes& base, const Bytes& next) {
  io::MemFile out("inc.qcow2");
  qcow2::WriterOptions wo;
  wo.cluster_bits = kBits;
  wo.virtual_size = kSize;
  wo.backing_file = "base.qcow2";
  wo.backing_format = "qcow2";
  auto w = qcow2::Qcow2Writer::Create(&out, wo);
  EXPECT_TRUE(w.ok());
  image::BaseGuard guard;
  guard.cluster_bits = kBits;
  image::SetGuardSuperblock(&base[1024], &guard);
  image::ReplacedDigest replaced(kBits);
  const Bytes zeros(kCs, 0);
  for (uint64_t c = 0; c < kSize / kCs; ++c) {
    const uint8_t* n = &next[c * kCs];
    if (std::memcmp(&base[c * kCs], n, kCs) == 0) continue;
    replaced.Add(c, &base[c * kCs]);
    if (std::memcmp(n, zeros.data(), kCs) == 0) {
      EXPECT_OK((*w)->AddZeroCluster(c));
    } else {
      EXPECT_OK((*w)->AddDataCluster(c, n));
    }
  }
  guard.clusters = replaced.clusters();
  guard.replaced = replaced.Final();
  image::Provenance p =
      image::NewProvenance(image::ImageKind::kIncremental, kSize, 1700000000);
  p.fs_uuid = kUuid;
  p.block_size = 4096;
  p.blocks_count = kSize / 4096;
  p.base_digest[0] = 1;  // the base export's digest (not read by -I)
  EXPECT_OK((*w)->SetExtension(qcow2::kExtE2qProvenance, p.Encode()));
  EXPECT_OK((*w)->SetExtension(image::kExtE2qBaseGuard, guard.Encode()));
  EXPECT_OK((*w)->Finish());
  return out.data();
}

// A changed state: a data cluster rewritten, a cluster zeroed (freed
// blocks), the superblock's write time moved.
Bytes NextState(const Bytes& base, uint8_t fill) {
  Bytes n = base;
  std::memset(&n[3 * kCs], fill, kCs);
  std::memset(&n[5 * kCs], 0, kCs);
  StoreLE32(&n[1024 + 0x30], 1700000000 + fill);
  return n;
}

struct Image {
  explicit Image(const Bytes& bytes) {
    qcow2::Qcow2Reader::OpenOptions o;
    o.open_backing = false;
    auto r = qcow2::Qcow2Reader::Open(
        std::make_unique<io::MemFile>("inc.qcow2", bytes), o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    reader = r->get();
    file = std::make_unique<qcow2::Qcow2GuestFile>(std::move(*r));
  }
  qcow2::Qcow2Reader* reader;
  std::unique_ptr<qcow2::Qcow2GuestFile> file;
};

class InstallRunTest : public ::testing::Test {
 protected:
  // -I of `inc` onto `device`, the undo file kept in `undo` (non-empty: a
  // rerun).
  Result<InstallOutcome> Run(const Bytes& inc, io::File* device, Bytes* undo,
                             bool dry_run = false) {
    Image image(inc);
    InstallRequest req;
    req.dry_run = dry_run;
    req.undo_exists = !undo->empty();
    req.create_undo = [&]() -> Result<std::unique_ptr<DurableOutput>> {
      return std::unique_ptr<DurableOutput>(
          new MemDurableOutput(undo, &commits_));
    };
    req.open_undo = [&]() -> Result<std::unique_ptr<io::File>> {
      return std::unique_ptr<io::File>(new io::MemFile("undo.qcow2", *undo));
    };
    return Install(image.file.get(), image.reader, device, req);
  }

  const Bytes base_ = BaseState();
  const Bytes next_ = NextState(base_, 0x5a);
  const Bytes inc_ = MakeIncrement(base_, next_);
  int commits_ = 0;
};

TEST_F(InstallRunTest, AppliesOntoTheBaseAndUndoes) {
  io::MemFile dev("dev.img", base_);
  Bytes undo;
  ASSERT_OK_AND_ASSIGN(InstallOutcome r, Run(inc_, &dev, &undo));
  EXPECT_FALSE(r.already_applied);
  EXPECT_EQ(r.block_size, 4096u);
  // Clusters 0, 3 and 5: 12 blocks covered; the superblock block, the 4
  // of cluster 3 and the 4 zeroed ones differ.
  EXPECT_EQ(r.candidates, 12u);
  EXPECT_EQ(r.applied.blocks, 9u);
  EXPECT_EQ(r.applied.written, 9u);
  EXPECT_TRUE(dev.data() == next_);
  EXPECT_EQ(commits_, 1);
  // A rerun with the undo file: already applied, nothing written.
  ASSERT_OK_AND_ASSIGN(InstallOutcome again, Run(inc_, &dev, &undo));
  EXPECT_TRUE(again.already_applied);
  EXPECT_EQ(again.applied.writes, 0u);
  // -U gives back the base.
  ASSERT_OK(Undo(&dev, std::make_unique<io::MemFile>("undo.qcow2", undo), false,
                 RunProgress(), nullptr)
                .status());
  EXPECT_TRUE(dev.data() == base_);
}

TEST_F(InstallRunTest, AlreadyInTheImageStateWritesNothing) {
  FaultFile dev(std::make_unique<io::MemFile>("dev.img", next_));
  Bytes undo;
  ASSERT_OK_AND_ASSIGN(InstallOutcome r, Run(inc_, &dev, &undo));
  EXPECT_TRUE(r.already_applied);
  EXPECT_EQ(dev.writes(), 0u);
  EXPECT_EQ(commits_, 0) << "no undo file for an applied image";
}

TEST_F(InstallRunTest, RefusesADeviceNotInTheBaseState) {
  struct Case {
    const char* what;
    size_t offset;  // byte changed in the base state
    const char* message;
  };
  for (const Case& c : {
           Case{"a replaced cluster written", 3 * kCs + 77,
                "content of the 3 clusters it replaces differs"},
           Case{"mounted since", 1024 + 0x34,
                "superblock differs: last mounted"},
           Case{"a block elsewhere (free count)", 1024 + 0x0C,
                "superblock differs: 64 free blocks"},
       }) {
    SCOPED_TRACE(c.what);
    Bytes state = base_;
    state[c.offset] ^= 0x40;
    io::MemFile dev("dev.img", state);
    Bytes undo;
    auto r = Run(inc_, &dev, &undo);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find("does not hold the base state of "
                                        "inc.qcow2"),
              std::string::npos);
    EXPECT_TRUE(dev.data() == state);
    EXPECT_EQ(commits_, 0);
  }
  // An increment out of order: the next one on the base.
  const Bytes third = NextState(next_, 0x33);
  const Bytes inc2 = MakeIncrement(next_, third);
  io::MemFile dev("dev.img", base_);
  Bytes undo;
  EXPECT_FALSE(Run(inc2, &dev, &undo).ok());
  EXPECT_TRUE(dev.data() == base_);
  // Another filesystem.
  Bytes other = base_;
  other[1024 + 0x68] ^= 1;
  io::MemFile dev2("dev.img", other);
  auto r = Run(inc_, &dev2, &undo);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("another filesystem"), std::string::npos);
}

TEST_F(InstallRunTest, DryRunCountsAndWritesNothing) {
  FaultFile dev(std::make_unique<io::MemFile>("dev.img", base_));
  Bytes undo;
  ASSERT_OK_AND_ASSIGN(InstallOutcome r, Run(inc_, &dev, &undo, true));
  EXPECT_TRUE(r.only_counted);
  EXPECT_EQ(r.to_write, 9u);
  EXPECT_EQ(r.to_zero, 4u);
  EXPECT_EQ(dev.writes(), 0u);
  EXPECT_EQ(commits_, 0);
}

TEST_F(InstallRunTest, KilledAtEveryDeviceWriteCompletesOnRerun) {
  io::MemFile clean("dev.img", base_);
  Bytes clean_undo;
  ASSERT_OK_AND_ASSIGN(InstallOutcome ref, Run(inc_, &clean, &clean_undo));
  const uint64_t writes = ref.applied.writes;
  ASSERT_GE(writes, 2u);
  for (uint64_t k = 0; k < writes; ++k) {
    SCOPED_TRACE("killed at device write " + std::to_string(k));
    auto* mem = new io::MemFile("dev.img", base_);
    FaultFile device{std::unique_ptr<io::File>(mem)};
    device.CrashAtWrite(k);
    Bytes undo;
    ASSERT_FALSE(Run(inc_, &device, &undo).ok());
    ASSERT_FALSE(undo.empty()) << "the undo file was not committed first";
    io::MemFile rerun("dev.img", mem->data());
    ASSERT_OK(Run(inc_, &rerun, &undo).status());
    EXPECT_TRUE(rerun.data() == next_);
    io::MemFile back("dev.img", mem->data());
    ASSERT_OK(Undo(&back, std::make_unique<io::MemFile>("undo.qcow2", undo),
                   false, RunProgress(), nullptr)
                  .status());
    EXPECT_TRUE(back.data() == base_);
  }
}

TEST_F(InstallRunTest, RefusesTheUndoFileOfAnotherInstall) {
  io::MemFile dev("dev.img", base_);
  Bytes undo;
  ASSERT_OK(Run(inc_, &dev, &undo).status());
  const Bytes other = MakeIncrement(base_, NextState(base_, 0x77));
  io::MemFile dev2("dev.img", base_);
  auto r = Run(other, &dev2, &undo);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("belongs to another install"),
            std::string::npos)
      << r.status().message();
  EXPECT_TRUE(dev2.data() == base_);
}

}  // namespace
}  // namespace e2q::snapshot
