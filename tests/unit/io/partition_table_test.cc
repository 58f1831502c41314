// Tests for lib/io/partition_table: MBR (with logical partitions) and GPT
// tables built byte by byte here (not by the code under test), read back;
// and each kind of damage -- signatures, boot indicators, loops and bounds
// of the logical chain, CRC32s of the GPT header and entry array,
// entry sizes and counts, LBA ranges past the disk or past 2^64 bytes --
// is refused with a message naming the disk and the defect.
#include "lib/io/partition_table.h"

#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/endian.h"
#include "tests/unit/test_util.h"

namespace e2q {
namespace {

using io::PartitionTableKind;

void StoreLE64(uint8_t* p, uint64_t v) {
  StoreLE32(p, static_cast<uint32_t>(v));
  StoreLE32(p + 4, static_cast<uint32_t>(v >> 32));
}

uint32_t Crc(const uint8_t* p, size_t n) {
  return static_cast<uint32_t>(crc32(0, p, static_cast<uInt>(n)));
}

struct MbrEntry {
  uint8_t type;
  uint32_t start;
  uint32_t count;
  uint8_t status = 0;
};

// A disk of `sectors` 512-byte sectors with an MBR holding `entries` in
// slots 1, 2, ...
std::vector<uint8_t> MbrDisk(uint64_t sectors,
                             const std::vector<MbrEntry>& entries) {
  std::vector<uint8_t> d(sectors * 512, 0);
  for (size_t i = 0; i < entries.size(); ++i) {
    uint8_t* e = &d[446 + 16 * i];
    e[0] = entries[i].status;
    e[4] = entries[i].type;
    StoreLE32(e + 8, entries[i].start);
    StoreLE32(e + 12, entries[i].count);
  }
  d[510] = 0x55;
  d[511] = 0xaa;
  return d;
}

// A GPT disk: protective MBR, header at LBA 1, 128 entries of 128 bytes
// from LBA 2.  Entries are set with Set(); Seal() computes the CRC32s.
class GptDisk {
 public:
  explicit GptDisk(uint64_t sectors, uint32_t ss = 512)
      : ss_(ss), d_(sectors * ss, 0) {
    uint8_t* e = &d_[446];
    e[4] = 0xee;
    StoreLE32(e + 8, 1);
    StoreLE32(e + 12, static_cast<uint32_t>(sectors - 1));
    d_[510] = 0x55;
    d_[511] = 0xaa;
    uint8_t* h = header();
    std::memcpy(h, "EFI PART", 8);
    StoreLE32(h + 8, 0x00010000);
    StoreLE32(h + 12, 92);
    StoreLE64(h + 24, 1);
    StoreLE64(h + 32, sectors - 1);
    StoreLE64(h + 40, 34);
    StoreLE64(h + 48, sectors - 34);
    StoreLE64(h + 72, 2);
    StoreLE32(h + 80, 128);
    StoreLE32(h + 84, 128);
  }
  uint8_t* header() { return &d_[ss_]; }
  uint8_t* entry(uint32_t index) {
    return &d_[2 * ss_ + uint64_t{index} * LoadLE32(header() + 84)];
  }
  // Entry `index` (partition index + 1) covers LBAs first..last.
  void Set(uint32_t index, uint64_t first, uint64_t last) {
    uint8_t* e = entry(index);
    for (int i = 0; i < 16; ++i) e[i] = static_cast<uint8_t>(0xa0 + i);
    StoreLE64(e + 32, first);
    StoreLE64(e + 40, last);
  }
  void SealEntries() {
    const uint64_t n =
        uint64_t{LoadLE32(header() + 80)} * LoadLE32(header() + 84);
    StoreLE32(header() + 88, Crc(entry(0), n));
  }
  void SealHeader() {
    StoreLE32(header() + 16, 0);
    StoreLE32(header() + 16, Crc(header(), LoadLE32(header() + 12)));
  }
  void Seal() {
    SealEntries();
    SealHeader();
  }
  std::unique_ptr<io::File> File() {
    return std::make_unique<io::MemFile>("disk.img", d_);
  }
  std::vector<uint8_t>& bytes() { return d_; }

