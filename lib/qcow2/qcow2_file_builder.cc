// Qcow2FileBuilder: append stream, refcounts and the closing sequence of a
// qcow2 file.  Write order: everything the header points to is written
// first; the header goes into cluster 0 last, so an interrupted run never
// leaves a file that qemu takes for a complete image.
#include "lib/qcow2/qcow2_file_builder.h"

#include <algorithm>
#include <cstring>

#include "lib/base/endian.h"

namespace e2q::qcow2 {

namespace {

// The write buffer gathers small appends (tables, metadata blocks,
// compressed clusters).  O_DIRECT wants large writes; through the page
// cache a smaller buffer is enough (PosixFile cuts the writes into 128 KiB
// pieces anyway) and is more often still in the processor's cache when
// the write-behind thread copies it.
constexpr size_t kDirectBuffer = 4 << 20;
constexpr size_t kCachedBuffer = 1 << 20;
// Appends this large skip the buffer.
constexpr size_t kStraightWrite = 1 << 20;
constexpr uint64_t kMaxRefcount = 0xffff;
// The file is allocated ahead of the writes (File::Reserve) by as much as
// was written so far, between these bounds: a small image leaves at most
// kMinReserve to release at the end, a large one asks every kMaxReserve.
constexpr uint64_t kMinReserve = 4 << 20;
constexpr uint64_t kMaxReserve = 64 << 20;

uint64_t DivRoundUp(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace

Qcow2FileBuilder::Qcow2FileBuilder(io::File* out, uint32_t cluster_bits)
    : out_(out),
      bits_(cluster_bits),
      pos_(FirstAppendOffset(cluster_bits)),
      buf_start_(pos_),
      reserved_(pos_),
      buf_(out->WritesDirect() ? kDirectBuffer : kCachedBuffer),
      behind_(out) {
  refcounts_.push_back(1);  // the header
  refcounts_.resize(pos_ >> bits_, 0);  // the gap below kFirstAppendOffset
}

void Qcow2FileBuilder::ReserveTo(uint64_t end) {
  if (!reserving_ || end <= reserved_) return;
  const uint64_t ahead =
      std::clamp(end - FirstAppendOffset(bits_), kMinReserve, kMaxReserve);
  const uint64_t to = DivRoundUp(end + ahead, cluster_size()) << bits_;
  reserving_ = out_->Reserve(reserved_, to - reserved_);
  reserved_ = to;
}

Status Qcow2FileBuilder::Flush() {
  ReserveTo(pos_);
  E2Q_RETURN_IF_ERROR(behind_.Submit(buf_start_, &buf_));
  buf_start_ = pos_;
  return Status::OK();
}

Status Qcow2FileBuilder::Sync() {
  E2Q_RETURN_IF_ERROR(Flush());
  return behind_.Drain();
}

Status Qcow2FileBuilder::Append(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (len >= kStraightWrite) {
    // Straight from `data` to the file, without a copy into the buffer and
    // a hand-over to the write-behind thread (for -Qa through the page
    // cache, 1.0 s instead of 1.5 s on the benchmark filesystem).
    E2Q_RETURN_IF_ERROR(Sync());
    ReserveTo(pos_ + len);
    E2Q_RETURN_IF_ERROR(out_->WriteAt(pos_, p, len));
    pos_ += len;
    buf_start_ = pos_;
    return Status::OK();
  }
  while (len > 0) {
    size_t n = buf_.Append(p, len);
    p += n;
    len -= n;
    pos_ += n;
    if (buf_.full()) E2Q_RETURN_IF_ERROR(Flush());
  }
  return Status::OK();
}

Status Qcow2FileBuilder::PadToCluster() {
  const uint64_t cs = cluster_size();
  uint64_t rem = pos_ % cs;
  if (rem == 0) return Status::OK();
  static const uint8_t zeros[4096] = {};
  uint64_t pad = cs - rem;
  while (pad > 0) {
    size_t n = std::min<uint64_t>(pad, sizeof(zeros));
    E2Q_RETURN_IF_ERROR(Append(zeros, n));
    pad -= n;
  }
  return Status::OK();
}

Result<uint64_t> Qcow2FileBuilder::AppendTable(
    const std::vector<uint64_t>& entries) {
  E2Q_RETURN_IF_ERROR(PadToCluster());
  const uint64_t offset = pos_;
  if (entries.empty()) return offset;
  std::vector<uint8_t> table(
      DivRoundUp(entries.size() * 8, cluster_size()) * cluster_size(), 0);
  for (size_t i = 0; i < entries.size(); ++i) {
    StoreBE64(&table[i * 8], entries[i]);
  }
  E2Q_RETURN_IF_ERROR(Append(table.data(), table.size()));
  E2Q_RETURN_IF_ERROR(Reference(offset, pos_));
  return offset;
}

Status Qcow2FileBuilder::Reference(uint64_t start, uint64_t end,
                                   uint32_t times) {
  if (end <= start || times == 0) return Status::OK();
  uint64_t last = (end - 1) >> bits_;
  if (last >= refcounts_.size()) refcounts_.resize(last + 1, 0);
  for (uint64_t c = start >> bits_; c <= last; ++c) {
    if (refcounts_[c] + uint64_t{times} > kMaxRefcount) {
      return Status::NotSupported(out_->name() +
                                  ": qcow2: refcount overflow in cluster " +
                                  std::to_string(c));
    }
    refcounts_[c] = static_cast<uint16_t>(refcounts_[c] + times);
  }
  return Status::OK();
}

Status Qcow2FileBuilder::ReferenceEntry(uint64_t entry) {
  if (entry & kOflagCompressed) {
    CompressedLayout layout(bits_);
    const uint64_t off = layout.Offset(entry);
    return Reference(off, off + layout.Length(entry));
  }
  const uint64_t host = entry & kL2OffsetMask;
  if (host == 0) return Status::OK();
  return Reference(host, host + cluster_size());
}

Status Qcow2FileBuilder::ReadTable(uint64_t offset,
                                   std::vector<uint64_t>* entries) {
  const uint64_t n = L2Entries(bits_);
  std::vector<uint8_t> raw(cluster_size());
  E2Q_RETURN_IF_ERROR(ReadBack(offset, raw.data(), raw.size()));
  entries->resize(n);
  for (uint64_t i = 0; i < n; ++i) (*entries)[i] = LoadBE64(&raw[i * 8]);
  return Status::OK();
}

Status Qcow2FileBuilder::Unreference(uint64_t start, uint64_t end) {
  if (end <= start) return Status::OK();
  const uint64_t last = (end - 1) >> bits_;
  for (uint64_t c = start >> bits_; c <= last; ++c) {
    if (c >= refcounts_.size() || refcounts_[c] == 0) {
      return Status::InvalidArgument(out_->name() +
                                     ": qcow2: reference dropped from free "
                                     "cluster " +
                                     std::to_string(c));
    }
  }
  for (uint64_t c = start >> bits_; c <= last; ++c) --refcounts_[c];
  return Status::OK();
}

uint64_t Qcow2FileBuilder::RefcountAt(uint64_t offset) const {
  uint64_t c = offset >> bits_;
  return c < refcounts_.size() ? refcounts_[c] : 0;
}

Status Qcow2FileBuilder::ReadBack(uint64_t offset, void* buf, size_t len) {
  if (offset + len > pos_) {
    return Status::InvalidArgument(out_->name() +
                                   ": qcow2: read back past the end written");
  }
  // The bytes still in the write buffer are copied from there, the rest
  // read from the file.  The buffer is never written out early for this:
  // a partial write would leave every later buffer off the 4 KiB alignment
  // that O_DIRECT needs, and -Qaz --sync reads back many clusters (the
  // dedup's check of a candidate) that straddle the buffer's start.
  auto* out = static_cast<uint8_t*>(buf);
  const uint64_t from = BufferedFrom(offset, len);
  if (from < offset + len) {
    std::memcpy(out + (from - offset), buf_.data() + (from - buf_start_),
                offset + len - from);
  }
  if (from == offset) return Status::OK();
  E2Q_RETURN_IF_ERROR(behind_.Drain());  // the bytes in flight land first
  return out_->ReadAt(offset, out, from - offset);
}

Status Qcow2FileBuilder::Rewrite(uint64_t offset, const void* buf, size_t len) {
  if (offset < cluster_size() || offset + len > pos_) {
    return Status::InvalidArgument(out_->name() +
                                   ": qcow2: rewrite outside the tables");
  }
  // As ReadBack: the buffered part is changed in the buffer.
  const auto* in = static_cast<const uint8_t*>(buf);
  const uint64_t from = BufferedFrom(offset, len);
  if (from < offset + len) {
    std::memcpy(buf_.data() + (from - buf_start_), in + (from - offset),
                offset + len - from);
  }
  if (from == offset) return Status::OK();
  E2Q_RETURN_IF_ERROR(behind_.Drain());
  return out_->WriteAt(offset, in, from - offset);
}

Status Qcow2FileBuilder::Finish(Header* h) {
  E2Q_RETURN_IF_ERROR(PadToCluster());
  const uint64_t cs = cluster_size();

  // Refcount table and blocks: size them so that they count themselves.
  const uint64_t rb_entries = cs * 8 >> kRefcountOrder;
  const uint64_t before = pos_ >> bits_;
  uint64_t n_rb = 0, n_rt = 0, total = before;
  for (;;) {
    uint64_t rb = DivRoundUp(total, rb_entries);
    uint64_t rt = DivRoundUp(rb * 8, cs);
    uint64_t t = before + rb + rt;
    if (rb == n_rb && rt == n_rt) break;
    n_rb = rb;
    n_rt = rt;
    total = t;
  }
  if (n_rt * cs > kMaxRefcountTableBytes) {
    return Status::NotSupported(out_->name() +
                                ": qcow2: refcount table would exceed qemu's "
                                "8 MiB limit; use larger clusters");
  }
  const uint64_t rt_offset = pos_;
  const uint64_t rb_offset = rt_offset + n_rt * cs;
  refcounts_.resize(total, 0);
  for (uint64_t c = rt_offset >> bits_; c < total; ++c) refcounts_[c] = 1;
  {
    std::vector<uint8_t> table(n_rt * cs, 0);
    for (uint64_t i = 0; i < n_rb; ++i) {
      StoreBE64(&table[i * 8], rb_offset + i * cs);
    }
    E2Q_RETURN_IF_ERROR(Append(table.data(), table.size()));
  }
  std::vector<uint8_t> block(cs);
  for (uint64_t i = 0; i < n_rb; ++i) {
    std::fill(block.begin(), block.end(), 0);
    for (uint64_t j = 0; j < rb_entries; ++j) {
      uint64_t c = i * rb_entries + j;
      if (c >= total) break;
      SetRefcount(block.data(), j, kRefcountOrder, refcounts_[c]);
    }
    E2Q_RETURN_IF_ERROR(Append(block.data(), cs));
  }
  E2Q_RETURN_IF_ERROR(Sync());
  file_size_ = pos_;

  // Header last: until it is written the file is not a qcow2 image.
  h->refcount_order = kRefcountOrder;
  h->refcount_table_offset = rt_offset;
  h->refcount_table_clusters = static_cast<uint32_t>(n_rt);
  std::vector<uint8_t> cluster0;
  E2Q_RETURN_IF_ERROR(h->EncodeTo(&cluster0).WithContext(out_->name()));
  E2Q_RETURN_IF_ERROR(out_->WriteAt(0, cluster0.data(), cluster0.size()));
  return out_->Truncate(file_size_);
}

}  // namespace e2q::qcow2
