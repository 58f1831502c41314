// Tests for snapshot/next3_list: walking and validating the on-disk
// snapshot list (newest first, states, failed takes, every kind of damaged
// entry, cycles) with inodes served from a table.
#include "snapshot/next3_list.h"

#include <map>
#include <string>

#include "tests/unit/test_util.h"

namespace e2q::snapshot {
namespace {

constexpr uint64_t kFsBlocks = 100000;

Next3Inode Snap(uint32_t id, uint32_t next, uint64_t blocks = 8192,
                uint32_t extra_flags = 0) {
  Next3Inode i;
  i.mode = kModeRegular | 0600;
  i.links_count = 1;
  i.flags = kSnapfileFl | 0x40 | extra_flags;
  i.generation = id;
  i.next_snapshot = next;
  i.size = (blocks + kSnapshotBlockOffset) * kBlockSize;
  i.block[kDindSlot] = 500 + id;
  return i;
}

class Next3ListTest : public ::testing::Test {
 protected:
  ListHead Head(uint32_t list, uint32_t active) {
    ListHead h;
    h.list = list;
    h.active = active;
    h.inodes_count = 2048;
    h.first_ino = 11;
    h.fs_blocks_count = kFsBlocks;
    return h;
  }
  Result<std::vector<ListedSnapshot>> Walk(const ListHead& head) {
    return ReadSnapshotList("fs.img", head, [this](uint32_t ino) {
      ++reads_;
      auto it = inodes_.find(ino);
      if (it == inodes_.end()) return Result<Next3Inode>(Next3Inode());
      return Result<Next3Inode>(it->second);
    });
  }
  // Walks and expects kCorruption whose message contains `what`.
  void ExpectCorrupt(const ListHead& head, const std::string& what) {
    Result<std::vector<ListedSnapshot>> r = Walk(head);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), Code::kCorruption);
    EXPECT_NE(r.status().message().find(what), std::string::npos)
        << r.status().message();
    EXPECT_EQ(r.status().message().rfind("fs.img: snapshot list: ", 0), 0u)
        << r.status().message();
  }

  std::map<uint32_t, Next3Inode> inodes_;
  int reads_ = 0;
};

TEST_F(Next3ListTest, NoSnapshotsIsAnEmptyList) {
  ASSERT_OK_AND_ASSIGN(auto list, Walk(Head(0, 0)));
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(reads_, 0);
}

TEST_F(Next3ListTest, WalksNewestFirstWithStates) {
  inodes_[13] = Snap(5, 12, 8192);
  inodes_[12] = Snap(3, 14, 8000, kSnapfileDeletedFl);
  inodes_[14] = Snap(2, 15, 7000, kSnapfileDeletedFl | kSnapfileShrunkFl);
  inodes_[15] = Snap(1, 0, 6000);
  ASSERT_OK_AND_ASSIGN(auto list, Walk(Head(13, 13)));
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[0].info.id, 5u);
  EXPECT_EQ(list[0].info.inode, 13u);
  EXPECT_EQ(list[0].info.state, SnapshotState::kActive);
  EXPECT_EQ(list[0].info.blocks_count, 8192u);
  EXPECT_EQ(list[0].info.path, "-");
  EXPECT_EQ(list[1].info.state, SnapshotState::kDeleted);
  EXPECT_EQ(list[1].info.blocks_count, 8000u);
  EXPECT_EQ(list[2].info.state, SnapshotState::kShrunk);
  EXPECT_EQ(list[3].info.id, 1u);
  EXPECT_EQ(list[3].info.state, SnapshotState::kFrozen);
  EXPECT_EQ(list[3].inode.block[kDindSlot], 501u);
  EXPECT_STREQ(StateName(SnapshotState::kActive), "active");
  EXPECT_STREQ(StateName(SnapshotState::kFrozen), "frozen");
  EXPECT_STREQ(StateName(SnapshotState::kDeleted), "deleted");
  EXPECT_STREQ(StateName(SnapshotState::kShrunk), "shrunk");
}

TEST_F(Next3ListTest, StartsAtTheActiveSnapshotWhenTheListIsZero) {
  inodes_[13] = Snap(5, 12);
  inodes_[12] = Snap(3, 0);
  ASSERT_OK_AND_ASSIGN(auto list, Walk(Head(0, 13)));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].info.state, SnapshotState::kActive);
}

TEST_F(Next3ListTest, FailedTakesBeforeTheActiveSnapshotAreLeftOut) {
  inodes_[20] = Snap(7, 13);  // a take that never became active
  inodes_[13] = Snap(5, 12);
  inodes_[12] = Snap(3, 0);
  ASSERT_OK_AND_ASSIGN(auto list, Walk(Head(20, 13)));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].info.inode, 13u);
  EXPECT_EQ(list[0].info.state, SnapshotState::kActive);
}

TEST_F(Next3ListTest, ACycleIsCorruption) {
  inodes_[13] = Snap(5, 12);
  inodes_[12] = Snap(3, 13);
  ExpectCorrupt(Head(13, 13), "names inode 13 again: the list has a cycle");
  inodes_[13] = Snap(5, 13);
  ExpectCorrupt(Head(13, 13), "cycle");
}

