// Tests for lib/qcow2_snapshot_table.
#include "lib/qcow2/qcow2_snapshot_table.h"

#include <cstring>

#include "lib/base/endian.h"
#include "tests/unit/test_util.h"

namespace e2q::qcow2 {
namespace {

// A table of two v3 entries as `qemu-img snapshot -c first` then
// `-c second` (qemu-img 7.2) wrote it into a 1 MiB image.
const char kQemuV3Table[] =
    "000000000004000000000001000100056b059927129faf5800000000000000000000"
    "0000000000180000000000000000000000000010000000000000000000003166697273"
    "740000000000000006000000000001000100066b0599271329366000000000000000"
    "0000000000000000180000000000000000000000000010000000000000000000003273"
    "65636f6e64";

std::vector<uint8_t> FromHex(const char* hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex + i, 2), nullptr, 16)));
  }
  return out;
}

Header TableHeader(uint32_t nb, uint64_t offset = 0x10000) {
  Header h;
  h.cluster_bits = 16;
  h.size = 1 << 20;
  h.nb_snapshots = nb;
  h.snapshots_offset = offset;
  return h;
}

// A MemFile holding `table` at offset 0x10000.
io::MemFile FileWithTable(const std::vector<uint8_t>& table) {
  std::vector<uint8_t> data(0x10000, 0);
  data.insert(data.end(), table.begin(), table.end());
  return io::MemFile("img.qcow2", std::move(data));
}

TEST(Qcow2SnapshotTableTest, DecodesQemuTable) {
  io::MemFile f = FileWithTable(FromHex(kQemuV3Table));
  uint64_t bytes = 0;
  ASSERT_OK_AND_ASSIGN(auto entries,
                       DecodeSnapshotTable(&f, TableHeader(2), &bytes));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].id_str, "1");
  EXPECT_EQ(entries[0].name, "first");
  EXPECT_EQ(entries[0].l1_table_offset, 0x40000u);
  EXPECT_EQ(entries[0].l1_size, 1u);
  EXPECT_EQ(entries[0].date_sec, 0x6b059927u);
  EXPECT_EQ(entries[0].extra_data_size, 24u);
  EXPECT_EQ(entries[0].disk_size, 1u << 20);
  EXPECT_EQ(entries[0].icount, 0u);
  EXPECT_EQ(entries[1].id_str, "2");
  EXPECT_EQ(entries[1].name, "second");
  EXPECT_EQ(entries[1].l1_table_offset, 0x60000u);
  EXPECT_EQ(bytes, 72u + 71u);
  // Encoding what was decoded gives qemu's bytes back.
  ASSERT_OK_AND_ASSIGN(auto again, EncodeSnapshotTable(entries));
  EXPECT_EQ(again, FromHex(kQemuV3Table));
}

TEST(Qcow2SnapshotTableTest, RoundTripKeepsEveryField) {
  std::vector<SnapshotEntry> in(3);
  for (int i = 0; i < 3; ++i) {
    SnapshotEntry& e = in[i];
    e.l1_table_offset = 0x10000u * (i + 2);
    e.l1_size = 7 + i;
    e.id_str = std::to_string(i + 1);
    e.name = std::string(i * 5 + 1, 'a' + i);  // varied padding
    e.date_sec = 1700000000 + i;
    e.date_nsec = 123 + i;
    e.vm_clock_nsec = 99999999999ull;
    e.vm_state_size = i == 2 ? (uint64_t{5} << 32) : 4096;
    e.disk_size = 1 << 20;
    e.icount = i == 0 ? kNoIcount : 42;
  }
  in[1].unknown_extra = {1, 2, 3, 4, 5};
  ASSERT_OK_AND_ASSIGN(auto bytes, EncodeSnapshotTable(in));
  // Entry 2's 64-bit VM state does not fit the 32-bit field: 0 there.
  io::MemFile f = FileWithTable(bytes);
  ASSERT_OK_AND_ASSIGN(auto out, DecodeSnapshotTable(&f, TableHeader(3), nullptr));
  ASSERT_EQ(out.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(out[i].l1_table_offset, in[i].l1_table_offset);
    EXPECT_EQ(out[i].l1_size, in[i].l1_size);
    EXPECT_EQ(out[i].id_str, in[i].id_str);
    EXPECT_EQ(out[i].name, in[i].name);
    EXPECT_EQ(out[i].date_sec, in[i].date_sec);
    EXPECT_EQ(out[i].date_nsec, in[i].date_nsec);
    EXPECT_EQ(out[i].vm_clock_nsec, in[i].vm_clock_nsec);
    EXPECT_EQ(out[i].vm_state_size, in[i].vm_state_size);
    EXPECT_EQ(out[i].disk_size, in[i].disk_size);
    EXPECT_EQ(out[i].icount, in[i].icount);
    EXPECT_EQ(out[i].unknown_extra, in[i].unknown_extra);
    EXPECT_EQ(out[i].extra_data_size, 24u + in[i].unknown_extra.size());
  }
}