 private:
  uint32_t ss_;
  std::vector<uint8_t> d_;
};

std::unique_ptr<io::File> Mem(std::vector<uint8_t> d) {
  return std::make_unique<io::MemFile>("disk.img", std::move(d));
}

// The message of `s`, which must be an error with code `code`.
std::string ErrorOf(const Status& s, Code code) {
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), code) << s.ToString();
  return s.message();
}

#define EXPECT_HAS(msg, part) \
  EXPECT_NE((msg).find(part), std::string::npos) << (msg)

TEST(PartitionTableTest, MbrPrimaryPartitions) {
  auto disk = Mem(MbrDisk(100, {{0x83, 2, 10}, {0x83, 12, 88, 0x80}}));
  ASSERT_OK_AND_ASSIGN(io::PartitionTable t,
                       io::ReadPartitionTable(disk.get()));
  EXPECT_EQ(t.kind, PartitionTableKind::kMbr);
  EXPECT_EQ(t.sector_size, 512u);
  ASSERT_EQ(t.partitions.size(), 2u);
  ASSERT_OK_AND_ASSIGN(io::Partition p1, io::FindPartition(disk.get(), 1));
  EXPECT_EQ(p1.offset, 2u * 512);
  EXPECT_EQ(p1.length, 10u * 512);
  ASSERT_OK_AND_ASSIGN(io::Partition p2, io::FindPartition(disk.get(), 2));
  EXPECT_EQ(p2.offset, 12u * 512);
  EXPECT_EQ(p2.length, 88u * 512);  // to the last byte of the disk
}

TEST(PartitionTableTest, MbrEmptySlotsKeepTheirNumbers) {
  // Slot 1 empty (type 0), slot 2 with no sectors, slot 3 in use.
  auto disk = Mem(MbrDisk(100, {{0, 2, 10}, {0x83, 5, 0}, {0x83, 20, 30}}));
  ASSERT_OK_AND_ASSIGN(io::Partition p, io::FindPartition(disk.get(), 3));
  EXPECT_EQ(p.offset, 20u * 512);
  std::string m =
      ErrorOf(io::FindPartition(disk.get(), 1).status(), Code::kNotFound);
  EXPECT_EQ(m, "disk.img: partition 1: no such partition (the MBR lists 3)");
  m = ErrorOf(io::FindPartition(disk.get(), 5).status(), Code::kNotFound);
  EXPECT_HAS(m, "partition 5: no such partition");
}

TEST(PartitionTableTest, MbrDamage) {
  std::vector<uint8_t> d = MbrDisk(100, {{0x83, 2, 10}});
  d[511] = 0;
  std::string m =
      ErrorOf(io::ReadPartitionTable(Mem(d).get()).status(), Code::kNotFound);
  EXPECT_HAS(m, "disk.img: partition table: sector 0 holds no MBR");

  m = ErrorOf(
      io::ReadPartitionTable(Mem(std::vector<uint8_t>(511)).get()).status(),
      Code::kNotFound);
  EXPECT_HAS(m, "smaller than one sector");

  d = MbrDisk(100, {{0x83, 2, 10}, {0x83, 12, 10, 0x12}});
  m = ErrorOf(io::ReadPartitionTable(Mem(d).get()).status(), Code::kCorruption);
  EXPECT_HAS(m, "MBR entry 2: boot indicator 0x12");

  // Past the end of the disk by one sector.
  auto disk = Mem(MbrDisk(100, {{0x83, 2, 10}, {0x83, 12, 89}}));
  EXPECT_TRUE(io::FindPartition(disk.get(), 1).ok());
  m = ErrorOf(io::FindPartition(disk.get(), 2).status(), Code::kCorruption);
  EXPECT_HAS(m,
             "disk.img: partition 2 (MBR): sectors 12 to 100 (512 bytes "
             "each) end beyond the end of the disk (51200 bytes)");

  // The largest 32-bit start and count: far past the disk, no overflow.
  disk = Mem(MbrDisk(100, {{0x83, UINT32_MAX, UINT32_MAX}}));
  m = ErrorOf(io::FindPartition(disk.get(), 1).status(), Code::kCorruption);
  EXPECT_HAS(m, "end beyond the end of the disk");

  disk = Mem(MbrDisk(100, {{0x83, 0, 10}}));
  m = ErrorOf(io::FindPartition(disk.get(), 1).status(), Code::kCorruption);
  EXPECT_HAS(m, "starts at sector 0");

  // An extended partition whose first record is not one.
  disk = Mem(MbrDisk(100, {{0x83, 2, 10}, {0x05, 12, 80}}));
  m = ErrorOf(io::FindPartition(disk.get(), 2).status(), Code::kCorruption);
  EXPECT_HAS(m, "an extended partition (type 0x5)");
  EXPECT_TRUE(io::FindPartition(disk.get(), 1).ok());
  m = ErrorOf(io::FindPartition(disk.get(), 5).status(), Code::kCorruption);
  EXPECT_HAS(m,
             "partition 5: cannot be read: the chain of logical "
             "partitions is damaged: the extended boot record at sector "
             "12 has no 0x55aa signature");
}

