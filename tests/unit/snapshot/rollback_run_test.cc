// Tests for snapshot/rollback_run: the -R sequence on a generated next3
// filesystem ($NEXT3GEN, set by `make check`; skipped without it), in
// memory.  The crash rule: the device is not written before the undo file
// is committed, and a commit that fails leaves the device untouched; a run
// killed at any device write is completed by a rerun; -U restores the
// original byte for byte.
#include "snapshot/rollback_run.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "snapshot/next3.h"
#include "tests/doubles/fault_file.h"
#include "tests/unit/test_util.h"

namespace e2q::snapshot {
namespace {

namespace stdfs = std::filesystem;
using Bytes = std::vector<uint8_t>;

// An undo file kept in memory: Commit() copies what was written to
// `committed` (or fails, with `fail_commit`).
class MemDurableOutput : public DurableOutput {
 public:
  MemDurableOutput(Bytes* committed, bool fail_commit, bool* commit_called)
      : committed_(committed), fail_(fail_commit), called_(commit_called) {}
  io::File* file() override { return &file_; }
  Status Commit() override {
    *called_ = true;
    if (fail_) return Status::FromErrno("undo.qcow2", "fsync", EIO);
    *committed_ = file_.data();
    return Status::OK();
  }

 private:
  io::MemFile file_{"undo.qcow2.tmp"};
  Bytes* committed_;
  bool fail_;
  bool* called_;
};

class RollbackRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* gen = std::getenv("NEXT3GEN");
    if (gen == nullptr || access(gen, X_OK) != 0) {
      GTEST_SKIP() << "NEXT3GEN not set";
    }
    char tmpl[] = "/tmp/e2q-rollback-run.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const std::string cmd = std::string(gen) + " --seed=11 " + dir_ +
                            "/fs.img " + dir_ + "/exp >/dev/null 2>&1";
    const int rc = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << cmd;
    std::ifstream in(dir_ + "/fs.img", std::ios::binary);
    original_.assign(std::istreambuf_iterator<char>(in), {});
    ASSERT_FALSE(original_.empty());
    // The oldest exportable snapshot: the most blocks to write.
    std::ifstream list(dir_ + "/exp/list.txt");
    std::string line;
    while (std::getline(list, line)) {
      uint32_t id;
      char state[32];
      if (std::sscanf(line.c_str(), "%u %*s %31s", &id, state) == 2 &&
          (std::string(state) == "active" || std::string(state) == "frozen")) {
        id_ = id;
      }
    }
    ASSERT_NE(id_, 0u) << "no exportable snapshot in exp/list.txt";
  }
  void TearDown() override {
    if (!dir_.empty()) stdfs::remove_all(dir_);
  }

  // -R on `device` with an in-memory undo file (`undo`: empty for a new
  // rollback, else the committed file of an earlier run).
  Result<RollbackOutcome> Run(io::File* device, Bytes* undo,
                              bool fail_commit = false,
                              bool* commit_called = nullptr) {
    bool called = false;
    if (commit_called == nullptr) commit_called = &called;
    RollbackRequest req;
    req.snapshot_id = id_;
    req.created = 1700000000;
    req.undo_exists = !undo->empty();
    req.create_undo = [&]() -> Result<std::unique_ptr<DurableOutput>> {
      return std::unique_ptr<DurableOutput>(
          new MemDurableOutput(undo, fail_commit, commit_called));
    };
    req.open_undo = [&]() -> Result<std::unique_ptr<io::File>> {
      return std::unique_ptr<io::File>(new io::MemFile("undo.qcow2", *undo));
    };
    return RollBack(device, req);
  }

  std::string dir_;
  Bytes original_;
  uint32_t id_ = 0;
};

TEST_F(RollbackRunTest, RollsBackThenUndoRestoresTheOriginal) {
  io::MemFile device("dev.img", original_);
  Bytes undo;
  ASSERT_OK_AND_ASSIGN(RollbackOutcome r, Run(&device, &undo));
  EXPECT_FALSE(r.only_counted);
  EXPECT_GT(r.to_write, 0u);
  EXPECT_EQ(r.applied.written, r.to_write);
  EXPECT_NE(device.data(), original_);
  // A rerun finds everything done.
  ASSERT_OK_AND_ASSIGN(RollbackOutcome again, Run(&device, &undo));
  EXPECT_EQ(again.applied.written, 0u);
  EXPECT_EQ(again.applied.at_target, again.applied.blocks);
  uint32_t id = 0;
  ASSERT_OK_AND_ASSIGN(
      ApplyResult u,
      Undo(&device, std::make_unique<io::MemFile>("undo.qcow2", undo),
           /*dry_run=*/false, RunProgress(), &id));
  EXPECT_EQ(id, id_);
  EXPECT_EQ(u.written, r.to_write);
  EXPECT_TRUE(device.data() == original_) << "-U did not restore the device";
}

TEST_F(RollbackRunTest, DryRunCountsAndWritesNothing) {
  io::MemFile device("dev.img", original_);
  Bytes undo;
  bool committed = false;
  RollbackRequest req;
  req.snapshot_id = id_;
  req.dry_run = true;
  req.create_undo = [&]() -> Result<std::unique_ptr<DurableOutput>> {
    return std::unique_ptr<DurableOutput>(
        new MemDurableOutput(&undo, false, &committed));
  };
  ASSERT_OK_AND_ASSIGN(RollbackOutcome r, RollBack(&device, req));
  EXPECT_TRUE(r.only_counted);
  EXPECT_GT(r.to_write, 0u);
  EXPECT_FALSE(committed);
  EXPECT_TRUE(device.data() == original_);
}

// Rule 1: a commit that fails (the undo file not durable) ends the run
// before the first device write.
TEST_F(RollbackRunTest, FailedCommitLeavesTheDeviceUntouched) {
  FaultFile device(std::make_unique<io::MemFile>("dev.img", original_));
  Bytes undo;
  bool commit_called = false;
  auto r = Run(&device, &undo, /*fail_commit=*/true, &commit_called);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("fsync"), std::string::npos)
      << r.status().ToString();
  EXPECT_TRUE(commit_called);
  EXPECT_EQ(device.writes(), 0u);
  EXPECT_EQ(device.syncs(), 0u);
}

// Killed at device write k (that write and all later ones fail), for every
// k: the undo file was committed first, and a rerun completes the same
// rollback.
TEST_F(RollbackRunTest, KilledAtEveryDeviceWriteCompletesOnRerun) {
  io::MemFile clean("dev.img", original_);
  Bytes clean_undo;
  ASSERT_OK_AND_ASSIGN(RollbackOutcome ref, Run(&clean, &clean_undo));
  const uint64_t writes = ref.applied.writes;
  ASSERT_GE(writes, 2u);
  for (uint64_t k = 0; k < writes; ++k) {
    SCOPED_TRACE("killed at device write " + std::to_string(k));
    auto* mem = new io::MemFile("dev.img", original_);
    FaultFile device{std::unique_ptr<io::File>(mem)};
    FaultFile::Fault kill;
    kill.op = FaultFile::Op::kWrite;
    kill.nth = k;
    kill.err = EIO;
    kill.sticky = true;
    device.AddFault(kill);
    Bytes undo;
    ASSERT_FALSE(Run(&device, &undo).ok());
    ASSERT_FALSE(undo.empty()) << "the undo file was not committed first";
    io::MemFile rerun("dev.img", mem->data());
    ASSERT_OK(Run(&rerun, &undo).status());
    EXPECT_TRUE(rerun.data() == clean.data())
        << "rerun did not give the same device";
  }
}

}  // namespace
}  // namespace e2q::snapshot
