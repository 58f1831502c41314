// Reading the partition table of a disk image: the primary partitions (1
// to 4) of an MBR and the logical ones (5 and up) in the chain of extended
// boot records of its extended partition, or the entries of a GPT (with a
// protective MBR), so that
// the filesystem in partition N can be opened through a WindowFile.
// Everything read is validated (signatures, the CRC32s of the GPT header
// and entry array, entry sizes and counts, LBA ranges, overflow), and a
// damaged table is an error naming the disk and the defect.
//
// Sectors are 512 bytes; a GPT whose header is found only at 4096 bytes is
// read with 4096-byte sectors.  The backup GPT at the end of the disk is
// not consulted.
#ifndef E2Q_LIB_IO_PARTITION_TABLE_H_
#define E2Q_LIB_IO_PARTITION_TABLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "lib/base/status.h"
#include "lib/io/file.h"

namespace e2q::io {

enum class PartitionTableKind { kMbr, kGpt };

struct Partition {
  uint32_t number = 0;  // 1-based: MBR slot, or GPT entry index + 1
  uint64_t first_sector = 0;
  uint64_t sectors = 0;
  // In bytes (valid only when `defect` is empty).
  uint64_t offset = 0;
  uint64_t length = 0;
  // Why this entry cannot be read ("" if it can): its sectors overflow, it
  // starts on sector 0, it is an MBR extended partition, ...
  std::string defect;
};

struct PartitionTable {
  PartitionTableKind kind = PartitionTableKind::kMbr;
  uint32_t sector_size = 512;
  // The entries in use, by number.
  std::vector<Partition> partitions;
  // MBR: why the chain of logical partitions ended before its end ("" if
  // it did not): a loop, a record without signature or out of bounds.
  std::string logical_defect;
};

// "MBR" or "GPT".
const char* PartitionTableName(PartitionTableKind kind);

// Reads and validates the table at the start of `disk`.  Errors:
// kNotFound when sector 0 holds no MBR signature, kCorruption for a
// damaged table ("NAME: partition table: ...").
Result<PartitionTable> ReadPartitionTable(File* disk);

// The readable partition `number` of `disk`, lying within its size:
// kNotFound when the table has no such entry, kCorruption for an entry
// with a defect or one that ends past the end of the disk
// ("NAME: partition N: ...").
Result<Partition> FindPartition(File* disk, uint32_t number);

}  // namespace e2q::io

#endif  // E2Q_LIB_IO_PARTITION_TABLE_H_