// An extended boot record at `sector` of `d`: a logical partition
// (`start` relative to the record) and a link (`next` relative to the
// extended partition, 0 for none).
void Ebr(std::vector<uint8_t>* d, uint64_t sector, uint32_t start,
         uint32_t count, uint32_t next, uint32_t next_count = 8) {
  uint8_t* r = &(*d)[sector * 512];
  std::memset(r, 0, 512);
  r[446 + 4] = 0x83;
  StoreLE32(r + 446 + 8, start);
  StoreLE32(r + 446 + 12, count);
  if (next != 0) {
    r[462 + 4] = 0x05;
    StoreLE32(r + 462 + 8, next);
    StoreLE32(r + 462 + 12, next_count);
  }
  r[510] = 0x55;
  r[511] = 0xaa;
}

// Primary 1 at 2..9, extended 2 at 10..99 holding logical 5 at 12..31 and
// logical 6 at 42..51.
std::vector<uint8_t> LogicalDisk() {
  std::vector<uint8_t> d = MbrDisk(100, {{0x83, 2, 8}, {0x05, 10, 90}});
  Ebr(&d, 10, 2, 20, 30);
  Ebr(&d, 40, 2, 10, 0);
  return d;
}

TEST(PartitionTableTest, MbrLogicalPartitions) {
  auto disk = Mem(LogicalDisk());
  ASSERT_OK_AND_ASSIGN(io::Partition p, io::FindPartition(disk.get(), 5));
  EXPECT_EQ(p.offset, 12u * 512);
  EXPECT_EQ(p.length, 20u * 512);
  ASSERT_OK_AND_ASSIGN(p, io::FindPartition(disk.get(), 6));
  EXPECT_EQ(p.offset, 42u * 512);
  EXPECT_EQ(p.length, 10u * 512);
  std::string m =
      ErrorOf(io::FindPartition(disk.get(), 7).status(), Code::kNotFound);
  EXPECT_EQ(m,
            "disk.img: partition 7: no such partition (the MBR lists 1, "
            "2, 5, 6)");
  m = ErrorOf(io::FindPartition(disk.get(), 2).status(), Code::kCorruption);
  EXPECT_HAS(m,
             "an extended partition (type 0x5): a container of logical "
             "partitions");
}

