// MBR and GPT parsing (UEFI 2.10, section 5): the MBR's four entries at
// byte 446 of sector 0; with a protective entry (type 0xEE), the GPT
// header at LBA 1 and its entry array, each checked by its CRC32.
#include "lib/io/partition_table.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "lib/base/endian.h"

namespace e2q::io {

namespace {

constexpr uint32_t kSector = 512;
constexpr uint32_t kLargeSector = 4096;
constexpr size_t kMbrEntries = 446;  // offset of the four 16-byte entries
constexpr uint8_t kProtectiveType = 0xee;
constexpr char kGptSignature[] = "EFI PART";
constexpr uint32_t kGptMinHeader = 92;
constexpr uint32_t kGptMinEntry = 128;
constexpr uint32_t kGptMaxEntry = 4096;
// More than any real table (128 entries of 128 bytes): bounds the memory a
// hostile header can ask for.
constexpr uint64_t kGptMaxArray = 4u << 20;

uint64_t LoadLE64(const uint8_t* p) {
  return uint64_t{LoadLE32(p)} | uint64_t{LoadLE32(p + 4)} << 32;
}

uint32_t Crc32(const uint8_t* p, size_t len) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; the array is bounded by kGptMaxArray.
  crc = crc32(crc, p, static_cast<uInt>(len));
  return static_cast<uint32_t>(crc);
}

std::string Hex(uint64_t v) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), kDigits[v & 15]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

bool IsExtendedType(uint8_t type) {
  return type == 0x05 || type == 0x0f || type == 0x85;
}

// More logical partitions than Linux numbers: the chain is refused as a
// loop beyond this.
constexpr uint32_t kMaxLogical = 256;
constexpr uint32_t kFirstLogical = 5;

// Fills in the byte range of `p` from its sectors, or its defect.
void SetBytes(uint32_t sector_size, Partition* p) {
  if (p->first_sector == 0) {
    p->defect = "starts at sector 0, on the partition table itself";
    return;
  }
  if (p->first_sector > UINT64_MAX / sector_size ||
      p->sectors > UINT64_MAX / sector_size ||
      p->first_sector * sector_size > UINT64_MAX - p->sectors * sector_size) {
    p->defect = "its sectors lie beyond any addressable byte";
    return;
  }
  p->offset = p->first_sector * sector_size;
  p->length = p->sectors * sector_size;
}

// Follows the chain of extended boot records of the extended partition
// `ext` (first sector, sectors): each EBR's first entry in use is a
// logical partition, its start relative to that EBR; an extended entry
// links the next EBR, its start relative to `ext`'s.  Appends partitions
// 5, 6, ...; a damaged link ends the chain and is left in
// table->logical_defect, since the partitions before it are still good.
Status ReadLogical(File* disk, uint64_t disk_size, uint64_t ext_first,
                   uint64_t ext_sectors, PartitionTable* table) {
  const uint64_t ext_end = ext_first + ext_sectors;  // 33-bit: no overflow
  std::vector<uint64_t> seen;
  uint64_t ebr = ext_first;
  uint32_t number = kFirstLogical;
  while (true) {
    const std::string at =
        "the extended boot record at sector " + std::to_string(ebr);
    if (std::find(seen.begin(), seen.end(), ebr) != seen.end() ||
        seen.size() >= kMaxLogical) {
      table->logical_defect = at + " is linked twice (a loop)";
      return Status::OK();
    }
    seen.push_back(ebr);
    if (ebr >= ext_end || (ebr + 1) * kSector > disk_size) {
      table->logical_defect =
          at + " lies beyond the end of its extended partition or the disk";
      return Status::OK();
    }
    uint8_t rec[kSector];
    E2Q_RETURN_IF_ERROR(disk->ReadAt(ebr * kSector, rec, sizeof(rec)));
    if (rec[510] != 0x55 || rec[511] != 0xaa) {
      table->logical_defect = at + " has no 0x55aa signature";
      return Status::OK();
    }
    bool have_logical = false;
    std::optional<uint64_t> next;
    for (uint32_t slot = 0; slot < 4; ++slot) {
      const uint8_t* e = rec + kMbrEntries + slot * 16;
      const uint8_t type = e[4];
      const uint32_t start = LoadLE32(e + 8);
      const uint32_t count = LoadLE32(e + 12);
      if (type == 0 || count == 0) continue;
      if (IsExtendedType(type)) {
        if (!next) next = ext_first + start;
        continue;
      }
      if (have_logical) continue;  // one logical partition per EBR
      have_logical = true;
      Partition p;
      p.number = number++;
      p.first_sector = ebr + start;
      p.sectors = count;
      if (start == 0) {
        p.defect = "starts on its own extended boot record (sector " +
                   std::to_string(ebr) + ")";
      } else if (p.first_sector + p.sectors > ext_end) {
        p.defect = "sectors " + std::to_string(p.first_sector) + " to " +
                   std::to_string(p.first_sector + p.sectors - 1) +
                   " end beyond its extended partition (sectors " +
                   std::to_string(ext_first) + " to " +
                   std::to_string(ext_end - 1) + ")";
      } else {
        SetBytes(kSector, &p);
      }
      table->partitions.push_back(std::move(p));
    }
    if (!next) return Status::OK();
    ebr = *next;
  }
}

