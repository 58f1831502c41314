// Tests for snapshot/rollback and snapshot/undo_file: rollback and undo on
// in-memory devices, interrupted after every possible write (cleanly and
// with a torn write) and run again, and every refusal.
#include "snapshot/rollback.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "snapshot/undo_file.h"
#include "tests/doubles/fault_file.h"
#include "tests/unit/qemu_img.h"
#include "tests/unit/shell.h"
#include "tests/unit/test_util.h"

namespace e2q::snapshot {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr uint32_t kBs = 4096;
constexpr uint64_t kBlocks = 96;

// A process killed at write call `k` of the device: that write and every
// later one fail.  With `torn`, each failing write first writes the first
// half of its bytes, as a kill in the middle of a large write leaves (half
// a block when the write is one block).
FaultFile::Fault KillAtWrite(uint64_t k, bool torn) {
  FaultFile::Fault f;
  f.op = FaultFile::Op::kWrite;
  f.nth = k;
  f.err = EIO;
  f.sticky = true;
  f.torn = torn;
  return f;
}

struct Fixture {
  Bytes original, target;
};

// A device and a target that differ in scattered blocks, including a
// block that becomes all zeros and one that was all zeros; the same UUID.
Fixture MakeFixture(uint32_t seed) {
  std::mt19937 rng(seed);
  Fixture f;
  f.original.resize(kBlocks * kBs);
  for (auto& b : f.original) b = static_cast<uint8_t>(rng());
  std::fill(&f.original[40 * kBs], &f.original[41 * kBs], 0);
  f.target = f.original;
  for (uint64_t b : {0, 3, 4, 5, 17, 40, 41, 60, 61, 62, 63, 95}) {
    for (uint64_t i = 0; i < kBs; ++i) {
      if (b == 0 && i >= 1024 && i < 2048) continue;  // keep the superblock
      f.target[b * kBs + i] = static_cast<uint8_t>(rng());
    }
  }
  std::fill(&f.target[17 * kBs], &f.target[18 * kBs], 0);
  return f;
}

// Makes the undo file for rolling `f.original` back to `f.target`.
Bytes MakeUndo(const Fixture& f, uint64_t* changed = nullptr) {
  io::MemFile dev("dev", f.original), tgt("target", f.target), out("undo");
  BlockSet all;
  all.Add(0, kBlocks);
  auto diff = DiffBlocks(&dev, &tgt, all, kBs, nullptr);
  EXPECT_TRUE(diff.ok());
  if (changed) *changed = diff->size();
  UndoIdentity id;
  auto uuid = ReadFsUuid(&dev);
  EXPECT_TRUE(uuid.ok());
  id.uuid = *uuid;
  id.snapshot_id = 7;
  id.block_size = kBs;
  id.device_size = f.original.size();
  EXPECT_OK(WriteUndoFile(&dev, &tgt, *diff, &id, &out, nullptr));
  return out.data();
}

std::unique_ptr<UndoFile> OpenUndo(const Bytes& undo) {
  auto u = UndoFile::Open(std::make_unique<io::MemFile>("undo", undo));
  EXPECT_TRUE(u.ok()) << u.status().ToString();
  return u.ok() ? std::move(u).value() : nullptr;
}

Result<ApplyResult> Apply(const Bytes& undo, io::File* device, Direction dir,
                          uint64_t max_write_bytes = 2 * kBs) {
  auto u = OpenUndo(undo);
  ApplyOptions o;
  o.max_write_bytes = max_write_bytes;
  return ApplyUndo(u.get(), device, dir, o);
}

TEST(RollbackTest, RollbackThenUndo) {
  Fixture f = MakeFixture(1);
  uint64_t changed = 0;
  Bytes undo = MakeUndo(f, &changed);
  EXPECT_EQ(changed, 12u);
  auto u = OpenUndo(undo);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->blocks().size(), 12u);
  EXPECT_EQ(u->identity().snapshot_id, 7u);

  io::MemFile dev("dev", f.original);
  auto r = Apply(undo, &dev, Direction::kRollback);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->written, 12u);
  EXPECT_EQ(r->at_original, 12u);
  EXPECT_EQ(dev.data(), f.target);
  // Again: nothing to do.
  r = Apply(undo, &dev, Direction::kRollback);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->written, 0u);
  EXPECT_EQ(r->at_target, 12u);

  r = Apply(undo, &dev, Direction::kUndo);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->written, 12u);
  EXPECT_EQ(dev.data(), f.original);
}