TEST_F(Next3ListTest, IdsMustDecrease) {
  // A cycle through the same ID would be caught as a cycle; a list whose
  // IDs go up is damaged even without one.
  inodes_[13] = Snap(5, 12);
  inodes_[12] = Snap(6, 0);
  ExpectCorrupt(Head(13, 13), "inode 12: snapshot ID 6 is not below the ID 5");
  inodes_[12] = Snap(5, 0);
  ExpectCorrupt(Head(13, 13), "snapshot ID 5 is not below");
}

TEST_F(Next3ListTest, InodeNumbersMustBeUsableInodes) {
  inodes_[13] = Snap(5, 99999);
  ExpectCorrupt(Head(13, 13),
                "i_next_snapshot of inode 13 names inode 99999, outside the "
                "usable inodes 11..2048");
  inodes_[13] = Snap(5, 7);  // the resize inode
  ExpectCorrupt(Head(13, 13), "names inode 7, outside");
  ExpectCorrupt(Head(3000, 3000), "s_snapshot_list names inode 3000");
}

TEST_F(Next3ListTest, EntryMustBeARegularSnapshotFile) {
  Next3Inode dir = Snap(5, 0);
  dir.mode = kModeDirectory | 0755;
  inodes_[13] = dir;
  ExpectCorrupt(Head(13, 13), "inode 13: not a regular file (mode 040755)");
  Next3Inode plain = Snap(5, 0);
  plain.flags = 0;
  inodes_[13] = plain;
  ExpectCorrupt(Head(13, 13), "inode 13: not a snapshot file");
  inodes_.erase(13);  // reads as an all-zero (free) inode
  ExpectCorrupt(Head(13, 13), "inode 13: not a regular file (mode 00)");
}

TEST_F(Next3ListTest, EntryFieldsAreValidated) {
  Next3Inode i = Snap(5, 0);
  i.dtime = 1234;
  inodes_[13] = i;
  ExpectCorrupt(Head(13, 13), "deleted inode (dtime 1234)");

  i = Snap(5, 0);
  i.flags |= kExtentsFl;
  inodes_[13] = i;
  ExpectCorrupt(Head(13, 13), "extent-mapped");

  i = Snap(0, 0);
  inodes_[13] = i;
  ExpectCorrupt(Head(13, 13), "snapshot ID (i_generation) is 0");

  i = Snap(5, 0);
  i.block[kIndSlot] = 77;
  inodes_[13] = i;
  ExpectCorrupt(Head(13, 13), "i_block[12] is 77 (unused by snapshot files");

  i = Snap(5, 0);
  i.block[4] = 1;
  inodes_[13] = i;
  ExpectCorrupt(Head(13, 13), "i_block[4] is 1");

  i = Snap(5, 0);
  i.size = 4096 * 1000;  // less than the 1036-block offset
  inodes_[13] = i;
  ExpectCorrupt(Head(13, 13), "size 4096000 is not (blocks + 1036) * 4096");

  i = Snap(5, 0);
  i.size += 1;
  inodes_[13] = i;
  ExpectCorrupt(Head(13, 13), "is not (blocks + 1036) * 4096");

  i = Snap(5, 0);
  i.block[kTindSlot] = kFsBlocks;
  inodes_[13] = i;
  ExpectCorrupt(Head(13, 13),
                "i_block[14] is 100000, past the end of the "
                "filesystem (100000 blocks)");

  i = Snap(5, 0);
  i.block[1] = 4000000;
  inodes_[13] = i;
  ExpectCorrupt(Head(13, 13), "i_block[1] is 4000000, past the end");

  inodes_[13] = Snap(5, 0, kFsBlocks + 1);
  ExpectCorrupt(Head(13, 13), "more than the filesystem's 100000");
}

TEST_F(Next3ListTest, RawExtraTindSlotsAreAllowed) {
  Next3Inode i = Snap(5, 0);
  i.block[0] = 900;
  i.block[1] = 901;
  i.block[2] = 902;
  i.block[kTindSlot] = 903;
  inodes_[13] = i;
  ASSERT_OK_AND_ASSIGN(auto list, Walk(Head(13, 13)));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].inode.block[0], 900u);
}

TEST_F(Next3ListTest, TheActiveSnapshotMustBeOnTheList) {
  inodes_[13] = Snap(5, 12);
  inodes_[12] = Snap(3, 0);
  ExpectCorrupt(Head(13, 14),
                "the active snapshot (s_snapshot_inum 14) is not on the list");
  ExpectCorrupt(Head(13, 0), "s_snapshot_inum (the active snapshot) is 0");
}

TEST_F(Next3ListTest, ReaderErrorsNameTheInode) {
  Result<std::vector<ListedSnapshot>> r =
      ReadSnapshotList("fs.img", Head(13, 13), [](uint32_t) {
        return Result<Next3Inode>(Status::IOError("dev: read: EIO"));
      });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIOError);
  EXPECT_NE(r.status().message().find("inode 13"), std::string::npos)
      << r.status().message();
}

TEST_F(Next3ListTest, StateOfUsesFlagsThenTheActiveInode) {
  Next3Inode i = Snap(1, 0);
  EXPECT_EQ(StateOf(i, 12, 12), SnapshotState::kActive);
  EXPECT_EQ(StateOf(i, 12, 13), SnapshotState::kFrozen);
  i.flags |= kSnapfileDeletedFl;
  EXPECT_EQ(StateOf(i, 12, 12), SnapshotState::kDeleted);
  i.flags |= kSnapfileShrunkFl;
  EXPECT_EQ(StateOf(i, 12, 13), SnapshotState::kShrunk);
}

}  // namespace
}  // namespace e2q::snapshot