Status ReadGpt(File* disk, uint64_t disk_size, PartitionTable* table) {
  const std::string what = disk->name() + ": partition table: GPT";
  // The header is at LBA 1: byte 512, or 4096 on a 4K-sector disk.
  uint8_t sig[8];
  uint32_t ss = 0;
  for (uint32_t candidate : {kSector, kLargeSector}) {
    if (disk_size < uint64_t{candidate} * 2) break;
    E2Q_RETURN_IF_ERROR(disk->ReadAt(candidate, sig, sizeof(sig)));
    if (std::memcmp(sig, kGptSignature, sizeof(sig)) == 0) {
      ss = candidate;
      break;
    }
  }
  if (ss == 0) {
    return Status::Corruption(what +
                              ": the MBR is protective (type 0xee) but "
                              "LBA 1 holds no GPT header (signature "
                              "'EFI PART')");
  }
  table->kind = PartitionTableKind::kGpt;
  table->sector_size = ss;
  std::vector<uint8_t> h(ss);
  E2Q_RETURN_IF_ERROR(disk->ReadAt(ss, h.data(), ss));
  const uint32_t header_size = LoadLE32(&h[12]);
  if (header_size < kGptMinHeader || header_size > ss) {
    return Status::Corruption(what + " header: size " +
                              std::to_string(header_size) + " is not between " +
                              std::to_string(kGptMinHeader) + " and " +
                              std::to_string(ss));
  }
  const uint32_t header_crc = LoadLE32(&h[16]);
  StoreLE32(&h[16], 0);
  const uint32_t computed = Crc32(h.data(), header_size);
  if (computed != header_crc) {
    return Status::Corruption(what + " header: CRC32 mismatch (recorded " +
                              Hex(header_crc) + ", computed " + Hex(computed) +
                              "): the header is damaged");
  }
  if (LoadLE64(&h[24]) != 1) {
    return Status::Corruption(what + " header: it gives its own LBA as " +
                              std::to_string(LoadLE64(&h[24])) +
                              ", not 1 (a backup header?)");
  }
  const uint64_t entries_lba = LoadLE64(&h[72]);
  const uint32_t count = LoadLE32(&h[80]);
  const uint32_t entry_size = LoadLE32(&h[84]);
  const uint32_t entries_crc = LoadLE32(&h[88]);
  if (entry_size < kGptMinEntry || entry_size > kGptMaxEntry ||
      (entry_size & (entry_size - 1)) != 0) {
    return Status::Corruption(what + " header: entry size " +
                              std::to_string(entry_size) +
                              " is not 128 times a power of two (at most " +
                              std::to_string(kGptMaxEntry) + ")");
  }
  const uint64_t array_bytes = uint64_t{count} * entry_size;
  if (array_bytes > kGptMaxArray) {
    return Status::Corruption(what + " header: " + std::to_string(count) +
                              " entries of " + std::to_string(entry_size) +
                              " bytes: more than " +
                              std::to_string(kGptMaxArray) + " bytes");
  }
  if (entries_lba < 2 || array_bytes > disk_size ||
      entries_lba > disk_size / ss ||
      entries_lba * ss > disk_size - array_bytes) {
    return Status::Corruption(what + " header: the entry array at LBA " +
                              std::to_string(entries_lba) + " (" +
                              std::to_string(array_bytes) +
                              " bytes) does not lie within the disk (" +
                              std::to_string(disk_size) + " bytes)");
  }
  std::vector<uint8_t> array(array_bytes);
  E2Q_RETURN_IF_ERROR(
      disk->ReadAt(entries_lba * ss, array.data(), array.size()));
  const uint32_t array_crc = Crc32(array.data(), array.size());
  if (array_crc != entries_crc) {
    return Status::Corruption(what +
                              " entry array: CRC32 mismatch "
                              "(recorded " +
                              Hex(entries_crc) + ", computed " +
                              Hex(array_crc) + "): the entries are damaged");
  }
  static const uint8_t kUnused[16] = {};
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* e = &array[uint64_t{i} * entry_size];
    if (std::memcmp(e, kUnused, sizeof(kUnused)) == 0) continue;
    Partition p;
    p.number = i + 1;
    const uint64_t first = LoadLE64(e + 32);
    const uint64_t last = LoadLE64(e + 40);  // inclusive
    p.first_sector = first;
    if (last < first) {
      p.defect = "its last LBA " + std::to_string(last) +
                 " is before its first LBA " + std::to_string(first);
    } else if (last == UINT64_MAX) {
      p.defect = "its sectors lie beyond any addressable byte";
    } else {
      p.sectors = last - first + 1;
      SetBytes(ss, &p);
    }
    table->partitions.push_back(std::move(p));
  }
  return Status::OK();
}

}  // namespace