TEST(PartitionTableTest, MbrLogicalChainDamage) {
  struct Case {
    const char* what;
    void (*damage)(std::vector<uint8_t>*);
    const char* expect;  // for partition 6 (7 for the loops)
  };
  const Case cases[] = {
      {"loop", [](std::vector<uint8_t>* d) { Ebr(d, 40, 2, 10, 30); },
       "the extended boot record at sector 40 is linked twice (a loop)"},
      {"loop back to the first record",
       [](std::vector<uint8_t>* d) {
         Ebr(d, 40, 2, 10, 1);
         Ebr(d, 11, 0, 0, 0);  // no partition, but links to sector 10
         (*d)[11 * 512 + 446 + 4] = 0x05;
         StoreLE32(&(*d)[11 * 512 + 446 + 12], 8);
       },
       "the extended boot record at sector 10 is linked twice (a loop)"},
      {"no signature",
       [](std::vector<uint8_t>* d) { (*d)[40 * 512 + 511] = 0; },
       "the extended boot record at sector 40 has no 0x55aa signature"},
      {"link out of the extended partition",
       [](std::vector<uint8_t>* d) { Ebr(d, 10, 2, 20, 95); },
       "the extended boot record at sector 105 lies beyond the end"},
      {"link past 2^32 sectors",
       [](std::vector<uint8_t>* d) { Ebr(d, 10, 2, 20, UINT32_MAX); },
       "lies beyond the end of its extended partition"},
      {"logical past the extended partition",
       [](std::vector<uint8_t>* d) { Ebr(d, 40, 2, 59, 0); },
       "sectors 42 to 100 end beyond its extended partition (sectors 10 to "
       "99)"},
      {"logical on its record",
       [](std::vector<uint8_t>* d) { Ebr(d, 40, 0, 10, 0); },
       "starts on its own extended boot record (sector 40)"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> d = LogicalDisk();
    c.damage(&d);
    auto disk = Mem(d);
    // The primary partitions and logical 5 before the damage still read.
    EXPECT_TRUE(io::FindPartition(disk.get(), 1).ok()) << c.what;
    EXPECT_TRUE(io::FindPartition(disk.get(), 5).ok()) << c.what;
    const bool loop = std::strstr(c.what, "loop") != nullptr;
    Status s = io::FindPartition(disk.get(), loop ? 7 : 6).status();
    ASSERT_FALSE(s.ok()) << c.what;
    EXPECT_EQ(s.code(), Code::kCorruption) << c.what;
    EXPECT_HAS(s.message(), c.expect) << c.what;
    EXPECT_HAS(s.message(), loop ? "disk.img: partition 7: cannot be read"
                                 : "disk.img: partition 6")
        << c.what;
  }
}

TEST(PartitionTableTest, GptEntriesByIndex) {
  GptDisk g(200);
  g.Set(0, 34, 99);
  g.Set(1, 100, 165);
  g.Set(3, 166, 166);  // entry 3 unused: numbers follow the array index
  g.Seal();
  auto disk = g.File();
  ASSERT_OK_AND_ASSIGN(io::PartitionTable t,
                       io::ReadPartitionTable(disk.get()));
  EXPECT_EQ(t.kind, PartitionTableKind::kGpt);
  ASSERT_EQ(t.partitions.size(), 3u);
  ASSERT_OK_AND_ASSIGN(io::Partition p, io::FindPartition(disk.get(), 2));
  EXPECT_EQ(p.offset, 100u * 512);
  EXPECT_EQ(p.length, 66u * 512);
  ASSERT_OK_AND_ASSIGN(p, io::FindPartition(disk.get(), 4));
  EXPECT_EQ(p.offset, 166u * 512);
  EXPECT_EQ(p.length, 512u);
  std::string m =
      ErrorOf(io::FindPartition(disk.get(), 3).status(), Code::kNotFound);
  EXPECT_EQ(m,
            "disk.img: partition 3: no such partition (the GPT lists 1, "
            "2, 4)");
}

TEST(PartitionTableTest, GptWith4096ByteSectors) {
  GptDisk g(64, 4096);
  g.Set(0, 6, 63);
  g.Seal();
  auto disk = g.File();
  ASSERT_OK_AND_ASSIGN(io::PartitionTable t,
                       io::ReadPartitionTable(disk.get()));
  EXPECT_EQ(t.sector_size, 4096u);
  ASSERT_OK_AND_ASSIGN(io::Partition p, io::FindPartition(disk.get(), 1));
  EXPECT_EQ(p.offset, 6u * 4096);
  EXPECT_EQ(p.length, 58u * 4096);
}

TEST(PartitionTableTest, GptHeaderDamage) {
  auto read = [](GptDisk& g) {
    return io::ReadPartitionTable(g.File().get()).status();
  };
  {
    GptDisk g(200);
    g.Set(0, 34, 99);
    g.Seal();
    EXPECT_OK(read(g));
    g.header()[60] ^= 1;  // a byte of the disk GUID, CRC not updated
    std::string m = ErrorOf(read(g), Code::kCorruption);
    EXPECT_HAS(m, "disk.img: partition table: GPT header: CRC32 mismatch");
  }
  {
    GptDisk g(200);
    g.Set(0, 34, 99);
    g.Seal();
    g.entry(0)[33] ^= 1;  // an entry changed, array CRC not updated
    std::string m = ErrorOf(read(g), Code::kCorruption);
    EXPECT_HAS(m, "GPT entry array: CRC32 mismatch");
  }
  {
    GptDisk g(200);
    std::memcpy(g.header(), "EFI PARX", 8);
    g.Seal();
    std::string m = ErrorOf(read(g), Code::kCorruption);
    EXPECT_HAS(m, "LBA 1 holds no GPT header");
  }
  struct Field {
    size_t at;
    uint32_t width;
    uint64_t value;
    const char* expect;
  };
  for (const Field& f : std::vector<Field>{
           {12, 4, 91, "header: size 91 is not between 92 and 512"},
           {12, 4, 513, "header: size 513"},
           {24, 8, 199, "gives its own LBA as 199, not 1"},
           {84, 4, 100, "entry size 100 is not 128 times a power of two"},
           {84, 4, 8192, "entry size 8192"},
           {80, 4, UINT32_MAX, "4294967295 entries of 128 bytes"},
           {72, 8, 1, "the entry array at LBA 1"},
           {72, 8, 180,
            "the entry array at LBA 180 (16384 bytes) does not "
            "lie within the disk (102400 bytes)"},
           {72, 8, UINT64_MAX / 2, "does not lie within the disk"},
       }) {
    GptDisk g(200);
    g.Set(0, 34, 99);
    g.SealEntries();
    if (f.width == 4) {
      StoreLE32(g.header() + f.at, static_cast<uint32_t>(f.value));
    } else {
      StoreLE64(g.header() + f.at, f.value);
    }
    if (f.at != 12 || f.value <= 512) g.SealHeader();
    if (f.at == 12 && f.value > 512) {
      // The CRC cannot cover more than the sector; the size is checked
      // before it.
      StoreLE32(g.header() + 16, 0);
    }
    std::string m = ErrorOf(read(g), Code::kCorruption);
    EXPECT_HAS(m, f.expect);
  }
}

TEST(PartitionTableTest, GptEntryDamage) {
  GptDisk g(200);
  g.Set(0, 34, 99);
  g.Set(1, 150, 140);                        // last before first
  g.Set(2, 150, 200);                        // one LBA past the end
  g.Set(3, UINT64_MAX - 1, UINT64_MAX - 1);  // bytes past 2^64
  g.Set(4, 0, 10);                           // over the table
  g.Set(5, 2, UINT64_MAX);                   // a count that cannot be held
  g.Seal();
  auto disk = g.File();
  EXPECT_TRUE(io::FindPartition(disk.get(), 1).ok());
  std::string m =
      ErrorOf(io::FindPartition(disk.get(), 2).status(), Code::kCorruption);
  EXPECT_HAS(m,
             "disk.img: partition 2 (GPT): cannot be read: its last LBA "
             "140 is before its first LBA 150");
  m = ErrorOf(io::FindPartition(disk.get(), 3).status(), Code::kCorruption);
  EXPECT_HAS(m,
             "sectors 150 to 200 (512 bytes each) end beyond the end of "
             "the disk (102400 bytes)");
  m = ErrorOf(io::FindPartition(disk.get(), 4).status(), Code::kCorruption);
  EXPECT_HAS(m, "beyond any addressable byte");
  m = ErrorOf(io::FindPartition(disk.get(), 5).status(), Code::kCorruption);
  EXPECT_HAS(m, "starts at sector 0");
  m = ErrorOf(io::FindPartition(disk.get(), 6).status(), Code::kCorruption);
  EXPECT_HAS(m, "cannot be read");
}

TEST(PartitionTableTest, GptWithNoEntriesInUse) {
  GptDisk g(200);
  g.Seal();
  auto disk = g.File();
  ASSERT_OK_AND_ASSIGN(io::PartitionTable t,
                       io::ReadPartitionTable(disk.get()));
  EXPECT_TRUE(t.partitions.empty());
  std::string m =
      ErrorOf(io::FindPartition(disk.get(), 1).status(), Code::kNotFound);
  EXPECT_HAS(m, "(the GPT lists none)");
}

}  // namespace
}  // namespace e2q
