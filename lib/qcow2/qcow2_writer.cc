// Qcow2Writer: streaming qcow2 writer.
//
// File layout, in order of offset:
//   cluster 0            header (written last)
//   (clusters < 4 KiB)   holes up to offset 4096, so that the guest's
//                        superblock never probes at offset 1024
//   then                 guest data in guest order; compressed clusters
//                        packed at byte granularity; each L2 table is
//                        appended as soon as the guest moves past its range
//   then                 the L1 table, the refcount table, refcount blocks
// Only one L2 table is held in memory at a time.
#include "lib/qcow2/qcow2_writer.h"

#include <algorithm>
#include <cstring>

#include "lib/base/endian.h"

namespace e2q::qcow2 {

namespace {

uint64_t DivRoundUp(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace

Qcow2Writer::Qcow2Writer(io::File* out, WriterOptions options)
    : out_(out), opts_(std::move(options)), file_(out, opts_.cluster_bits) {}

Qcow2Writer::~Qcow2Writer() = default;

Result<std::unique_ptr<Qcow2Writer>> Qcow2Writer::Create(
    io::File* out, WriterOptions options) {
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
  w->guest_clusters_ = DivRoundUp(w->opts_.virtual_size, cs);
  w->l1_size_ = L1Entries(w->opts_.virtual_size, w->opts_.cluster_bits);
  if (!L1EntriesFit(w->l1_size_)) {
    return Status::InvalidArgument(
        name + ": qcow2: a " + std::to_string(w->opts_.virtual_size) +
        "-byte disk needs an L1 table larger than qemu's 32 MiB limit with " +
        std::to_string(cs) + "-byte clusters; use larger clusters");
  }
  w->l2_.emplace(&w->file_, w->guest_clusters_, kOflagCopied, "the disk");
  // Encode a trial header now so that an oversized backing name fails early.
  Header h;
  std::vector<uint8_t> trial;
  E2Q_RETURN_IF_ERROR(w->BuildHeader(&h));
  E2Q_RETURN_IF_ERROR(h.EncodeTo(&trial).WithContext(name));
  return w;
}

Status Qcow2Writer::SetCompressionType(uint8_t type) {
  E2Q_RETURN_IF_ERROR(
      CheckCompressionType(out_->name(), type, opts_.version,
                           l2_->any_taken()));
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

Status Qcow2Writer::Take(uint64_t index, uint64_t n) {
  if (finished_) {
    return Status::InvalidArgument(out_->name() + ": qcow2: write after end");
  }
  return l2_->Take(index, n);
}

Status Qcow2Writer::AddDataClusters(uint64_t index, const uint8_t* data,
                                    uint64_t n) {
  const uint64_t cs = cluster_size();
  const uint64_t l2_entries = l2_->l2_entries();
  while (n > 0) {
    // A run is split where an L2 table's range ends, so that Take can
    // append the finished table between the pieces.
    uint64_t span = std::min(n, l2_entries - index % l2_entries);
    if (index + span > guest_clusters_) {
      return Status::InvalidArgument(out_->name() +
                                     ": qcow2: guest clusters past the end "
                                     "of the disk");
    }
    E2Q_RETURN_IF_ERROR(Take(index, span));
    E2Q_RETURN_IF_ERROR(file_.PadToCluster());
    const uint64_t host = file_.pos();
    const uint64_t bytes = span * cs;
    E2Q_RETURN_IF_ERROR(file_.Append(data, bytes));
    E2Q_RETURN_IF_ERROR(file_.Reference(host, file_.pos()));
    for (uint64_t k = 0; k < span; ++k) {
      l2_->Set(index + k, (host + k * cs) | kOflagCopied);
    }
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
  E2Q_RETURN_IF_ERROR(Take(index));
  CompressedLayout layout(opts_.cluster_bits);
  uint64_t host = file_.pos();
  if (host + len > layout.offset_mask) {
    return Status::NotSupported(out_->name() +
                                ": qcow2: compressed data beyond the offset "
                                "range of this cluster size");
  }
  E2Q_RETURN_IF_ERROR(file_.Append(data, len));
  uint64_t entry = layout.Encode(host, len);
  // qemu counts whole 512-byte sectors from the one holding the start.
  E2Q_RETURN_IF_ERROR(file_.Reference(host, host + layout.Length(entry)));
  l2_->Set(index, entry);
  ++compressed_clusters_;
  return Status::OK();
}

Status Qcow2Writer::AddZeroCluster(uint64_t index) {
  if (opts_.version < 3) {
    return Status::InvalidArgument(
        out_->name() + ": qcow2: zero clusters need compat 1.1 (version 3)");
  }
  E2Q_RETURN_IF_ERROR(Take(index));
  l2_->Set(index, kOflagZero);
  return Status::OK();
}

Status Qcow2Writer::BuildHeader(Header* h) const {
  h->version = opts_.version;
  h->cluster_bits = opts_.cluster_bits;
  h->size = opts_.virtual_size;
  h->l1_size = static_cast<uint32_t>(l1_size_);
  h->refcount_order = Qcow2FileBuilder::kRefcountOrder;
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
  E2Q_RETURN_IF_ERROR(l2_->Flush());
  finished_ = true;
  // The L1 table; an empty disk has an empty one (qemu accepts any aligned
  // offset).  Then refcounts, then the header.
  E2Q_ASSIGN_OR_RETURN(uint64_t l1_offset, file_.AppendTable(l2_->l1()));
  Header h;
  E2Q_RETURN_IF_ERROR(BuildHeader(&h));
  h.l1_table_offset = l1_offset;
  return file_.Finish(&h);
}

}  // namespace e2q::qcow2
