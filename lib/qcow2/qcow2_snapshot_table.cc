// qcow2 snapshot table codec.
#include "lib/qcow2/qcow2_snapshot_table.h"

#include <algorithm>
#include <cstring>

#include "lib/base/endian.h"

namespace e2q::qcow2 {

namespace {

uint64_t Align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

// Sequential reader over the table with a bounded buffer, so that a table
// of many small entries costs a few large reads, not three per entry.
class TableCursor {
 public:
  TableCursor(io::File* file, uint64_t start) : file_(file), pos_(start) {}
  uint64_t pos() const { return pos_; }
  void AlignTo8() { pos_ = Align8(pos_); }

  // Copies the next `n` bytes to `out` (may be null to skip them).
  Status Read(uint8_t* out, size_t n) {
    while (n > 0) {
      if (pos_ < buf_start_ || pos_ >= buf_start_ + buf_len_) {
        E2Q_RETURN_IF_ERROR(Fill());
      }
      size_t off = static_cast<size_t>(pos_ - buf_start_);
      size_t k = std::min(n, buf_len_ - off);
      if (out != nullptr) {
        std::memcpy(out, buf_.data() + off, k);
        out += k;
      }
      pos_ += k;
      n -= k;
    }
    return Status::OK();
  }

 private:
  static constexpr size_t kChunk = 64 * 1024;
  Status Fill() {
    buf_.resize(kChunk);
    E2Q_ASSIGN_OR_RETURN(size_t got, file_->ReadSome(pos_, buf_.data(), kChunk));
    if (got == 0) {
      return Status::Corruption(file_->name() +
                                ": snapshot table: runs past end of file");
    }
    buf_start_ = pos_;
    buf_len_ = got;
    return Status::OK();
  }