TEST(RollbackTest, NothingToChange) {
  Fixture f = MakeFixture(7);
  f.target = f.original;
  uint64_t changed = 1;
  Bytes undo = MakeUndo(f, &changed);
  EXPECT_EQ(changed, 0u);
  io::MemFile dev("dev", f.original);
  auto r = Apply(undo, &dev, Direction::kRollback);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->blocks, 0u);
  EXPECT_EQ(r->writes, 0u);
  EXPECT_EQ(dev.data(), f.original);
}

TEST(RollbackTest, DryRunWritesNothing) {
  Fixture f = MakeFixture(2);
  Bytes undo = MakeUndo(f);
  io::MemFile dev("dev", f.original);
  auto u = OpenUndo(undo);
  ApplyOptions o;
  o.dry_run = true;
  auto r = ApplyUndo(u.get(), &dev, Direction::kRollback, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->written, 12u);
  EXPECT_EQ(r->writes, 0u);
  EXPECT_EQ(dev.data(), f.original);
}

// Interrupt after every k writes (clean and torn), then run again: the
// same final device every time, in both directions, and a rollback
// interrupted at any k can also be undone.
TEST(RollbackTest, InterruptedAtEveryWriteCompletesOnRerun) {
  Fixture f = MakeFixture(3);
  Bytes undo = MakeUndo(f);
  uint64_t total_writes = 0;
  {
    io::MemFile dev("dev", f.original);
    auto r = Apply(undo, &dev, Direction::kRollback);
    ASSERT_TRUE(r.ok());
    total_writes = r->writes;
  }
  ASSERT_GE(total_writes, 6u);
  for (bool torn : {false, true}) {
    uint64_t torn_states = 0;  // interrupted runs that left torn blocks
    for (uint64_t k = 0; k <= total_writes; ++k) {
      SCOPED_TRACE("k=" + std::to_string(k) + (torn ? " torn" : ""));
      io::MemFile dev("dev", f.original);
      FaultFile faulty(&dev);
      faulty.AddFault(KillAtWrite(k, torn));
      auto r = Apply(undo, &faulty, Direction::kRollback);
      EXPECT_EQ(r.ok(), k == total_writes);
      Bytes partial = dev.data();
      {
        io::MemFile probe("dev", partial);
        auto u = OpenUndo(undo);
        ApplyOptions o;
        o.dry_run = true;
        auto d = ApplyUndo(u.get(), &probe, Direction::kRollback, o);
        ASSERT_TRUE(d.ok()) << d.status().ToString();
        if (d->torn > 0) ++torn_states;
      }
      ASSERT_TRUE(Apply(undo, &dev, Direction::kRollback).ok());
      EXPECT_EQ(dev.data(), f.target);

      // The same partial device undone, interrupted again, undone again.
      io::MemFile dev2("dev", partial);
      FaultFile faulty2(&dev2);
      faulty2.AddFault(KillAtWrite(k / 2, torn));
      (void)Apply(undo, &faulty2, Direction::kUndo);
      auto u = Apply(undo, &dev2, Direction::kUndo);
      ASSERT_TRUE(u.ok()) << u.status().ToString();
      EXPECT_EQ(dev2.data(), f.original);
    }
    // Torn runs must really leave half-written blocks (one-block writes cut
    // in half), and clean ones never.
    if (torn) {
      EXPECT_GT(torn_states, 0u);
    } else {
      EXPECT_EQ(torn_states, 0u);
    }
  }
}

