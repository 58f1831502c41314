// Tests for lib/qcow2_l2_stream: the order rules of Take(), where entries
// land, which tables are written and when, and the share hook.  Images are
// finished through Qcow2FileBuilder and read back with Qcow2Reader and by
// parsing the L1/L2 tables; qemu-img check is the oracle where installed.
#include "lib/qcow2/qcow2_l2_stream.h"

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>

#include "lib/base/endian.h"
#include "lib/io/file.h"
#include "lib/qcow2/qcow2_file_builder.h"
#include "lib/qcow2/qcow2_format.h"
#include "lib/qcow2/qcow2_reader.h"
#include "tests/unit/qemu_img.h"
#include "tests/unit/test_util.h"

namespace e2q::qcow2 {
namespace {

constexpr uint32_t kBits = 9;  // 512-byte clusters
constexpr uint64_t kCs = 512;
constexpr uint64_t kPer = 64;              // L2 entries per table
constexpr uint64_t kGuest = 5 * kPer - 3;  // L1 of 5 slots, the last partial

std::vector<uint8_t> ClusterOf(uint64_t index) {
  std::vector<uint8_t> v(kCs);
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<uint8_t>(index * 7 + i / 8 + 1);
  }
  return v;
}

// A stream over a builder over a MemFile, with helpers to add data
// clusters and to finish the file as a one-state image.
struct Fixture {
  explicit Fixture(uint64_t l1_flags = kOflagCopied)
      : file("img"),
        builder(&file, kBits),
        stream(&builder, kGuest, l1_flags, "the disk") {}

  // Stores guest cluster `index` as a data cluster; returns its host offset.
  uint64_t AddData(uint64_t index) {
    EXPECT_OK(stream.Take(index));
    EXPECT_OK(builder.PadToCluster());
    const uint64_t host = builder.pos();
    std::vector<uint8_t> c = ClusterOf(index);
    EXPECT_OK(builder.Append(c.data(), c.size()));
    EXPECT_OK(builder.Reference(host, builder.pos()));
    stream.Set(index, host | kOflagCopied);
    hosts[index] = host;
    return host;
  }

  // Appends the L1 table, refcounts and header.
  Status Finish() {
    E2Q_RETURN_IF_ERROR(stream.Flush());
    E2Q_ASSIGN_OR_RETURN(uint64_t l1_offset, builder.AppendTable(stream.l1()));
    Header h;
    h.version = 3;
    h.cluster_bits = kBits;
    h.size = kGuest * kCs;
    h.l1_size = static_cast<uint32_t>(stream.l1().size());
    h.l1_table_offset = l1_offset;
    h.refcount_order = Qcow2FileBuilder::kRefcountOrder;
    return builder.Finish(&h);
  }

  // The L2 entry of guest cluster `index` as stored in the file.
  uint64_t StoredEntry(uint64_t index) {
    const uint64_t table = stream.l1()[index / kPer] & kL1OffsetMask;
    return LoadBE64(&file.data()[table + index % kPer * 8]);
  }

  io::MemFile file;
  Qcow2FileBuilder builder;
  Qcow2L2Stream stream;
  std::map<uint64_t, uint64_t> hosts;
};


TEST(Qcow2L2StreamTest, Geometry) {
  Fixture t;
  EXPECT_EQ(t.stream.l2_entries(), kPer);
  EXPECT_EQ(t.stream.guest_clusters(), kGuest);
  EXPECT_EQ(t.stream.l1().size(), 5u);
  EXPECT_FALSE(t.stream.any_taken());
}

TEST(Qcow2L2StreamTest, AscendingIndexesAcrossTables) {
  Fixture t;
  // Slots 0, 1, 2 and 4; slot 3 gets no entry.
  const uint64_t indexes[] = {0, 5, 63, 64, 130, 4 * kPer, kGuest - 1};
  for (uint64_t i : indexes) t.AddData(i);
  EXPECT_TRUE(t.stream.any_taken());
  ASSERT_OK(t.Finish());
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(t.file.data()), 0);
  }

  const std::vector<uint64_t>& l1 = t.stream.l1();
  for (uint64_t slot : {0, 1, 2, 4}) {
    EXPECT_NE(l1[slot] & kL1OffsetMask, 0u) << slot;
    EXPECT_EQ(l1[slot] & ~kL1OffsetMask, kOflagCopied) << slot;
  }
  EXPECT_EQ(l1[3], 0u);
  // Every entry in its slot, the rest of each table zero.
  for (uint64_t slot : {0, 1, 2, 4}) {
    for (uint64_t k = 0; k < kPer && slot * kPer + k < kGuest; ++k) {
      const uint64_t i = slot * kPer + k;
      auto it = t.hosts.find(i);
      const uint64_t want = it == t.hosts.end() ? 0 : it->second | kOflagCopied;
      EXPECT_EQ(t.StoredEntry(i), want) << "guest cluster " << i;
    }
  }

  // The reader sees each cluster's data at its guest offset, zeros elsewhere.
  ASSERT_OK_AND_ASSIGN(auto r, Qcow2Reader::Open(std::make_unique<io::MemFile>(
                                   "img", t.file.data())));
  std::vector<uint8_t> buf(kCs), zero(kCs, 0);
  for (uint64_t i = 0; i < kGuest; ++i) {
    ASSERT_OK(r->Read(i * kCs, buf.data(), buf.size()));
    if (t.hosts.count(i)) {
      EXPECT_EQ(buf, ClusterOf(i)) << i;
    } else {
      EXPECT_EQ(buf, zero) << i;
    }
  }
}

