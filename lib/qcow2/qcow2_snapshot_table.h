// The qcow2 internal snapshot table (qcow2.rst "Snapshots"; doc/qcow2-format.md
// "What qemu checks"): a codec between the on-disk entries and SnapshotEntry
// values.  The reader decodes the table to select a snapshot's L1 table; the
// writer encodes one when it stores internal snapshots.  Decoding applies
// qemu's limits, so a table this code accepts is one qemu can open.
#ifndef E2Q_LIB_QCOW2_QCOW2_SNAPSHOT_TABLE_H_
#define E2Q_LIB_QCOW2_QCOW2_SNAPSHOT_TABLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "lib/base/status.h"
#include "lib/io/file.h"
#include "lib/qcow2/qcow2_format.h"

namespace e2q::qcow2 {

// Fixed part of an entry, and the extra data qemu 7.2 understands
// (vm_state_size_large, disk_size, icount).
constexpr uint32_t kSnapshotHeaderBytes = 40;
constexpr uint32_t kSnapshotKnownExtraBytes = 24;
// An entry's extra data must reach disk_size in a v3 image, or
// `qemu-img check` calls the entry incomplete.
constexpr uint32_t kSnapshotMinV3ExtraBytes = 16;
constexpr uint64_t kNoIcount = UINT64_MAX;  // icount when absent (-1)

struct SnapshotEntry {
  uint64_t l1_table_offset = 0;  // cluster-aligned
  uint32_t l1_size = 0;          // entries
  std::string id_str;            // unique ID ("1", "2", ...)
  std::string name;              // need not be unique
  uint32_t date_sec = 0;
  uint32_t date_nsec = 0;
  uint64_t vm_clock_nsec = 0;
  // VM state bytes: the 64-bit extra field when present, else the 32-bit
  // header field.
  uint64_t vm_state_size = 0;
  // Virtual disk size when the snapshot was taken; when the entry has no
  // such field, the image's current size (as qemu assumes).
  uint64_t disk_size = 0;
  uint64_t icount = kNoIcount;  // record/replay instruction count
  // Extra data bytes the entry carried on disk (decoding only; Encode
  // always writes kSnapshotKnownExtraBytes + unknown_extra.size()).
  uint32_t extra_data_size = 0;
  // Extra data past the known fields, preserved as qemu does.
  std::vector<uint8_t> unknown_extra;
};

// Reads and validates the `header.nb_snapshots` entries of the table at
// `header.snapshots_offset` in `file`.  Checks what qemu checks when it
// opens the image (extra data <= 1024 bytes, table <= 64 MiB) and also that
// every entry's L1 table is cluster-aligned, below 2^56 and at most 32 MiB,
// so a later snapshot load cannot fail on those.  `*table_bytes` (optional)
// receives the table's length.  Errors are kCorruption naming file.name().
Result<std::vector<SnapshotEntry>> DecodeSnapshotTable(io::File* file,
                                                       const Header& header,
                                                       uint64_t* table_bytes);

// Serialises `entries` as a table image (not padded to a cluster).  Each
// entry starts 8-byte aligned and carries 24 bytes of known extra data plus
// its unknown_extra, as qemu 7.2 writes for both versions.  Fails with
// kInvalidArgument on more than 65536 entries, an ID or name over 65535
// bytes, too much extra data, or a table over 64 MiB.
Result<std::vector<uint8_t>> EncodeSnapshotTable(
    const std::vector<SnapshotEntry>& entries);

// Index of the snapshot whose ID is `id_or_name`, else of the first whose
// name is, else -1 (the lookup order of `qemu-img convert -l`).
int FindSnapshot(const std::vector<SnapshotEntry>& entries,
                 const std::string& id_or_name);

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_QCOW2_SNAPSHOT_TABLE_H_