  io::File* file_;
  uint64_t pos_;
  std::vector<uint8_t> buf_;
  uint64_t buf_start_ = 0;
  size_t buf_len_ = 0;
};

}  // namespace

Result<std::vector<SnapshotEntry>> DecodeSnapshotTable(io::File* file,
                                                       const Header& header,
                                                       uint64_t* table_bytes) {
  std::vector<SnapshotEntry> entries;
  if (table_bytes != nullptr) *table_bytes = 0;
  if (header.nb_snapshots == 0) return entries;
  const std::string what = file->name() + ": snapshot table: ";
  if (header.nb_snapshots > kMaxSnapshots) {
    return Status::Corruption(what + "more than 65536 snapshots");
  }
  const uint64_t cs = header.cluster_size();
  const uint64_t start = header.snapshots_offset;
  if (start == 0 || start % cs != 0 || start >= kMaxHostOffset) {
    return Status::Corruption(what + "offset " + std::to_string(start) +
                              " invalid");
  }
  // Each entry takes at least 40 bytes, so the count alone may already
  // exceed what the file can hold; refuse before reserving memory.
  E2Q_ASSIGN_OR_RETURN(uint64_t file_size, file->Size());
  if (start > file_size ||
      uint64_t{header.nb_snapshots} * kSnapshotHeaderBytes >
          file_size - start) {
    return Status::Corruption(what + "runs past end of file");
  }
  entries.reserve(header.nb_snapshots);
  TableCursor cur(file, start);
  for (uint32_t i = 0; i < header.nb_snapshots; ++i) {
    const std::string ewhat = what + "entry " + std::to_string(i) + ": ";
    cur.AlignTo8();
    uint8_t h[kSnapshotHeaderBytes];
    E2Q_RETURN_IF_ERROR(cur.Read(h, sizeof(h)));
    SnapshotEntry e;
    e.l1_table_offset = LoadBE64(h + 0);
    e.l1_size = LoadBE32(h + 8);
    uint16_t id_size = LoadBE16(h + 12);
    uint16_t name_size = LoadBE16(h + 14);
    e.date_sec = LoadBE32(h + 16);
    e.date_nsec = LoadBE32(h + 20);
    e.vm_clock_nsec = LoadBE64(h + 24);
    e.vm_state_size = LoadBE32(h + 32);
    e.extra_data_size = LoadBE32(h + 36);
    if (e.extra_data_size > kMaxSnapshotExtraData) {
      return Status::Corruption(ewhat + "too much extra data (" +
                                std::to_string(e.extra_data_size) +
                                " bytes, at most 1024)");
    }
    std::vector<uint8_t> extra(e.extra_data_size);
    E2Q_RETURN_IF_ERROR(cur.Read(extra.data(), extra.size()));
    if (e.extra_data_size >= 8) e.vm_state_size = LoadBE64(extra.data());
    e.disk_size = e.extra_data_size >= 16 ? LoadBE64(extra.data() + 8)
                                          : header.size;
    if (e.extra_data_size >= 24) e.icount = LoadBE64(extra.data() + 16);
    if (e.extra_data_size > kSnapshotKnownExtraBytes) {
      e.unknown_extra.assign(extra.begin() + kSnapshotKnownExtraBytes,
                             extra.end());
    }
    e.id_str.resize(id_size);
    E2Q_RETURN_IF_ERROR(
        cur.Read(reinterpret_cast<uint8_t*>(e.id_str.data()), id_size));
    e.name.resize(name_size);
    E2Q_RETURN_IF_ERROR(
        cur.Read(reinterpret_cast<uint8_t*>(e.name.data()), name_size));
    if (cur.pos() - start > kMaxSnapshotTableBytes) {
      return Status::Corruption(what + "larger than 64 MiB");
    }
    // qemu only checks the L1 table when the snapshot is loaded; checking
    // here means a table we accept can be loaded.
    if (e.l1_table_offset % cs != 0 || e.l1_table_offset >= kMaxHostOffset ||
        (e.l1_table_offset == 0 && e.l1_size != 0)) {
      return Status::Corruption(ewhat + "L1 table offset " +
                                std::to_string(e.l1_table_offset) +
                                " invalid");
    }
    if (!L1EntriesFit(e.l1_size)) {
      return Status::Corruption(ewhat + "L1 table too large (" +
                                std::to_string(e.l1_size) + " entries)");
    }
    entries.push_back(std::move(e));
  }
  if (table_bytes != nullptr) *table_bytes = cur.pos() - start;
  return entries;
}

Result<std::vector<uint8_t>> EncodeSnapshotTable(
    const std::vector<SnapshotEntry>& entries) {
  if (entries.size() > kMaxSnapshots) {
    return Status::InvalidArgument("snapshot table: more than 65536 entries");
  }
  std::vector<uint8_t> out;
  for (size_t i = 0; i < entries.size(); ++i) {
    const SnapshotEntry& e = entries[i];
    const std::string ewhat =
        "snapshot table: entry " + std::to_string(i) + ": ";
    if (e.id_str.size() > UINT16_MAX || e.name.size() > UINT16_MAX) {
      return Status::InvalidArgument(ewhat + "ID or name longer than 65535");
    }
    const uint64_t extra_size =
        uint64_t{kSnapshotKnownExtraBytes} + e.unknown_extra.size();
    if (extra_size > kMaxSnapshotExtraData) {
      return Status::InvalidArgument(ewhat + "more than 1024 bytes of extra data");
    }
    const uint64_t entry_bytes = kSnapshotHeaderBytes + extra_size +
                                 e.id_str.size() + e.name.size();
    const uint64_t at = Align8(out.size());
    if (at + entry_bytes > kMaxSnapshotTableBytes) {
      return Status::InvalidArgument("snapshot table: larger than 64 MiB");
    }
    out.resize(at + entry_bytes, 0);
    uint8_t* p = out.data() + at;
    StoreBE64(p + 0, e.l1_table_offset);
    StoreBE32(p + 8, e.l1_size);
    StoreBE16(p + 12, static_cast<uint16_t>(e.id_str.size()));
    StoreBE16(p + 14, static_cast<uint16_t>(e.name.size()));
    StoreBE32(p + 16, e.date_sec);
    StoreBE32(p + 20, e.date_nsec);
    StoreBE64(p + 24, e.vm_clock_nsec);
    // A VM state too large for 32 bits is recorded as 0 there, so that old
    // readers treat the snapshot as disk-only rather than truncate it.
    StoreBE32(p + 32, e.vm_state_size <= UINT32_MAX
                          ? static_cast<uint32_t>(e.vm_state_size)
                          : 0);
    StoreBE32(p + 36, static_cast<uint32_t>(extra_size));
    p += kSnapshotHeaderBytes;
    StoreBE64(p + 0, e.vm_state_size);
    StoreBE64(p + 8, e.disk_size);
    StoreBE64(p + 16, e.icount);
    p += kSnapshotKnownExtraBytes;
    if (!e.unknown_extra.empty()) {
      std::memcpy(p, e.unknown_extra.data(), e.unknown_extra.size());
      p += e.unknown_extra.size();
    }
    std::memcpy(p, e.id_str.data(), e.id_str.size());
    p += e.id_str.size();
    std::memcpy(p, e.name.data(), e.name.size());
  }
  return out;
}

int FindSnapshot(const std::vector<SnapshotEntry>& entries,
                 const std::string& id_or_name) {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].id_str == id_or_name) return static_cast<int>(i);
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].name == id_or_name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace e2q::qcow2