TEST(RollbackTest, RefusesForeignDeviceState) {
  Fixture f = MakeFixture(4);
  Bytes undo = MakeUndo(f);
  // A recorded block changed by something else.
  Bytes other = f.original;
  other[60 * kBs + 5] ^= 1;
  io::MemFile dev("dev", other);
  auto r = Apply(undo, &dev, Direction::kRollback);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().ToString().find("neither"), std::string::npos);
  EXPECT_EQ(dev.data(), other);
  // Another UUID: the block holding it is recorded here, so the block
  // check refuses it (as an install that rewrites the superblock needs).
  other = f.original;
  other[1024 + 0x68] ^= 1;
  io::MemFile dev2("dev", other);
  r = Apply(undo, &dev2, Direction::kRollback);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().ToString().find("neither"), std::string::npos);
  EXPECT_EQ(dev2.data(), other);
  // Another size.
  other = f.original;
  other.resize(other.size() + kBs);
  io::MemFile dev3("dev", other);
  EXPECT_FALSE(Apply(undo, &dev3, Direction::kUndo).ok());
  EXPECT_EQ(dev3.data(), other);
}

TEST(RollbackTest, RefusesDamagedUndoFile) {
  Fixture f = MakeFixture(5);
  Bytes undo = MakeUndo(f);
  // Flip a byte of saved data in every data cluster in turn: the header,
  // tables or checksums must catch each one.
  io::MemFile probe("probe");
  size_t caught = 0, tried = 0;
  for (size_t off = kBs; off + kBs <= undo.size(); off += kBs) {
    Bytes bad = undo;
    bad[off + 100] ^= 0x40;
    auto u = UndoFile::Open(std::make_unique<io::MemFile>("undo", bad));
    ++tried;
    if (!u.ok()) {
      ++caught;
      continue;
    }
    io::MemFile dev("dev", f.original);
    ApplyOptions o;
    auto r = ApplyUndo(u->get(), &dev, Direction::kRollback, o);
    if (!r.ok()) {
      ++caught;
      EXPECT_EQ(dev.data(), f.original);
    } else {
      // Only bytes nothing reads (padding of tables) may go unnoticed.
      EXPECT_EQ(dev.data(), f.target);
    }
  }
  EXPECT_GE(caught, 22u);  // every saved non-zero block, original and new
  EXPECT_GT(tried, caught);
  // Not an undo file at all.
  EXPECT_FALSE(
      UndoFile::Open(std::make_unique<io::MemFile>("x", Bytes(8192, 0))).ok());
}

TEST(RollbackTest, UndoFilePassesQemuCheck) {
  if (std::system("qemu-img --version >/dev/null 2>&1") != 0) GTEST_SKIP();
  Fixture f = MakeFixture(6);
  Bytes undo = MakeUndo(f);
  char path[] = "/tmp/e2q-undo-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, undo.data(), undo.size()), ssize_t(undo.size()));
  close(fd);
  std::string p = path;
  EXPECT_EQ(std::system(("qemu-img check -q " + p).c_str()), 0);
  EXPECT_EQ(
      std::system(
          ("qemu-img snapshot -l " + p + " | grep -q rollback-7").c_str()),
      0);
  unlink(path);
}

// A rollback of 24 blocks whose blocks may repeat: with `alike_original`,
// the original content of blocks 20-29 is ten times the same block (and
// so is their new content); with `moved`, the new content of blocks 71 and
// 72 is the original content of block 60 (moved there).  Without either,
// the same blocks change, all unlike.
Fixture MakeRepeatingFixture(bool alike_original, bool moved) {
  Fixture f = MakeFixture(9);
  std::mt19937 rng(99);
  auto fill = [&](Bytes* d, uint64_t b, bool same, uint32_t seed) {
    std::mt19937 r(same ? seed : static_cast<uint32_t>(rng()));
    for (uint64_t i = 0; i < kBs; ++i) (*d)[b * kBs + i] = uint8_t(r());
  };
  for (uint64_t b = 20; b < 30; ++b) {
    fill(&f.original, b, alike_original, 1000);
    fill(&f.target, b, alike_original, 2000);
  }
  for (uint64_t b : {71, 72}) {
    if (moved) {
      std::copy_n(&f.original[60 * kBs], kBs, &f.target[b * kBs]);
    } else {
      fill(&f.target, b, false, 0);
    }
  }
  return f;
}

// Writes `data` to a temporary file; returns its name.
std::string TempFile(const Bytes& data) {
  char path[] = "/tmp/e2q-undo-test-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, data.data(), data.size()), ssize_t(data.size()));
  close(fd);
  return path;
}