TEST(Qcow2L2StreamTest, TableIsWrittenWhenTheGuestLeavesItsRange) {
  Fixture t;
  t.AddData(3);
  t.AddData(kPer - 1);
  EXPECT_EQ(t.stream.l1()[0], 0u);  // still in memory
  t.AddData(kPer + 2);
  EXPECT_NE(t.stream.l1()[0], 0u);  // appended on leaving slot 0
  EXPECT_EQ(t.stream.l1()[1], 0u);
  ASSERT_OK(t.stream.Flush());
  EXPECT_NE(t.stream.l1()[1], 0u);
  const uint64_t pos = t.builder.pos();
  ASSERT_OK(t.stream.Flush());  // nothing left to write
  EXPECT_EQ(t.builder.pos(), pos);
}

TEST(Qcow2L2StreamTest, KeptBackTablesAreAppendedTogetherAndStartEmpty) {
  Fixture t;
  // Room for two finished tables: the third completed one writes them all.
  t.stream.set_pending_bytes(3 * kPer * 8);
  for (uint64_t k = 0; k < kPer; ++k) t.AddData(k);  // slot 0 full
  t.AddData(kPer + 1);                               // slot 1: one entry
  EXPECT_EQ(t.stream.l1()[0], 0u);
  t.AddData(2 * kPer + 5);  // completes slot 1: two kept back
  EXPECT_EQ(t.stream.l1()[0], 0u);
  t.AddData(3 * kPer + 7);  // completes slot 2: written with the others
  EXPECT_NE(t.stream.l1()[0], 0u);
  EXPECT_NE(t.stream.l1()[2], 0u);
  EXPECT_EQ(t.stream.l1()[3], 0u);
  // Slot 3's and 4's tables reuse the vectors of slots 0 and 1: what those
  // held must not show through.
  t.AddData(4 * kPer);
  ASSERT_OK(t.stream.Close());
  ASSERT_OK(t.Finish());
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(t.file.data()), 0);
  }
  for (uint64_t i = 0; i < kGuest; ++i) {
    auto it = t.hosts.find(i);
    const uint64_t want = it == t.hosts.end() ? 0 : it->second | kOflagCopied;
    if (t.stream.l1()[i / kPer] == 0) {
      EXPECT_EQ(want, 0u) << i;
      continue;
    }
    EXPECT_EQ(t.StoredEntry(i), want) << "guest cluster " << i;
  }
}

TEST(Qcow2L2StreamTest, BackwardsIndexIsRefused) {
  Fixture t;
  t.AddData(10);
  Status s = t.stream.Take(10);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "img: qcow2: guest cluster 10 out of order or past the end of "
            "the disk");
  s = t.stream.Take(4);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("guest cluster 4 out of order"),
            std::string::npos);
  // A run counts up to its last cluster.
  ASSERT_OK(t.stream.Take(20, 5));
  EXPECT_EQ(t.stream.Take(24).code(), Code::kInvalidArgument);
  // Refusals change nothing: the next index is still accepted.
  EXPECT_OK(t.stream.Take(25));
}

TEST(Qcow2L2StreamTest, IndexBeyondTheL1RangeIsRefused) {
  Fixture t;
  Status s = t.stream.Take(kGuest);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "img: qcow2: guest cluster " + std::to_string(kGuest) +
                             " out of order or past the end of the disk");
  EXPECT_EQ(t.stream.Take(UINT64_MAX).code(), Code::kInvalidArgument);
  s = t.stream.Take(kGuest - 1, 2);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "img: qcow2: guest clusters past the end of the disk");
  EXPECT_EQ(t.stream.Take(0, 0).code(), Code::kInvalidArgument);
  EXPECT_FALSE(t.stream.any_taken());
}

TEST(Qcow2L2StreamTest, RunAcrossTwoTablesIsRefused) {
  Fixture t;
  Status s = t.stream.Take(kPer - 2, 3);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("span two L2 tables"), std::string::npos);
  EXPECT_OK(t.stream.Take(kPer - 2, 2));
}

