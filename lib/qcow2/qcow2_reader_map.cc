// Qcow2Reader, part two: cluster lookup through L1/L2 tables, the read
// path (coalesced host reads, decompression, backing files) and Map().
#include <algorithm>
#include <cstring>

#include "lib/base/endian.h"
#include "lib/qcow2/qcow2_l2_cache.h"
#include "lib/qcow2/qcow2_reader.h"

namespace e2q::qcow2 {

namespace {

// Limits of one batch of compressed clusters.
constexpr size_t kMaxBatchClusters = 256;
constexpr uint64_t kMaxBatchBytes = 32u << 20;

// Standard (uncompressed) L2 entry bits that must be zero: 1-8, 56-61.
constexpr uint64_t kL2StdReservedMask =
    ~(kL2OffsetMask | kOflagCopied | kOflagCompressed | kOflagZero);

// Bytes [offset, offset + len) of `file` into `buf`, zeros past its end.
Status ReadZeroFilled(io::File* file, uint64_t offset, uint8_t* buf,
                      size_t len) {
  while (len > 0) {
    E2Q_ASSIGN_OR_RETURN(size_t n, file->ReadSome(offset, buf, len));
    if (n == 0) {
      std::memset(buf, 0, len);
      break;
    }
    buf += n;
    offset += n;
    len -= n;
  }
  return Status::OK();
}

}  // namespace

Result<const uint64_t*> Qcow2Reader::GetL2(uint64_t l1_index) {
  const uint64_t l2_offset = l1_[l1_index];
  if (const uint64_t* t = l2_cache_->Find(l2_offset)) return t;
  const size_t n = L2Entries(header_.cluster_bits);
  std::vector<uint8_t> raw(n * 8);
  // LoadL1 checked that the table lies inside the file.
  Status s = file_->ReadAt(l2_offset, raw.data(), raw.size());
  if (!s.ok()) return s;
  uint64_t* t = l2_cache_->Insert(l2_offset);
  for (size_t i = 0; i < n; ++i) t[i] = LoadBE64(raw.data() + i * 8);
  return static_cast<const uint64_t*>(t);
}

// Classifies the L2 entries from `offset` on and returns the first run of
// one kind (host-contiguous for normal clusters), at most `max_len` bytes
// and never past the end of one L2 table, except that a run of unallocated
// L2 tables is returned whole.  The unit of classification is the cluster,
// or with extended L2 entries the subcluster (1/32 of a cluster).
Result<Qcow2Reader::Run> Qcow2Reader::Lookup(uint64_t offset,
                                             uint64_t max_len) {
  const bool ext = extended_l2_;
  const uint32_t cb = header_.cluster_bits;
  const uint64_t cs = uint64_t{1} << cb;
  const uint32_t l2_bits = cb - (ext ? 4 : 3);  // 16- or 8-byte entries
  const uint32_t sc_bits = ext ? 5 : 0;         // units per cluster, log2
  const uint32_t unit_bits = cb - sc_bits;
  const uint64_t unit = uint64_t{1} << unit_bits;
  const uint64_t units = uint64_t{1} << (l2_bits + sc_bits);  // per table
  const uint64_t span_bits = cb + l2_bits;  // guest bytes per L1 entry
  uint64_t l1_index = offset >> span_bits;
  if (l1_index >= l1_.size()) return Run{RunKind::kUnallocated, max_len, 0};
  if (l1_[l1_index] == 0) {
    uint64_t end = l1_index + 1;
    while (end < l1_.size() && l1_[end] == 0) ++end;
    uint64_t len = end == l1_.size()
                       ? max_len
                       : std::min(max_len, (end << span_bits) - offset);
    return Run{RunKind::kUnallocated, len, 0};
  }
  E2Q_ASSIGN_OR_RETURN(const uint64_t* table, GetL2(l1_index));
  const uint64_t l2_offset = l1_[l1_index];
  const CompressedLayout layout(cb);
  const uint64_t reserved = kL2StdReservedMask | (ext ? kOflagZero : 0);

  // Validates unit u and returns its kind and host offset (for compressed
  // clusters, the entry itself).
  auto classify = [&](uint64_t u, RunKind* kind, uint64_t* host) -> Status {
    const uint64_t i = u >> sc_bits;
    const uint64_t e = table[ext ? 2 * i : i];
    const uint64_t bitmap = ext ? table[2 * i + 1] : 0;
    auto bad = [&](const std::string& why) {
      return Corrupt("L2 table at " + Hex(l2_offset) + ": entry " +
                     std::to_string(i) + " (" + Hex(e) +
                     (ext ? ", bitmap " + Hex(bitmap) : std::string()) +
                     "): " + why);
    };
    if (e & kOflagCompressed) {
      // qemu allows no compressed clusters with an external data file.
      if (has_data_file_) {
        return bad(
            "compressed cluster in an image with an external data "
            "file");
      }
      if (e & kOflagCopied) return bad("COPIED set on a compressed cluster");
      if (bitmap != 0) return bad("subcluster bits set on a compressed cluster");
      const uint64_t coff = layout.Offset(e);
      const uint64_t clen = layout.Length(e);
      if (coff < cs || coff >= file_size_) {
        return bad("compressed data outside the file");
      }
      // As qemu-img check: the data may end less than a cluster past EOF.
      if (coff + clen > file_size_ && coff + clen - file_size_ >= cs) {
        return bad("compressed data runs past end of file");
      }
      *kind = RunKind::kCompressed;
      *host = e;
      return Status::OK();
    }
    if (e & reserved) return bad("reserved bits set");
    const uint64_t off = e & kL2OffsetMask;
    if (off % cs != 0) return bad("cluster offset not aligned");
    // Offset 0 means unallocated, except in an external data file, where
    // it is a valid offset: there every cluster has refcount 1, so COPIED
    // tells them apart (as qemu's qcow2_get_cluster_type does).
    const bool at_zero_ok = has_data_file_ && (e & kOflagCopied);
    bool zero, alloc;
    if (ext) {
      const uint32_t alloc_bits = static_cast<uint32_t>(bitmap);
      const uint32_t zero_bits = static_cast<uint32_t>(bitmap >> 32);
      if (alloc_bits & zero_bits) {
        return bad("subcluster both allocated and zero");
      }
      if (off == 0 && alloc_bits != 0 && !at_zero_ok) {
        return bad("allocated subclusters without a host cluster");
      }
      const uint32_t sc = static_cast<uint32_t>(u & 31);
      zero = (zero_bits >> sc) & 1;
      alloc = (alloc_bits >> sc) & 1;
    } else {
      zero = e & kOflagZero;
      alloc = off != 0 || at_zero_ok;
      if (zero && header_.version < 3) {
        return bad("zero cluster in a version 2 image");
      }
    }
    *host = 0;
    if (zero) {
      *kind = RunKind::kZero;
    } else if (!alloc) {
      *kind = RunKind::kUnallocated;
    } else {
      // In a data file, what lies past its end reads as zeros (as qemu's
      // raw protocol reads it).
      if (!has_data_file_ && off >= file_size_) {
        return bad("data cluster past end of file");
      }
      *kind = RunKind::kNormal;
      *host = off + ((u & ((uint64_t{1} << sc_bits) - 1)) << unit_bits);
    }
    return Status::OK();
  };

  uint64_t u = (offset >> unit_bits) & (units - 1);
  const uint64_t in_unit = offset & (unit - 1);
  Run run{RunKind::kUnallocated, unit - in_unit, 0};
  E2Q_RETURN_IF_ERROR(classify(u, &run.kind, &run.host));
  if (run.kind == RunKind::kCompressed) {
    run.len = std::min(cs - (offset & (cs - 1)), max_len);
    return run;
  }
  uint64_t next_host = run.host + unit;
  while (run.len < max_len && ++u < units) {
    RunKind kind;
    uint64_t host;
    E2Q_RETURN_IF_ERROR(classify(u, &kind, &host));
    if (kind != run.kind) break;
    if (kind == RunKind::kNormal) {
      if (host != next_host) break;
      next_host += unit;
    }
    run.len += unit;
  }
  if (run.kind == RunKind::kNormal) run.host += in_unit;
  run.len = std::min(run.len, max_len);
  return run;
}

Status Qcow2Reader::ReadHost(uint64_t host, uint8_t* buf, size_t len) {
  // Lookup only admits clusters that start inside the file; a last
  // cluster cut short by the end of the file reads as zeros past it,
  // as in qemu.
  if (has_data_file_) return ReadZeroFilled(data_file_.get(), host, buf, len);
  return ReadZeroFilled(file_.get(), host, buf, len);
}

Status Qcow2Reader::ReadBacking(uint64_t offset, uint8_t* buf, size_t len) {
  size_t inside = 0;
  if (offset < backing_size_) {
    inside = static_cast<size_t>(std::min<uint64_t>(len, backing_size_ - offset));
  }
  if (inside > 0) {
    if (backing_qcow2_) {
      E2Q_RETURN_IF_ERROR(backing_qcow2_->Read(offset, buf, inside));
    } else if (backing_raw_) {
      E2Q_RETURN_IF_ERROR(
          ReadZeroFilled(backing_raw_.get(), offset, buf, inside));
    } else {
      inside = 0;
    }
  }
  std::memset(buf + inside, 0, len - inside);
  return Status::OK();
}

Status Qcow2Reader::Read(uint64_t offset, void* out, size_t len) {
  if (offset > header_.size || len > header_.size - offset) {
    return Status::InvalidArgument(file_->name() + ": read at " +
                                   std::to_string(offset) +
                                   ": past the end of the image");
  }
  if (encrypted_) {
    return Status::NotSupported(file_->name() +
                                ": encrypted images are not supported");
  }
  if (has_data_file_ && !data_file_) {
    return Status::NotSupported(file_->name() +
                                ": read: the external data file is not open");
  }
  auto* buf = static_cast<uint8_t*>(out);
  // Host-contiguous normal runs are gathered into one read even across
  // L2 tables.
  uint64_t pend_host = 0;
  uint8_t* pend_buf = nullptr;
  size_t pend_len = 0;
  auto flush = [&]() -> Status {
    if (pend_len == 0) return Status::OK();
    Status s = ReadHost(pend_host, pend_buf, pend_len);
    pend_len = 0;
    return s;
  };
  // Compressed clusters are gathered and decompressed together, in
  // batches bounded in count and in compressed bytes.
  std::vector<CompressedRead> creads;
  uint64_t cbytes = 0;
  const CompressedLayout layout(header_.cluster_bits);
  while (len > 0) {
    E2Q_ASSIGN_OR_RETURN(Run run, Lookup(offset, len));
    const size_t n = static_cast<size_t>(run.len);
    if (run.kind == RunKind::kNormal && pend_len > 0 &&
        pend_host + pend_len == run.host) {
      pend_len += n;
    } else {
      E2Q_RETURN_IF_ERROR(flush());
      switch (run.kind) {
        case RunKind::kNormal:
          pend_host = run.host;
          pend_buf = buf;
          pend_len = n;
          break;
        case RunKind::kCompressed:
          creads.push_back(CompressedRead{
              run.host, offset & (header_.cluster_size() - 1), buf, n});
          cbytes += layout.Length(run.host);
          if (creads.size() >= kMaxBatchClusters ||
              cbytes >= kMaxBatchBytes) {
            E2Q_RETURN_IF_ERROR(ReadCompressed(&creads));
            cbytes = 0;
          }
          break;
        case RunKind::kZero:
          std::memset(buf, 0, n);
          break;
        case RunKind::kUnallocated:
          E2Q_RETURN_IF_ERROR(ReadBacking(offset, buf, n));
          break;
      }
    }
    buf += n;
    offset += n;
    len -= n;
  }
  E2Q_RETURN_IF_ERROR(ReadCompressed(&creads));
  return flush();
}

Result<Qcow2Reader::Extent> Qcow2Reader::MapBacking(uint64_t offset,
                                                    uint64_t max_len) {
  if (offset >= backing_size_ || (!backing_qcow2_ && !backing_raw_)) {
    return Extent{max_len, ExtentKind::kZero};
  }
  const uint64_t len = std::min(max_len, backing_size_ - offset);
  if (backing_raw_) return Extent{len, ExtentKind::kData};
  return backing_qcow2_->Map(offset, len);
}

Result<Qcow2Reader::Extent> Qcow2Reader::Map(uint64_t offset,
                                             uint64_t max_len) {
  if (offset >= header_.size) {
    return Status::InvalidArgument(file_->name() + ": map at " +
                                   std::to_string(offset) +
                                   ": past the end of the image");
  }
  max_len = std::min(max_len, header_.size - offset);
  Extent result{0, ExtentKind::kZero};
  while (result.len < max_len) {
    const uint64_t at = offset + result.len;
    E2Q_ASSIGN_OR_RETURN(Run run, Lookup(at, max_len - result.len));
    Extent part;
    switch (run.kind) {
      case RunKind::kNormal:
      case RunKind::kCompressed:
        part = Extent{run.len, ExtentKind::kData};
        break;
      case RunKind::kZero:
        part = Extent{run.len, ExtentKind::kZero};
        break;
      case RunKind::kUnallocated: {
        E2Q_ASSIGN_OR_RETURN(part, MapBacking(at, run.len));
        break;
      }
    }
    if (result.len > 0 && part.kind != result.kind) break;
    // A backing file may change kind inside this run; then the next
    // lookup starts where its extent ended.
    result.kind = part.kind;
    result.len += part.len;
  }
  return result;
}

Result<Qcow2Reader::StoredExtent> Qcow2Reader::MapStored(uint64_t offset,
                                                         uint64_t max_len) {
  if (offset >= header_.size) {
    return Status::InvalidArgument(file_->name() + ": map at " +
                                   std::to_string(offset) +
                                   ": past the end of the image");
  }
  max_len = std::min(max_len, header_.size - offset);
  StoredExtent result;
  while (result.len < max_len) {
    E2Q_ASSIGN_OR_RETURN(Run run,
                         Lookup(offset + result.len, max_len - result.len));
    StoredKind kind = run.kind == RunKind::kZero ? StoredKind::kZero
                      : run.kind == RunKind::kUnallocated
                          ? StoredKind::kNotStored
                          : StoredKind::kData;
    if (result.len > 0 && kind != result.kind) break;
    result.kind = kind;
    result.len += run.len;
  }
  return result;
}

Result<Qcow2Reader::ClusterCounts> Qcow2Reader::CountClusters() {
  const uint64_t size = virtual_size();
  const uint32_t cb = header_.cluster_bits;
  ClusterCounts c;
  c.total = (size + (uint64_t{1} << cb) - 1) >> cb;
  uint64_t offset = 0;
  while (offset < size) {
    E2Q_ASSIGN_OR_RETURN(Run run, Lookup(offset, size - offset));
    if (run.len == 0) return Corrupt("map: empty run");
    const uint64_t n = ((offset + run.len - 1) >> cb) - (offset >> cb) + 1;
    switch (run.kind) {
      case RunKind::kNormal: c.data += n; break;
      case RunKind::kCompressed: c.compressed += n; break;
      case RunKind::kZero: c.zero += n; break;
      case RunKind::kUnallocated: c.unallocated += n; break;
    }
    offset += run.len;
  }
  return c;
}

}  // namespace e2q::qcow2