TEST(Qcow2SnapshotTableTest, EntriesStartEightByteAligned) {
  std::vector<SnapshotEntry> in(2);
  in[0].id_str = "1";
  in[0].name = "x";  // 40 + 24 + 2 = 66 bytes: next entry at 72
  in[1].id_str = "2";
  ASSERT_OK_AND_ASSIGN(auto bytes, EncodeSnapshotTable(in));
  ASSERT_EQ(bytes.size(), 72u + 65u);
  EXPECT_EQ(LoadBE16(&bytes[72 + 12]), 1u);  // id_str_size of entry 2
}

TEST(Qcow2SnapshotTableTest, ShortExtraDataTakesDefaults) {
  // An entry with no extra data (old qemu): disk size = image size.
  std::vector<uint8_t> t(40 + 1, 0);
  StoreBE16(&t[12], 1);
  StoreBE32(&t[32], 777);  // 32-bit vm_state_size
  t[40] = '1';
  io::MemFile f = FileWithTable(t);
  Header h = TableHeader(1);
  h.size = 5 << 20;
  ASSERT_OK_AND_ASSIGN(auto out, DecodeSnapshotTable(&f, h, nullptr));
  EXPECT_EQ(out[0].disk_size, 5u << 20);
  EXPECT_EQ(out[0].vm_state_size, 777u);
  EXPECT_EQ(out[0].icount, kNoIcount);
  EXPECT_EQ(out[0].id_str, "1");
}

// Decoding `table` with `nb` entries fails with kCorruption mentioning
// `what`.
void ExpectCorrupt(const std::vector<uint8_t>& table, uint32_t nb,
                   const std::string& what) {
  io::MemFile f = FileWithTable(table);
  auto r = DecodeSnapshotTable(&f, TableHeader(nb), nullptr);
  ASSERT_FALSE(r.ok()) << what;
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().message();
  EXPECT_NE(r.status().message().find("img.qcow2: snapshot table"),
            std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(what), std::string::npos)
      << r.status().message();
}

std::vector<uint8_t> OneEntry() {
  SnapshotEntry e;
  e.id_str = "1";
  e.name = "s";
  e.l1_table_offset = 0x30000;
  e.l1_size = 1;
  return EncodeSnapshotTable({e}).value();
}

TEST(Qcow2SnapshotTableTest, RejectsTooMuchExtraData) {
  auto t = OneEntry();
  StoreBE32(&t[36], 1025);
  t.resize(t.size() + 2000);
  ExpectCorrupt(t, 1, "too much extra data");
}

TEST(Qcow2SnapshotTableTest, RejectsTableRunningPastEndOfFile) {
  auto t = OneEntry();
  ExpectCorrupt(t, 2, "past end of file");
  StoreBE16(&t[14], 60000);  // name longer than the file
  ExpectCorrupt(t, 1, "past end of file");
  ExpectCorrupt(t, 65536, "past end of file");  // refused before reading
}

TEST(Qcow2SnapshotTableTest, RejectsBadL1Tables) {
  auto t = OneEntry();
  StoreBE64(&t[0], 0x30200);
  ExpectCorrupt(t, 1, "L1 table offset");
  StoreBE64(&t[0], uint64_t{1} << 56);
  ExpectCorrupt(t, 1, "L1 table offset");
  StoreBE64(&t[0], 0);
  ExpectCorrupt(t, 1, "L1 table offset");
  StoreBE64(&t[0], 0x30000);
  StoreBE32(&t[8], (32u << 20) / 8 + 1);
  ExpectCorrupt(t, 1, "L1 table too large");
}

TEST(Qcow2SnapshotTableTest, RejectsBadTableOffsetAndCount) {
  io::MemFile f = FileWithTable(OneEntry());
  auto r = DecodeSnapshotTable(&f, TableHeader(1, 0x10200), nullptr);
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  r = DecodeSnapshotTable(&f, TableHeader(65537), nullptr);
  EXPECT_EQ(r.status().code(), Code::kCorruption);
}

TEST(Qcow2SnapshotTableTest, EncodeRefusesOversizedFields) {
  SnapshotEntry e;
  e.id_str = std::string(70000, '1');
  EXPECT_EQ(EncodeSnapshotTable({e}).status().code(), Code::kInvalidArgument);
  e.id_str = "1";
  e.unknown_extra.assign(1001, 0);
  EXPECT_EQ(EncodeSnapshotTable({e}).status().code(), Code::kInvalidArgument);
  e.unknown_extra.assign(1000, 0);
  auto fits = EncodeSnapshotTable({e});
  EXPECT_OK(fits.status());
  std::vector<SnapshotEntry> many(65537);
  EXPECT_EQ(EncodeSnapshotTable(many).status().code(), Code::kInvalidArgument);
}

TEST(Qcow2SnapshotTableTest, FindPrefersIdOverName) {
  std::vector<SnapshotEntry> v(3);
  v[0].id_str = "1";
  v[0].name = "2";
  v[1].id_str = "2";
  v[1].name = "b";
  v[2].id_str = "3";
  v[2].name = "b";
  EXPECT_EQ(FindSnapshot(v, "2"), 1);
  EXPECT_EQ(FindSnapshot(v, "b"), 1);  // first of equal names
  EXPECT_EQ(FindSnapshot(v, "1"), 0);
  EXPECT_EQ(FindSnapshot(v, "c"), -1);
}

}  // namespace
}  // namespace e2q::qcow2