TEST(Qcow2L2StreamTest, NothingIsWrittenForSlotsWithoutEntries) {
  Fixture empty;
  const uint64_t start = empty.builder.pos();
  ASSERT_OK(empty.stream.Flush());
  EXPECT_EQ(empty.builder.pos(), start);
  for (uint64_t e : empty.stream.l1()) EXPECT_EQ(e, 0u);
  // Taken but never set: still no table.
  ASSERT_OK(empty.stream.Take(3));
  ASSERT_OK(empty.stream.Take(kPer + 3));
  ASSERT_OK(empty.stream.Flush());
  EXPECT_EQ(empty.builder.pos(), start);
  ASSERT_OK(empty.Finish());
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(empty.file.data()), 0);
  }

  // One entry in slot 2: one data cluster and one table, nothing else.
  Fixture one;
  one.AddData(2 * kPer + 9);
  ASSERT_OK(one.stream.Flush());
  EXPECT_EQ(one.builder.pos(), start + 2 * kCs);
  EXPECT_EQ(one.stream.l1()[0], 0u);
  EXPECT_EQ(one.stream.l1()[1], 0u);
  EXPECT_EQ(one.stream.l1()[2], (start + kCs) | kOflagCopied);
  EXPECT_EQ(one.stream.l1()[3], 0u);
}

TEST(Qcow2L2StreamTest, ZeroAndOtherEntriesAreStoredAsGiven) {
  // No COPIED on the tables (qemu-img check would rightly flag a table of
  // refcount 1 without it; the multi writer sets it later where due).
  Fixture t(0);
  ASSERT_OK(t.stream.Take(7));
  t.stream.Set(7, kOflagZero);
  t.AddData(8);
  ASSERT_OK(t.Finish());
  EXPECT_EQ(t.stream.l1()[0] & ~kL1OffsetMask, 0u);
  EXPECT_EQ(t.StoredEntry(7), kOflagZero);
  EXPECT_EQ(t.StoredEntry(8), t.hosts[8] | kOflagCopied);
}

TEST(Qcow2L2StreamTest, ShareHookStandsInForEqualTables) {
  Fixture t;
  std::vector<std::pair<uint64_t, std::vector<uint64_t>>> asked;
  const uint64_t kShared = 0x12345600;  // any cluster-aligned offset
  t.stream.set_share_hook(
      [&](uint64_t l1_index,
          const std::vector<uint64_t>& l2) -> Result<uint64_t> {
        asked.emplace_back(l1_index, l2);
        return l1_index == 1 ? kShared : 0;
      });
  t.AddData(1);
  t.AddData(kPer + 1);
  const uint64_t before = t.builder.pos();
  t.AddData(2 * kPer);  // completes slot 1: shared, nothing appended
  EXPECT_EQ(t.builder.pos(), before + kCs);  // only the data cluster
  ASSERT_OK(t.stream.Flush());

  ASSERT_EQ(asked.size(), 3u);
  EXPECT_EQ(asked[0].first, 0u);
  EXPECT_EQ(asked[0].second[1], t.hosts[1] | kOflagCopied);
  EXPECT_EQ(asked[1].first, 1u);
  EXPECT_EQ(asked[1].second[1], t.hosts[kPer + 1] | kOflagCopied);
  EXPECT_EQ(asked[1].second[0], 0u);
  EXPECT_EQ(asked[2].first, 2u);
  EXPECT_EQ(t.stream.l1()[1], kShared);  // as the hook said, no flag added
  EXPECT_EQ(t.stream.l1()[0] & ~kL1OffsetMask, kOflagCopied);
  EXPECT_EQ(t.stream.l1()[2] & ~kL1OffsetMask, kOflagCopied);
}

TEST(Qcow2L2StreamTest, ShareHookErrorStops) {
  Fixture t;
  t.stream.set_share_hook(
      [](uint64_t, const std::vector<uint64_t>&) -> Result<uint64_t> {
        return Status::IOError("prev: read: boom");
      });
  t.AddData(0);
  EXPECT_EQ(t.stream.Take(kPer).code(), Code::kIOError);
  EXPECT_EQ(t.stream.Flush().code(), Code::kIOError);
}

TEST(Qcow2L2StreamTest, TakeL1MovesTheTable) {
  Fixture t;
  t.AddData(kPer);
  ASSERT_OK(t.stream.Flush());
  std::vector<uint64_t> l1 = t.stream.TakeL1();
  ASSERT_EQ(l1.size(), 5u);
  EXPECT_EQ(l1[0], 0u);
  EXPECT_NE(l1[1], 0u);
}

}  // namespace
}  // namespace e2q::qcow2