// Block `b` of the raw file `raw` equals block `b` of `want`.
bool SameBlock(const Bytes& raw, const Bytes& want, uint64_t b) {
  return raw.size() >= (b + 1) * kBs &&
         std::equal(&raw[b * kBs], &raw[(b + 1) * kBs], &want[b * kBs]);
}

// Rolls `f.original` back and forth with `undo`; then, with qemu, writes
// into the undo file's active layer at `writes` (the shared blocks) and
// checks that qemu-img check stays at 0 and that the snapshots still hold
// what was written.
void CheckSharedUndo(const Fixture& f, const Bytes& undo,
                     const std::vector<uint64_t>& writes,
                     bool has_original_snapshot) {
  io::MemFile dev("dev", f.original);
  auto r = Apply(undo, &dev, Direction::kRollback);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(dev.data(), f.target);
  r = Apply(undo, &dev, Direction::kUndo);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(dev.data(), f.original);

  if (!HaveQemuImg() || Sh("qemu-io --version >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "qemu-img or qemu-io missing";
  }
  EXPECT_EQ(QemuCheck(undo), 0);
  const std::string p = TempFile(undo);
  const std::string q = TempFile(Bytes(f.original.size()));
  EXPECT_EQ(Sh("qemu-img snapshot -l " + p + " | grep -q ' original '"),
            has_original_snapshot ? 0 : 1);
  for (uint64_t b : writes) {
    EXPECT_EQ(Sh("qemu-io -f qcow2 -c 'write -P 7 " + std::to_string(b * kBs) +
                 " 4096' " + p + " >/dev/null"),
              0);
    EXPECT_EQ(Sh("qemu-img check -q " + p), 0) << "after writing block " << b;
  }
  EXPECT_EQ(Sh("qemu-img convert -O raw -l rollback-7 " + p + " " + q), 0);
  Bytes got = ReadAll(q);
  for (uint64_t b = 0; b < kBlocks; ++b) {  // the blocks it holds
    if (SameBlock(f.original, f.target, b)) continue;
    EXPECT_TRUE(SameBlock(got, f.target, b)) << "rollback-7, block " << b;
  }
  if (has_original_snapshot) {
    EXPECT_EQ(Sh("qemu-img snapshot -a original " + p), 0);
    EXPECT_EQ(Sh("qemu-img check -q " + p), 0);
    EXPECT_EQ(Sh("qemu-img convert -O raw " + p + " " + q), 0);
    got = ReadAll(q);
    for (uint64_t b : writes) {
      EXPECT_TRUE(SameBlock(got, f.original, b)) << "original, block " << b;
    }
  }
  unlink(p.c_str());
  unlink(q.c_str());
}

TEST(RollbackTest, EqualBlocksAreStoredOnceAndQemuMayWriteTheUndoFile) {
  const Fixture shared = MakeRepeatingFixture(true, true);
  uint64_t n_shared = 0, n_plain = 0;
  const Bytes undo = MakeUndo(shared, &n_shared);
  const Bytes plain = MakeUndo(MakeRepeatingFixture(false, false), &n_plain);
  ASSERT_EQ(n_shared, n_plain);
  ASSERT_EQ(n_shared, 12u + 10u + 2u);
  // Nine target and nine original blocks of 20-29 equal an earlier one,
  // target 72 equals target 71, original 60 equals target 71; the
  // "original" snapshot costs one cluster (its L1 table).
  EXPECT_LE(undo.size() + 19 * kBs, plain.size());
  // qemu writes into all but one of the alike original blocks (the last
  // one left would have refcount 1 and no COPIED flag without the
  // "original" snapshot), and the moved one's source.
  CheckSharedUndo(shared, undo, {20, 21, 22, 23, 24, 25, 26, 27, 28, 60}, true);
}

TEST(RollbackTest, BlocksSharedOnlyAcrossContentsNeedNoSecondSnapshot) {
  const Fixture moved = MakeRepeatingFixture(false, true);
  const Bytes undo = MakeUndo(moved);
  const Bytes plain = MakeUndo(MakeRepeatingFixture(false, false));
  // Target 72 equals target 71, original 60 equals target 71.
  EXPECT_EQ(undo.size() + 2 * kBs, plain.size());
  CheckSharedUndo(moved, undo, {60}, false);
}

}  // namespace
}  // namespace e2q::snapshot
