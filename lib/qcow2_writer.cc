// Qcow2Writer: streaming qcow2 writer.
//
// File layout, in order of offset:
//   cluster 0            header (written last)
//   clusters 1..         guest data in guest order; compressed clusters
//                        packed at byte granularity; each L2 table is
//                        appended as soon as the guest moves past its range
//   then                 the L1 table, the refcount table, refcount blocks
// Only one L2 table is held in memory at a time.
#include "lib/qcow2_writer.h"

#include <algorithm>
#include <cstring>

#include "lib/endian.h"

namespace e2q::qcow2 {

namespace {

constexpr size_t kWriteBuffer = 4 << 20;
constexpr uint32_t kRefcountOrder = 4;  // 16-bit refcounts, as qemu
constexpr uint64_t kMaxRefcount = 0xffff;

uint64_t DivRoundUp(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace

Qcow2Writer::Qcow2Writer(File* out, WriterOptions options)
    : out_(out), opts_(std::move(options)), buf_(kWriteBuffer) {}

Qcow2Writer::~Qcow2Writer() = default;

Result<std::unique_ptr<Qcow2Writer>> Qcow2Writer::Create(
    File* out, WriterOptions options) {
  const std::string& name = out->name();
  if (options.version != 2 && options.version != 3) {
    return Status::InvalidArgument(name + ": qcow2: unsupported version " +
                                   std::to_string(options.version));
  }
  if (options.cluster_bits < kMinClusterBits ||
      options.cluster_bits > kMaxClusterBits) {
    return Status::InvalidArgument(
        name + ": qcow2: cluster size must be a power of two from 512 B to "
               "2 MiB");
  }
  options.virtual_size = (options.virtual_size + 511) & ~uint64_t{511};
  std::unique_ptr<Qcow2Writer> w(new Qcow2Writer(out, std::move(options)));
  const uint64_t cs = w->cluster_size();
  w->l2_entries_ = L2Entries(w->opts_.cluster_bits);
  w->guest_clusters_ = DivRoundUp(w->opts_.virtual_size, cs);
  w->l1_size_ = DivRoundUp(w->guest_clusters_, w->l2_entries_);
  if (w->l1_size_ * 8 > kMaxL1Bytes) {
    return Status::InvalidArgument(
        name + ": qcow2: a " + std::to_string(w->opts_.virtual_size) +
        "-byte disk needs an L1 table larger than qemu's 32 MiB limit with " +
        std::to_string(cs) + "-byte clusters; use larger clusters");
  }
  w->l1_.assign(w->l1_size_, 0);
  w->l2_.assign(w->l2_entries_, 0);
  w->pos_ = cs;  // cluster 0 is the header
  w->buf_start_ = cs;
  w->refcounts_.push_back(1);  // the header
  // Encode a trial header now so that an oversized backing name fails early.
  Header h;
  std::vector<uint8_t> trial;
  E2Q_RETURN_IF_ERROR(w->BuildHeader(&h));
  E2Q_RETURN_IF_ERROR(h.EncodeTo(&trial).WithContext(name));
  return w;
}

Status Qcow2Writer::SetCompressionType(uint8_t type) {
  if (any_added_) {
    return Status::InvalidArgument(out_->name() +
                                   ": qcow2: compression type set too late");
  }
  if (type != kCompressionDeflate && opts_.version < 3) {
    return Status::InvalidArgument(
        out_->name() + ": qcow2: zstd compression needs compat 1.1");
  }
  compression_type_ = type;
  return Status::OK();
}

Status Qcow2Writer::SetExtension(uint32_t type, std::vector<uint8_t> data) {
  const std::string& name = out_->name();
  if (type == kExtEnd || type == kExtBackingFormat) {
    return Status::InvalidArgument(name + ": qcow2: header extension " +
                                   Hex(type) + " is managed by the writer");
  }
  if (finished_) {
    return Status::InvalidArgument(name + ": qcow2: header extension " +
                                   Hex(type) + " set after the end");
  }
  std::vector<HeaderExtension> saved = opts_.extensions;
  auto it = std::find_if(opts_.extensions.begin(), opts_.extensions.end(),
                         [type](const HeaderExtension& e) {
                           return e.type == type;
                         });
  if (it != opts_.extensions.end()) {
    it->data = std::move(data);
  } else {
    opts_.extensions.push_back(HeaderExtension{type, std::move(data)});
  }
  Header h;
  std::vector<uint8_t> trial;
  Status s = BuildHeader(&h);
  if (s.ok()) s = h.EncodeTo(&trial).WithContext(name);
  if (!s.ok()) opts_.extensions = std::move(saved);
  return s;
}

Status Qcow2Writer::CheckIndex(uint64_t index) {
  if (finished_) {
    return Status::InvalidArgument(out_->name() + ": qcow2: write after end");
  }
  if (index >= guest_clusters_ || (any_added_ && index <= last_index_)) {
    return Status::InvalidArgument(
        out_->name() + ": qcow2: guest cluster " + std::to_string(index) +
        " out of order or past the end of the disk");
  }
  // Moving into another L2 table's range completes the current one.
  uint64_t l1_index = index / l2_entries_;
  if (l2_dirty_ && l1_index != l2_index_) E2Q_RETURN_IF_ERROR(FlushL2());
  l2_index_ = l1_index;
  any_added_ = true;
  last_index_ = index;
  return Status::OK();
}

void Qcow2Writer::SetL2(uint64_t index, uint64_t entry) {
  l2_[index % l2_entries_] = entry;
  l2_dirty_ = true;
}

Status Qcow2Writer::Append(const uint8_t* data, size_t len) {
  while (len > 0) {
    size_t n = buf_.Append(data, len);
    data += n;
    len -= n;
    pos_ += n;
    if (buf_.full()) E2Q_RETURN_IF_ERROR(FlushBuffer());
  }
  return Status::OK();
}

Status Qcow2Writer::FlushBuffer() {
  if (!buf_.empty()) {
    E2Q_RETURN_IF_ERROR(out_->WriteAt(buf_start_, buf_.data(), buf_.size()));
  }
  buf_start_ = pos_;
  buf_.clear();
  return Status::OK();
}

Status Qcow2Writer::PadToCluster() {
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

// Adds one reference to every host cluster overlapping [start, end).
Status Qcow2Writer::Reference(uint64_t start, uint64_t end) {
  const uint32_t bits = opts_.cluster_bits;
  uint64_t last = (end - 1) >> bits;
  if (last >= refcounts_.size()) refcounts_.resize(last + 1, 0);
  for (uint64_t c = start >> bits; c <= last; ++c) {
    if (refcounts_[c] == kMaxRefcount) {
      return Status::NotSupported(out_->name() +
                                  ": qcow2: refcount overflow in cluster " +
                                  std::to_string(c));
    }
    ++refcounts_[c];
  }
  return Status::OK();
}

Status Qcow2Writer::AddDataCluster(uint64_t index, const uint8_t* data) {
  return AddDataClusters(index, data, 1);
}

Status Qcow2Writer::AddDataClusters(uint64_t index, const uint8_t* data,
                                    uint64_t n) {
  const uint64_t cs = cluster_size();
  while (n > 0) {
    // A run is split where an L2 table's range ends, so that CheckIndex can
    // append the finished table between the pieces.
    uint64_t span = std::min(n, l2_entries_ - index % l2_entries_);
    if (index + span > guest_clusters_) {
      return Status::InvalidArgument(out_->name() +
                                     ": qcow2: guest clusters past the end "
                                     "of the disk");
    }
    E2Q_RETURN_IF_ERROR(CheckIndex(index));
    E2Q_RETURN_IF_ERROR(PadToCluster());
    const uint64_t host = pos_;
    const uint64_t bytes = span * cs;
    if (bytes >= kWriteBuffer / 4) {
      E2Q_RETURN_IF_ERROR(FlushBuffer());
      E2Q_RETURN_IF_ERROR(out_->WriteAt(pos_, data, bytes));
      pos_ += bytes;
      buf_start_ = pos_;
    } else {
      E2Q_RETURN_IF_ERROR(Append(data, bytes));
    }
    E2Q_RETURN_IF_ERROR(Reference(host, pos_));
    for (uint64_t k = 0; k < span; ++k) {
      SetL2(index + k, (host + k * cs) | kOflagCopied);
    }
    last_index_ = index + span - 1;
    data_clusters_ += span;
    index += span;
    data += bytes;
    n -= span;
  }
  return Status::OK();
}

Status Qcow2Writer::AddCompressedCluster(uint64_t index, const uint8_t* data,
                                         size_t len) {
  if (len == 0 || len >= cluster_size()) {
    return Status::InvalidArgument(out_->name() +
                                   ": qcow2: compressed cluster of " +
                                   std::to_string(len) + " bytes");
  }
  E2Q_RETURN_IF_ERROR(CheckIndex(index));
  CompressedLayout layout(opts_.cluster_bits);
  uint64_t host = pos_;
  if (host + len > layout.offset_mask) {
    return Status::NotSupported(out_->name() +
                                ": qcow2: compressed data beyond the offset "
                                "range of this cluster size");
  }
  E2Q_RETURN_IF_ERROR(Append(data, len));
  uint64_t entry = layout.Encode(host, len);
  // qemu counts whole 512-byte sectors from the one holding the start.
  uint64_t start = host & ~uint64_t{511};
  E2Q_RETURN_IF_ERROR(Reference(start, start + layout.Length(entry) +
                                           (host & 511)));
  SetL2(index, entry);
  ++compressed_clusters_;
  return Status::OK();
}

Status Qcow2Writer::AddZeroCluster(uint64_t index) {
  if (opts_.version < 3) {
    return Status::InvalidArgument(
        out_->name() + ": qcow2: zero clusters need compat 1.1 (version 3)");
  }
  E2Q_RETURN_IF_ERROR(CheckIndex(index));
  SetL2(index, kOflagZero);
  return Status::OK();
}

// Appends the current L2 table to the data stream and points L1 at it.
Status Qcow2Writer::FlushL2() {
  E2Q_RETURN_IF_ERROR(PadToCluster());
  const uint64_t cs = cluster_size();
  std::vector<uint8_t> table(cs);
  for (uint64_t i = 0; i < l2_entries_; ++i) StoreBE64(&table[i * 8], l2_[i]);
  uint64_t host = pos_;
  E2Q_RETURN_IF_ERROR(Append(table.data(), cs));
  E2Q_RETURN_IF_ERROR(Reference(host, pos_));
  l1_[l2_index_] = host | kOflagCopied;
  std::fill(l2_.begin(), l2_.end(), 0);
  l2_dirty_ = false;
  return Status::OK();
}

Status Qcow2Writer::BuildHeader(Header* h) const {
  h->version = opts_.version;
  h->cluster_bits = opts_.cluster_bits;
  h->size = opts_.virtual_size;
  h->l1_size = static_cast<uint32_t>(l1_size_);
  h->refcount_order = kRefcountOrder;
  h->compression_type = compression_type_;
  h->backing_file = opts_.backing_file;
  h->extensions.clear();
  if (!opts_.backing_format.empty()) {
    HeaderExtension ext;
    ext.type = kExtBackingFormat;
    ext.data.assign(opts_.backing_format.begin(), opts_.backing_format.end());
    h->extensions.push_back(std::move(ext));
  }
  for (const auto& ext : opts_.extensions) h->extensions.push_back(ext);
  return Status::OK();
}

Status Qcow2Writer::Finish() {
  if (finished_) return Status::OK();
  if (l2_dirty_) E2Q_RETURN_IF_ERROR(FlushL2());
  E2Q_RETURN_IF_ERROR(PadToCluster());
  finished_ = true;
  const uint64_t cs = cluster_size();
  const uint32_t bits = opts_.cluster_bits;

  // L1 table.
  // An empty disk has an empty L1 table; qemu accepts any aligned offset.
  const uint64_t l1_offset = pos_;
  const uint64_t l1_clusters = DivRoundUp(l1_size_ * 8, cs);
  if (l1_clusters > 0) {
    std::vector<uint8_t> table(l1_clusters * cs, 0);
    for (uint64_t i = 0; i < l1_size_; ++i) StoreBE64(&table[i * 8], l1_[i]);
    E2Q_RETURN_IF_ERROR(Append(table.data(), table.size()));
    E2Q_RETURN_IF_ERROR(Reference(l1_offset, pos_));
  }

  // Refcount table and blocks: size them so that they count themselves.
  const uint64_t rb_entries = cs * 8 >> kRefcountOrder;
  const uint64_t before = pos_ >> bits;
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
  for (uint64_t c = rt_offset >> bits; c < total; ++c) refcounts_[c] = 1;
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
  E2Q_RETURN_IF_ERROR(FlushBuffer());
  file_size_ = pos_;

  // Header last: until it is written the file is not a qcow2 image.
  Header h;
  E2Q_RETURN_IF_ERROR(BuildHeader(&h));
  h.l1_table_offset = l1_offset;
  h.refcount_table_offset = rt_offset;
  h.refcount_table_clusters = static_cast<uint32_t>(n_rt);
  std::vector<uint8_t> cluster0;
  E2Q_RETURN_IF_ERROR(h.EncodeTo(&cluster0).WithContext(out_->name()));
  E2Q_RETURN_IF_ERROR(out_->WriteAt(0, cluster0.data(), cluster0.size()));
  return out_->Truncate(file_size_);
}

}  // namespace e2q::qcow2
