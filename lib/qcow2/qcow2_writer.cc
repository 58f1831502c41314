// Qcow2Writer: streaming qcow2 writer.
//
// File layout, in order of offset:
//   cluster 0            header (written last)
//   (clusters < 4 KiB)   holes up to offset 4096, so that the guest's
//                        superblock never probes at offset 1024
//   then                 guest data in guest order; compressed clusters
//                        packed at byte granularity; finished L2 tables
//                        appended together, 8 MiB of them at a time
//   then                 the L1 table, with shared clusters the snapshot's
//                        L1 table and the snapshot table, then the
//                        refcount table and refcount blocks
// At most 8 MiB of L2 tables are held in memory.  With share_identical,
// entries are written without COPIED flags; Finish() then either adds the
// "as-written" snapshot (something was shared) or sets the flags in the
// tables it reads back (nothing was: the file is then the unshared one).
#include "lib/qcow2/qcow2_writer.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "lib/base/endian.h"
#include "lib/qcow2/qcow2_snapshot_table.h"

namespace e2q::qcow2 {

namespace {

uint64_t DivRoundUp(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Clusters hashed ahead before a run of new ones is stored.
constexpr uint64_t kMaxRun = 256;
// Finished L2 tables kept back and appended together, so that compressed
// clusters stay packed between them (Qcow2L2Stream::set_pending_bytes).
constexpr uint64_t kPendingTableBytes = 8 << 20;

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
  Qcow2Writer* raw = w.get();
  if (w->opts_.share_identical) {
    w->dedup_ = std::make_unique<ClusterDedup>(&w->file_);
    w->l2_.emplace(&w->file_, w->guest_clusters_, 0, "the disk");
    w->l2_->set_share_hook([raw](uint64_t, const std::vector<uint64_t>& l2) {
      return raw->ShareTable(l2);
    });
  } else {
    w->l2_.emplace(&w->file_, w->guest_clusters_, kOflagCopied, "the disk");
  }
  w->l2_->set_pending_bytes(kPendingTableBytes);
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
  if (dedup_) dedup_->set_compression_type(type);
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
    if (!dedup_) {
      E2Q_RETURN_IF_ERROR(StoreRun(index, data, span));
    } else {
      // Runs of clusters seen nowhere before are stored in one piece; a
      // cluster equal to a stored one, or to one earlier in the run (which
      // then ends the run, so that it is stored and found), is shared.
      for (uint64_t k = 0; k < span;) {
        run_hashes_.clear();
        StoredCluster found;
        while (k + run_hashes_.size() < span && run_hashes_.size() < kMaxRun) {
          const uint8_t* p = data + (k + run_hashes_.size()) * cs;
          // A cluster FindReusable() hashed was looked up there already
          // (and not found, or it would not be stored).
          uint64_t h;
          const bool checked = PendingHash(index + k + run_hashes_.size(), &h);
          if (!checked) {
            const uint64_t i = index + k + run_hashes_.size();
            h = i - known_first_ < known_.size() ? known_[i - known_first_] : 0;
            if (h == 0) h = ClusterDedup::Hash(p, cs);
          }
          if (std::find(run_hashes_.begin(), run_hashes_.end(), h) !=
              run_hashes_.end()) {
            break;
          }
          if (!checked) {
            E2Q_ASSIGN_OR_RETURN(found, dedup_->FindCluster(h, p));
            if (found.entry != 0) break;
          }
          run_hashes_.push_back(h);
        }
        const uint64_t run = run_hashes_.size();
        if (run > 0) {
          E2Q_RETURN_IF_ERROR(StoreRun(index + k, data + k * cs, run));
          const uint64_t host = file_.pos() - run * cs;
          for (uint64_t r = 0; r < run; ++r) {
            dedup_->RememberCluster(run_hashes_[r], {host + r * cs, cs});
          }
          k += run;
        }
        if (found.entry != 0) {
          E2Q_RETURN_IF_ERROR(Reuse(index + k, found));
          ++k;
        }
      }
    }
    index += span;
    data += span * cs;
    n -= span;
  }
  return Status::OK();
}

Status Qcow2Writer::StoreRun(uint64_t index, const uint8_t* data, uint64_t n) {
  const uint64_t cs = cluster_size();
  E2Q_RETURN_IF_ERROR(Take(index, n));
  E2Q_RETURN_IF_ERROR(file_.PadToCluster());
  const uint64_t host = file_.pos();
  E2Q_RETURN_IF_ERROR(file_.Append(data, n * cs));
  E2Q_RETURN_IF_ERROR(file_.Reference(host, file_.pos()));
  const uint64_t flags = dedup_ ? 0 : kOflagCopied;
  for (uint64_t k = 0; k < n; ++k) {
    l2_->Set(index + k, (host + k * cs) | flags);
    if (!reusable_.empty()) batch_entries_[index + k] = {host + k * cs, cs};
  }
  data_clusters_ += n;
  return Status::OK();
}

Status Qcow2Writer::Reuse(uint64_t index, StoredCluster stored) {
  const uint64_t entry = stored.entry;
  E2Q_RETURN_IF_ERROR(Take(index));
  E2Q_RETURN_IF_ERROR(file_.ReferenceEntry(entry));
  l2_->Set(index, entry);
  shared_ = true;
  ++shared_clusters_;
  CompressedLayout layout(opts_.cluster_bits);
  const bool compressed = (entry & kOflagCompressed) != 0;
  saved_bytes_ += stored.bytes;
  // While sharing may still be undone (Unshare), what is shared is known.
  if (saved_bytes_ <= SnapshotCost(l1_size_)) {
    shared_targets_[compressed ? layout.Offset(entry) : entry & kL2OffsetMask] =
        stored.bytes;
  } else {
    shared_targets_.clear();
  }
  return Status::OK();
}

void Qcow2Writer::KnowHashes(uint64_t index, const uint64_t* hashes, size_t n) {
  if (!dedup_) return;
  known_first_ = index;
  known_.assign(hashes, hashes + n);
}

bool Qcow2Writer::PendingHash(uint64_t index, uint64_t* hash) {
  while (!batch_hashes_.empty() && batch_hashes_.front().first < index) {
    batch_hashes_.pop_front();
  }
  if (batch_hashes_.empty() || batch_hashes_.front().first != index) {
    return false;
  }
  *hash = batch_hashes_.front().second;
  return true;
}

Status Qcow2Writer::FindReusable(const uint64_t* indexes, const uint8_t* data,
                                 size_t n, std::vector<uint8_t>* reusable) {
  reusable->assign(n, 0);
  if (!dedup_ || n > ClusterDedup::kMaxBatch) return Status::OK();
  const uint64_t cs = cluster_size();
  batch_hashes_.clear();
  batch_entries_.clear();
  // Hashes of this batch's clusters to be stored, and where they are.
  std::unordered_map<uint64_t, size_t> in_batch;
  for (size_t k = 0; k < n; ++k) {
    const uint8_t* p = data + k * cs;
    const uint64_t h = ClusterDedup::Hash(p, cs);
    E2Q_ASSIGN_OR_RETURN(StoredCluster stored, dedup_->FindCluster(h, p, n));
    if (stored.entry != 0) {
      (*reusable)[k] = 1;
      reusable_.push_back({indexes[k], stored, 0});
      continue;
    }
    auto it = in_batch.find(h);
    if (it != in_batch.end() &&
        std::memcmp(data + it->second * cs, p, cs) == 0) {
      (*reusable)[k] = 1;
      reusable_.push_back({indexes[k], StoredCluster{}, indexes[it->second]});
      continue;
    }
    in_batch.emplace(h, k);
    batch_hashes_.emplace_back(indexes[k], h);
  }
  return Status::OK();
}

Status Qcow2Writer::AddReusedCluster(uint64_t index) {
  if (reusable_.empty() || reusable_.front().index != index) {
    return Status::InvalidArgument(out_->name() + ": qcow2: guest cluster " +
                                   std::to_string(index) +
                                   " was not found reusable");
  }
  const Reusable r = reusable_.front();
  reusable_.pop_front();
  StoredCluster stored = r.stored;
  if (stored.entry == 0) {
    auto it = batch_entries_.find(r.same_as);
    if (it == batch_entries_.end()) {
      return Status::InvalidArgument(
          out_->name() + ": qcow2: guest cluster " + std::to_string(index) +
          " reuses cluster " + std::to_string(r.same_as) +
          ", which was not stored");
    }
    stored = it->second;
  }
  return Reuse(index, stored);
}

Result<uint64_t> Qcow2Writer::ShareTable(const std::vector<uint64_t>& l2) {
  uint64_t hash = 0;
  E2Q_ASSIGN_OR_RETURN(uint64_t offset, dedup_->FindTable(l2, &hash));
  if (offset != 0) {
    E2Q_RETURN_IF_ERROR(file_.Reference(offset, offset + cluster_size()));
    shared_ = true;
    ++shared_tables_;
    saved_bytes_ += cluster_size();
    return offset;
  }
  E2Q_ASSIGN_OR_RETURN(offset, file_.AppendTable(l2));
  dedup_->RememberTable(hash, offset);
  return offset;
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
  // Pieces packed into a host cluster count towards its references: one
  // that sharing filled to the cap takes no more.
  if (dedup_ && file_.RefcountAt(file_.pos()) >= ClusterDedup::kShareCap) {
    E2Q_RETURN_IF_ERROR(file_.PadToCluster());
  }
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
  uint64_t hash;
  if (dedup_ && PendingHash(index, &hash)) {
    dedup_->RememberCluster(hash, {entry, len});
  }
  if (!reusable_.empty()) batch_entries_[index] = {entry, len};
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

// The snapshot's L1 table is a second path to every table and, through
// each, to every cluster: qemu counts each once more.
Status Qcow2Writer::ReferenceSnapshot(const std::vector<uint64_t>& l1) {
  std::vector<uint64_t> l2;
  for (uint64_t e : l1) {
    if (e == 0) continue;
    const uint64_t table = e & kL1OffsetMask;
    E2Q_RETURN_IF_ERROR(file_.Reference(table, table + cluster_size()));
    E2Q_RETURN_IF_ERROR(file_.ReadTable(table, &l2));
    for (uint64_t entry : l2) E2Q_RETURN_IF_ERROR(file_.ReferenceEntry(entry));
  }
  return Status::OK();
}

// Nothing was shared, so every table and stored cluster has refcount 1
// and takes the COPIED flag qemu expects there.
Status Qcow2Writer::SetCopiedFlags(std::vector<uint64_t>* l1) {
  std::vector<uint64_t> l2;
  std::vector<uint8_t> raw(cluster_size());
  for (uint64_t& e : *l1) {
    if (e == 0) continue;
    const uint64_t table = e & kL1OffsetMask;
    E2Q_RETURN_IF_ERROR(file_.ReadTable(table, &l2));
    bool changed = false;
    for (uint64_t& entry : l2) {
      const uint64_t host = entry & kL2OffsetMask;
      if (!(entry & kOflagCompressed) && host != 0 &&
          file_.RefcountAt(host) == 1) {
        entry |= kOflagCopied;
        changed = true;
      }
    }
    if (changed) {
      for (size_t i = 0; i < l2.size(); ++i) StoreBE64(&raw[i * 8], l2[i]);
      E2Q_RETURN_IF_ERROR(file_.Rewrite(table, raw.data(), raw.size()));
    }
    if (file_.RefcountAt(table) == 1) e |= kOflagCopied;
  }
  return Status::OK();
}

uint64_t Qcow2Writer::SnapshotCost(uint64_t l1_entries) const {
  const uint64_t cs = cluster_size();
  return DivRoundUp(l1_entries * 8, cs) * cs + cs;
}

Status Qcow2Writer::Unshare(std::vector<uint64_t>* l1) {
  const uint64_t cs = cluster_size();
  CompressedLayout layout(opts_.cluster_bits);
  std::unordered_set<uint64_t> tables, seen;
  std::vector<uint64_t> l2;
  std::vector<uint8_t> raw(cs), copy;
  for (uint64_t& e : *l1) {
    if (e == 0) continue;
    const uint64_t table = e & kL1OffsetMask;
    E2Q_RETURN_IF_ERROR(file_.ReadTable(table, &l2));
    // A table met again is a second set of references to its clusters:
    // each of them gets a copy, as does the table.
    const bool first = tables.insert(table).second;
    bool changed = false;
    for (uint64_t& entry : l2) {
      const bool compressed = (entry & kOflagCompressed) != 0;
      const uint64_t off =
          compressed ? layout.Offset(entry) : entry & kL2OffsetMask;
      // The first reference keeps a shared cluster; a table met again
      // holds only further references.
      if (off == 0) continue;
      auto target = shared_targets_.find(off);
      if (first &&
          (target == shared_targets_.end() || seen.insert(off).second)) {
        continue;
      }
      // Compressed data is copied at its exact length where known (a
      // table met again also holds pieces never shared on their own).
      uint64_t len = cs;
      if (compressed) {
        len = target != shared_targets_.end()
                  ? target->second
                  : std::min(layout.Length(entry), file_.pos() - off);
      }
      copy.resize(len);
      E2Q_RETURN_IF_ERROR(file_.ReadBack(off, copy.data(), len));
      if (!compressed) E2Q_RETURN_IF_ERROR(file_.PadToCluster());
      const uint64_t at = file_.pos();
      if (compressed && at + len > layout.offset_mask) {
        return Status::NotSupported(out_->name() +
                                    ": qcow2: compressed data beyond the "
                                    "offset range of this cluster size");
      }
      E2Q_RETURN_IF_ERROR(file_.Append(copy.data(), len));
      const uint64_t moved = compressed ? layout.Encode(at, len) : at;
      E2Q_RETURN_IF_ERROR(file_.ReferenceEntry(moved));
      E2Q_RETURN_IF_ERROR(file_.Unreference(
          off, off + (compressed ? layout.Length(entry) : cs)));
      entry = moved;
      changed = true;
    }
    if (!first) {
      E2Q_ASSIGN_OR_RETURN(uint64_t at, file_.AppendTable(l2));
      E2Q_RETURN_IF_ERROR(file_.Unreference(table, table + cs));
      e = at;
    } else if (changed) {
      for (size_t i = 0; i < l2.size(); ++i) StoreBE64(&raw[i * 8], l2[i]);
      E2Q_RETURN_IF_ERROR(file_.Rewrite(table, raw.data(), raw.size()));
    }
  }
  shared_ = false;
  shared_clusters_ = shared_tables_ = saved_bytes_ = 0;
  shared_targets_.clear();
  return Status::OK();
}

Status Qcow2Writer::Finish() {
  if (finished_) return Status::OK();
  E2Q_RETURN_IF_ERROR(l2_->Close());
  finished_ = true;
  std::vector<uint64_t> l1 = l2_->TakeL1();
  if (shared_ && saved_bytes_ <= SnapshotCost(l1.size())) {
    E2Q_RETURN_IF_ERROR(Unshare(&l1));
  }
  if (dedup_ && !shared_) E2Q_RETURN_IF_ERROR(SetCopiedFlags(&l1));
  if (shared_) E2Q_RETURN_IF_ERROR(ReferenceSnapshot(l1));
  // The L1 table; an empty disk has an empty one (qemu accepts any aligned
  // offset).  Then the snapshot, refcounts, and the header.
  E2Q_ASSIGN_OR_RETURN(uint64_t l1_offset, file_.AppendTable(l1));
  Header h;
  E2Q_RETURN_IF_ERROR(BuildHeader(&h));
  h.l1_table_offset = l1_offset;
  if (shared_) {
    SnapshotEntry snap;
    E2Q_ASSIGN_OR_RETURN(snap.l1_table_offset, file_.AppendTable(l1));
    snap.l1_size = static_cast<uint32_t>(l1.size());
    snap.id_str = kAsWrittenSnapshotId;
    snap.name = kAsWrittenSnapshotName;
    snap.date_sec = opts_.snapshot_date_sec;
    snap.disk_size = opts_.virtual_size;
    E2Q_ASSIGN_OR_RETURN(std::vector<uint8_t> table,
                         EncodeSnapshotTable({snap}));
    E2Q_RETURN_IF_ERROR(file_.PadToCluster());
    h.snapshots_offset = file_.pos();
    h.nb_snapshots = 1;
    E2Q_RETURN_IF_ERROR(file_.Append(table.data(), table.size()));
    E2Q_RETURN_IF_ERROR(file_.Reference(h.snapshots_offset, file_.pos()));
  }
  return file_.Finish(&h);
}

}  // namespace e2q::qcow2