const char* PartitionTableName(PartitionTableKind kind) {
  return kind == PartitionTableKind::kGpt ? "GPT" : "MBR";
}

Result<PartitionTable> ReadPartitionTable(File* disk) {
  const std::string what = disk->name() + ": partition table";
  E2Q_ASSIGN_OR_RETURN(uint64_t disk_size, disk->Size());
  if (disk_size < kSector) {
    return Status::NotFound(what + ": the disk is smaller than one sector (" +
                            std::to_string(disk_size) + " bytes)");
  }
  uint8_t mbr[kSector];
  E2Q_RETURN_IF_ERROR(disk->ReadAt(0, mbr, sizeof(mbr)));
  if (mbr[510] != 0x55 || mbr[511] != 0xaa) {
    return Status::NotFound(what +
                            ": sector 0 holds no MBR (no 0x55aa signature)");
  }
  PartitionTable table;
  std::vector<Partition> primary;
  bool protective = false;
  for (uint32_t slot = 0; slot < 4; ++slot) {
    const uint8_t* e = mbr + kMbrEntries + slot * 16;
    if (e[0] != 0x00 && e[0] != 0x80) {
      return Status::Corruption(
          what + ": MBR entry " + std::to_string(slot + 1) +
          ": boot indicator " + Hex(e[0]) +
          " is neither 0x00 nor 0x80 (a boot sector, not a partition "
          "table?)");
    }
    const uint8_t type = e[4];
    const uint32_t start = LoadLE32(e + 8);
    const uint32_t count = LoadLE32(e + 12);
    if (type == 0 || count == 0) continue;
    if (type == kProtectiveType) protective = true;
    Partition p;
    p.number = slot + 1;
    p.first_sector = start;
    p.sectors = count;
    if (IsExtendedType(type)) {
      p.defect = "an extended partition (type " + Hex(type) +
                 "): a container of logical partitions (numbered from " +
                 std::to_string(kFirstLogical) + "), not a filesystem";
    } else {
      SetBytes(kSector, &p);
    }
    primary.push_back(std::move(p));
  }
  if (protective) {
    E2Q_RETURN_IF_ERROR(ReadGpt(disk, disk_size, &table));
    return table;
  }
  table.partitions = std::move(primary);
  // Linux reads the first extended partition's chain.
  for (size_t i = 0, n = table.partitions.size(); i < n; ++i) {
    const uint8_t type =
        mbr[kMbrEntries + (table.partitions[i].number - 1) * 16 + 4];
    if (!IsExtendedType(type)) continue;
    const Partition ext = table.partitions[i];
    if (ext.first_sector == 0) {
      table.logical_defect = "the extended partition starts at sector 0";
    } else {
      E2Q_RETURN_IF_ERROR(
          ReadLogical(disk, disk_size, ext.first_sector, ext.sectors, &table));
    }
    break;
  }
  return table;
}

Result<Partition> FindPartition(File* disk, uint32_t number) {
  E2Q_ASSIGN_OR_RETURN(PartitionTable table, ReadPartitionTable(disk));
  E2Q_ASSIGN_OR_RETURN(uint64_t disk_size, disk->Size());
  const std::string what =
      disk->name() + ": partition " + std::to_string(number);
  for (const Partition& p : table.partitions) {
    if (p.number != number) continue;
    if (!p.defect.empty()) {
      return Status::Corruption(what + " (" + PartitionTableName(table.kind) +
                                "): cannot be read: " + p.defect);
    }
    if (p.offset > disk_size || p.length > disk_size - p.offset) {
      const std::string sectors =
          "sectors " + std::to_string(p.first_sector) + " to " +
          std::to_string(p.first_sector + p.sectors - 1) + " (" +
          std::to_string(table.sector_size) + " bytes each)";
      return Status::Corruption(what + " (" + PartitionTableName(table.kind) +
                                "): " + sectors +
                                " end beyond the end of the disk (" +
                                std::to_string(disk_size) + " bytes)");
    }
    return p;
  }
  if (number >= kFirstLogical && !table.logical_defect.empty()) {
    return Status::Corruption(what +
                              ": cannot be read: the chain of logical "
                              "partitions is damaged: " +
                              table.logical_defect);
  }
  std::string listed;
  for (const Partition& p : table.partitions) {
    listed += (listed.empty() ? "" : ", ") + std::to_string(p.number);
  }
  return Status::NotFound(
      what + ": no such partition (the " + PartitionTableName(table.kind) +
      (listed.empty() ? " lists none)" : " lists " + listed + ")"));
}

}  // namespace e2q::io
