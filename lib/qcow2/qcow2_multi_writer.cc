// Qcow2MultiWriter: several guest states in one qcow2 file.
//
// File layout, in order of offset:
//   cluster 0        header (written last)
//   clusters 1..     state after state, oldest first: its new data clusters
//                    (normal or packed compressed) and its new L2 tables,
//                    each table appended when the guest moves past its range
//   then             the active L1 table (a copy of the last state's), every
//                    state's L1 table, the snapshot table, refcount table
//                    and refcount blocks
// Reuse is decided against the state just before, at the same guest index,
// by reading its stored cluster back: the two states of a filesystem that a
// snapshot separates differ in few blocks, so almost every candidate is a
// hit, and reads go in runs of up to 8 MiB.
#include "lib/qcow2/qcow2_multi_writer.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "lib/base/endian.h"
#include "lib/qcow2/qcow2_l2_stream.h"
#include "lib/qcow2/qcow2_snapshot_table.h"

namespace e2q::qcow2 {

namespace {

constexpr uint64_t kMaxReadBack = 8 << 20;

uint64_t DivRoundUp(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace

// One state being written: its L1 table and the L2 table being filled (an
// L2 stream whose tables carry no COPIED flag: they may be shared, and the
// active L1 sets COPIED where due), and a cursor over the previous state's
// L2 tables.
class Qcow2MultiWriter::State : public ClusterTarget {
 public:
  State(Qcow2MultiWriter* w, StateInfo info, const Done* prev)
      : w_(w),
        info_(std::move(info)),
        prev_(prev),
        l2_entries_(L2Entries(w_->cluster_bits())),
        guest_clusters_(DivRoundUp(info_.virtual_size, w_->cluster_size())),
        begin_(w_->file_.pos()),
        l2_(&w_->file_, guest_clusters_, 0, "state " + info_.id_str) {
    l2_.set_share_hook([this](uint64_t l1_index,
                              const std::vector<uint64_t>& l2) {
      return ShareL2(l1_index, l2);
    });
  }

  uint64_t cluster_size() const override { return w_->cluster_size(); }
  uint32_t cluster_bits() const override { return w_->cluster_bits(); }
  uint32_t version() const override { return w_->opts_.version; }
  uint64_t guest_clusters() const override { return guest_clusters_; }
  bool finished() const { return finished_; }

  Status AddDataClusters(uint64_t index, const uint8_t* data,
                         uint64_t n) override {
    const uint64_t cs = cluster_size();
    Qcow2FileBuilder& file = w_->file_;
    while (n > 0) {
      uint64_t span = std::min(n, l2_entries_ - index % l2_entries_);
      if (index + span > guest_clusters_) return PastEnd();
      E2Q_RETURN_IF_ERROR(Take(index, span));
      E2Q_RETURN_IF_ERROR(file.PadToCluster());
      const uint64_t host = file.pos();
      E2Q_RETURN_IF_ERROR(file.Append(data, span * cs));
      E2Q_RETURN_IF_ERROR(file.Reference(host, file.pos()));
      for (uint64_t k = 0; k < span; ++k) {
        l2_.Set(index + k, host + k * cs);
        Remember(index + k, {host + k * cs, cs});
      }
      w_->stats_.stored_clusters += span;
      index += span;
      data += span * cs;
      n -= span;
    }
    return Status::OK();
  }

  Status AddCompressedCluster(uint64_t index, const uint8_t* data,
                              size_t len) override {
    if (len == 0 || len >= cluster_size()) {
      return Status::InvalidArgument(w_->out_->name() +
                                     ": qcow2: compressed cluster of " +
                                     std::to_string(len) + " bytes");
    }
    E2Q_RETURN_IF_ERROR(Take(index));
    CompressedLayout layout(cluster_bits());
    Qcow2FileBuilder& file = w_->file_;
    const uint64_t host = file.pos();
    if (host + len > layout.offset_mask) {
      return Status::NotSupported(w_->out_->name() +
                                  ": qcow2: compressed data beyond the "
                                  "offset range of this cluster size");
    }
    E2Q_RETURN_IF_ERROR(file.Append(data, len));
    const uint64_t entry = layout.Encode(host, len);
    E2Q_RETURN_IF_ERROR(w_->file_.ReferenceEntry(entry));
    l2_.Set(index, entry);
    Remember(index, {entry, len});
    ++w_->stats_.compressed_clusters;
    return Status::OK();
  }

  Status AddZeroCluster(uint64_t index) override {
    if (w_->opts_.version < 3) {
      return Status::InvalidArgument(
          w_->out_->name() +
          ": qcow2: zero clusters need compat 1.1 (version 3)");
    }
    E2Q_RETURN_IF_ERROR(Take(index));
    l2_.Set(index, kOflagZero);
    return Status::OK();
  }

  bool reuses_clusters() const override {
    return prev_ != nullptr || w_->dedup_ != nullptr;
  }

  Status FindReusable(const uint64_t* indexes, const uint8_t* data, size_t n,
                      std::vector<uint8_t>* reusable) override {
    reusable->assign(n, 0);
    hashes_.clear();
    if (prev_ != nullptr) {
      E2Q_RETURN_IF_ERROR(FindInPrevious(indexes, data, n, reusable));
    }
    if (!w_->dedup_ || n > ClusterDedup::kMaxBatch) return Status::OK();
    // The rest against every cluster stored so far; the reuses then go in
    // guest order.
    const uint64_t cs = cluster_size();
    std::vector<Pending> found(pending_.begin(), pending_.end());
    // Clusters of this batch to be stored, by hash: a later equal one
    // reuses the entry the earlier gets.
    std::unordered_map<uint64_t, size_t> in_batch;
    batch_entries_.clear();
    for (size_t k = 0; k < n; ++k) {
      if ((*reusable)[k]) continue;
      const uint8_t* p = data + k * cs;
      const uint64_t h = ClusterDedup::Hash(p, cs);
      E2Q_ASSIGN_OR_RETURN(StoredCluster stored,
                           w_->dedup_->FindCluster(h, p, n));
      auto it = in_batch.find(h);
      if (stored.entry != 0) {
        found.push_back({indexes[k], stored.entry, 0});
      } else if (it != in_batch.end() &&
                 std::memcmp(data + it->second * cs, p, cs) == 0) {
        found.push_back({indexes[k], 0, indexes[it->second]});
      } else {
        in_batch.emplace(h, k);
        hashes_.emplace_back(indexes[k], h);
        continue;
      }
      (*reusable)[k] = 1;
      ++w_->stats_.equal_clusters;
    }
    std::sort(
        found.begin(), found.end(),
        [](const Pending& a, const Pending& b) { return a.index < b.index; });
    pending_.assign(found.begin(), found.end());
    return Status::OK();
  }

  // FindReusable() against the previous state's clusters at the same
  // guest indexes.
  Status FindInPrevious(const uint64_t* indexes, const uint8_t* data, size_t n,
                        std::vector<uint8_t>* reusable) {
    const uint64_t cs = cluster_size();
    CompressedLayout layout(cluster_bits());
    const uint64_t end = w_->file_.pos();
    struct Candidate {
      size_t k;
      uint64_t entry, off, len;
    };
    std::vector<Candidate> cands;
    for (size_t k = 0; k < n; ++k) {
      E2Q_ASSIGN_OR_RETURN(uint64_t e, PrevEntry(indexes[k]));
      if (e & kOflagCompressed) {
        uint64_t off = layout.Offset(e);
        cands.push_back({k, e, off, std::min(layout.Length(e), end - off)});
      } else if ((e & kL2OffsetMask) != 0 && !(e & kOflagZero)) {
        cands.push_back({k, e, e & kL2OffsetMask, cs});
      }
    }
    // Read the candidates back in windows of nearby host bytes.
    for (size_t i = 0; i < cands.size();) {
      uint64_t lo = cands[i].off, hi = cands[i].off + cands[i].len;
      size_t j = i + 1;
      while (j < cands.size() && cands[j].off >= lo &&
             std::max(hi, cands[j].off + cands[j].len) - lo <= kMaxReadBack) {
        hi = std::max(hi, cands[j].off + cands[j].len);
        ++j;
      }
      readback_.resize(hi - lo);
      E2Q_RETURN_IF_ERROR(w_->file_.ReadBack(lo, readback_.data(), hi - lo));
      for (; i < j; ++i) {
        const Candidate& c = cands[i];
        const uint8_t* stored = readback_.data() + (c.off - lo);
        const uint8_t* mine = data + c.k * cs;
        if (c.entry & kOflagCompressed) {
          if (!w_->decompressor_) {
            E2Q_ASSIGN_OR_RETURN(w_->decompressor_, ClusterDecompressor::Create(
                                                        w_->compression_type_));
          }
          cluster_.resize(cs);
          E2Q_RETURN_IF_ERROR(
              w_->decompressor_->Decompress(stored, c.len, cluster_.data(), cs)
                  .WithContext(w_->out_->name() + ": qcow2: read back"));
          stored = cluster_.data();
        }
        if (std::memcmp(stored, mine, cs) == 0) {
          (*reusable)[c.k] = 1;
          pending_.push_back({indexes[c.k], c.entry, 0});
        }
      }
    }
    return Status::OK();
  }

  Status AddReusedCluster(uint64_t index) override {
    if (pending_.empty() || pending_.front().index != index) {
      return Status::InvalidArgument(
          w_->out_->name() + ": qcow2: guest cluster " + std::to_string(index) +
          " was not found reusable");
    }
    const Pending r = pending_.front();
    pending_.pop_front();
    uint64_t entry = r.entry & ~kOflagCopied;
    if (r.entry == 0) {
      auto it = batch_entries_.find(r.same_as);
      if (it == batch_entries_.end()) {
        return Status::InvalidArgument(
            w_->out_->name() + ": qcow2: guest cluster " +
            std::to_string(index) + " reuses cluster " +
            std::to_string(r.same_as) + ", which was not stored");
      }
      entry = it->second;
    }
    E2Q_RETURN_IF_ERROR(Take(index));
    E2Q_RETURN_IF_ERROR(w_->file_.ReferenceEntry(entry));
    l2_.Set(index, entry);
    const uint64_t host = (entry & kOflagCompressed)
                              ? CompressedLayout(cluster_bits()).Offset(entry)
                              : entry & kL2OffsetMask;
    if (host >= begin_) shares_within_ = true;
    ++w_->stats_.reused_clusters;
    return Status::OK();
  }

  Status Finish() override {
    if (finished_) return Status::OK();
    E2Q_RETURN_IF_ERROR(l2_.Flush());
    finished_ = true;
    w_->done_.push_back(Done{std::move(info_), l2_.TakeL1(), shares_within_});
    return Status::OK();
  }

 private:
  Status PastEnd() const {
    return Status::InvalidArgument(w_->out_->name() +
                                   ": qcow2: guest clusters past the end of "
                                   "state " +
                                   info_.id_str);
  }

  // Refuses writes after Finish(), then takes clusters [index, index + n)
  // from the L2 stream.
  Status Take(uint64_t index, uint64_t n = 1) {
    if (finished_) {
      return Status::InvalidArgument(w_->out_->name() +
                                     ": qcow2: write after end of state " +
                                     info_.id_str);
    }
    return l2_.Take(index, n);
  }

  // The previous state's L2 table for L1 index `l1_index` in prev_l2_, or
  // false when it has none there.
  Result<bool> LoadPrev(uint64_t l1_index) {
    if (prev_ == nullptr || l1_index >= prev_->l1.size() ||
        prev_->l1[l1_index] == 0) {
      return false;
    }
    if (prev_loaded_ != l1_index) {
      E2Q_RETURN_IF_ERROR(
          w_->file_.ReadTable(prev_->l1[l1_index] & kL1OffsetMask, &prev_l2_));
      prev_loaded_ = l1_index;
    }
    return true;
  }

  Result<uint64_t> PrevEntry(uint64_t index) {
    E2Q_ASSIGN_OR_RETURN(bool have, LoadPrev(index / l2_entries_));
    return have ? prev_l2_[index % l2_entries_] : 0;
  }

  // The stream's share hook: a finished table equal to the previous
  // state's table of the same slot is not written again; that table gets
  // one more reference and stands for it.
  Result<uint64_t> ShareL2(uint64_t l1_index,
                           const std::vector<uint64_t>& l2) {
    E2Q_ASSIGN_OR_RETURN(bool have, LoadPrev(l1_index));
    if (have && prev_l2_ == l2) {
      const uint64_t table = prev_->l1[l1_index] & kL1OffsetMask;
      E2Q_RETURN_IF_ERROR(w_->file_.Reference(table, table + cluster_size()));
      ++w_->stats_.shared_l2_tables;
      return table;
    }
    if (!w_->dedup_) return uint64_t{0};
    // Else any equal table stored before, or this one, appended here so
    // that it can be found later.
    uint64_t hash = 0;
    E2Q_ASSIGN_OR_RETURN(uint64_t table, w_->dedup_->FindTable(l2, &hash));
    if (table != 0) {
      E2Q_RETURN_IF_ERROR(w_->file_.Reference(table, table + cluster_size()));
      if (table >= begin_) shares_within_ = true;
      ++w_->stats_.equal_l2_tables;
      return table;
    }
    E2Q_ASSIGN_OR_RETURN(table, w_->file_.AppendTable(l2));
    w_->dedup_->RememberTable(hash, table);
    return table;
  }

  // A cluster of the batch FindReusable() looked at is stored: the index
  // learns it.
  void Remember(uint64_t index, StoredCluster stored) {
    if (!pending_.empty()) batch_entries_[index] = stored.entry;
    while (!hashes_.empty() && hashes_.front().first < index) {
      hashes_.pop_front();
    }
    if (w_->dedup_ && !hashes_.empty() && hashes_.front().first == index) {
      w_->dedup_->RememberCluster(hashes_.front().second, stored);
      hashes_.pop_front();
    }
  }

  Qcow2MultiWriter* w_;
  StateInfo info_;
  const Done* prev_;
  const uint64_t l2_entries_;
  const uint64_t guest_clusters_;
  // Where this state's clusters and tables start in the file: an entry at
  // or past it that is used twice is shared within the state.
  const uint64_t begin_;
  Qcow2L2Stream l2_;
  bool finished_ = false;
  bool shares_within_ = false;

  uint64_t prev_loaded_ = UINT64_MAX;
  std::vector<uint64_t> prev_l2_;
  // Clusters FindReusable() accepted: guest index and the entry to copy,
  // or entry 0 and the guest index of an equal cluster of the batch that
  // is stored first.
  struct Pending {
    uint64_t index, entry, same_as;
  };
  std::deque<Pending> pending_;
  // Entries the batch's stored clusters got (for `same_as`).
  std::unordered_map<uint64_t, uint64_t> batch_entries_;
  // Hashes of the batch's clusters that are to be stored (guest index).
  std::deque<std::pair<uint64_t, uint64_t>> hashes_;
  std::vector<uint8_t> readback_;
  std::vector<uint8_t> cluster_;
};

Qcow2MultiWriter::Qcow2MultiWriter(io::File* out, MultiWriterOptions options)
    : out_(out), opts_(std::move(options)), file_(out, opts_.cluster_bits) {}

Qcow2MultiWriter::~Qcow2MultiWriter() = default;

Result<std::unique_ptr<Qcow2MultiWriter>> Qcow2MultiWriter::Create(
    io::File* out, MultiWriterOptions options) {
  if (options.version != 2 && options.version != 3) {
    return Status::InvalidArgument(out->name() +
                                   ": qcow2: unsupported version " +
                                   std::to_string(options.version));
  }
  if (options.cluster_bits < kMinClusterBits ||
      options.cluster_bits > kMaxClusterBits) {
    return Status::InvalidArgument(
        out->name() +
        ": qcow2: cluster size must be a power of two from 512 B to 2 MiB");
  }
  std::unique_ptr<Qcow2MultiWriter> w(
      new Qcow2MultiWriter(out, std::move(options)));
  if (w->opts_.share_identical) {
    w->dedup_ = std::make_unique<ClusterDedup>(&w->file_);
  }
  return w;
}

Status Qcow2MultiWriter::SetCompressionType(uint8_t type) {
  E2Q_RETURN_IF_ERROR(
      CheckCompressionType(out_->name(), type, opts_.version, !done_.empty() || state_));
  compression_type_ = type;
  if (dedup_) dedup_->set_compression_type(type);
  return Status::OK();
}

Result<ClusterTarget*> Qcow2MultiWriter::BeginState(StateInfo info) {
  if (finished_ || (state_ && !state_->finished())) {
    return Status::InvalidArgument(out_->name() +
                                   ": qcow2: state begun out of order");
  }
  if (info.id_str.empty()) {
    return Status::InvalidArgument(out_->name() +
                                   ": qcow2: snapshot with an empty ID");
  }
  for (const Done& d : done_) {
    if (d.info.id_str == info.id_str) {
      return Status::InvalidArgument(
          out_->name() + ": qcow2: duplicate snapshot ID " + info.id_str);
    }
  }
  info.virtual_size = (info.virtual_size + 511) & ~uint64_t{511};
  if (!L1Fits(info.virtual_size, cluster_bits())) {
    return Status::InvalidArgument(
        out_->name() + ": qcow2: a " + std::to_string(info.virtual_size) +
        "-byte disk needs an L1 table larger than qemu's 32 MiB limit with " +
        std::to_string(cluster_size()) + "-byte clusters");
  }
  if (done_.size() + 1 > kMaxSnapshots) {
    return Status::NotSupported(out_->name() + ": qcow2: too many snapshots");
  }
  // done_ only grows by push_back after this point while the state lives,
  // so keep the previous state's L1 in a stable place.
  prev_copy_ = done_.empty() ? nullptr : std::make_unique<Done>(done_.back());
  state_ = std::make_unique<State>(this, std::move(info), prev_copy_.get());
  return state_.get();
}

Result<uint64_t> Qcow2MultiWriter::WriteActiveL1(bool last_is_snapshot) {
  const Done& last = done_.back();
  std::vector<uint64_t> l2;
  if (last_is_snapshot) {
    // A second L1 path to the last state's tables and data: everything
    // reachable from the active layer ends with refcount >= 2.
    for (uint64_t e : last.l1) {
      if (e == 0) continue;
      const uint64_t table = e & kL1OffsetMask;
      E2Q_RETURN_IF_ERROR(file_.Reference(table, table + cluster_size()));
      E2Q_RETURN_IF_ERROR(file_.ReadTable(table, &l2));
      for (uint64_t entry : l2)
        E2Q_RETURN_IF_ERROR(file_.ReferenceEntry(entry));
    }
    return file_.AppendTable(last.l1);
  }
  // The last state's own tables: refcounts are final now, so COPIED can
  // be set exactly where they are 1 (qemu-img check demands it).
  std::vector<uint64_t> l1 = last.l1;
  std::vector<uint8_t> raw(cluster_size());
  for (uint64_t& e : l1) {
    if (e == 0) continue;
    const uint64_t table = e & kL1OffsetMask;
    if (file_.RefcountAt(table) == 1) {
      E2Q_RETURN_IF_ERROR(file_.ReadTable(table, &l2));
      for (uint64_t& entry : l2) {
        const uint64_t host = entry & kL2OffsetMask;
        if (!(entry & kOflagCompressed) && host != 0 &&
            file_.RefcountAt(host) == 1) {
          entry |= kOflagCopied;
        }
      }
      for (size_t i = 0; i < l2.size(); ++i) StoreBE64(&raw[i * 8], l2[i]);
      E2Q_RETURN_IF_ERROR(file_.Rewrite(table, raw.data(), raw.size()));
      e = table | kOflagCopied;
    }
  }
  return file_.AppendTable(l1);
}

Status Qcow2MultiWriter::Finish() {
  if (finished_) return Status::OK();
  if (done_.empty() || (state_ && !state_->finished())) {
    return Status::InvalidArgument(out_->name() +
                                   ": qcow2: no finished state to write");
  }
  finished_ = true;
  state_.reset();
  prev_copy_.reset();

  const Done& last = done_.back();
  const bool last_is_snapshot =
      opts_.last_state_is_snapshot || last.shares_within;
  E2Q_ASSIGN_OR_RETURN(uint64_t active_l1, WriteActiveL1(last_is_snapshot));

  std::vector<SnapshotEntry> entries;
  auto first = done_.rbegin();
  if (!last_is_snapshot) ++first;
  for (auto it = first; it != done_.rend(); ++it) {
    SnapshotEntry s;
    E2Q_ASSIGN_OR_RETURN(s.l1_table_offset, file_.AppendTable(it->l1));
    s.l1_size = static_cast<uint32_t>(it->l1.size());
    s.id_str = it->info.id_str;
    s.name = it->info.name;
    s.date_sec = it->info.date_sec;
    s.date_nsec = it->info.date_nsec;
    s.disk_size = it->info.virtual_size;
    entries.push_back(std::move(s));
  }
  uint64_t snapshots_offset = 0;
  if (!entries.empty()) {
    E2Q_ASSIGN_OR_RETURN(std::vector<uint8_t> table,
                         EncodeSnapshotTable(entries));
    E2Q_RETURN_IF_ERROR(file_.PadToCluster());
    snapshots_offset = file_.pos();
    E2Q_RETURN_IF_ERROR(file_.Append(table.data(), table.size()));
    E2Q_RETURN_IF_ERROR(file_.Reference(snapshots_offset, file_.pos()));
  }

  Header h;
  h.version = opts_.version;
  h.cluster_bits = opts_.cluster_bits;
  h.size = last.info.virtual_size;
  h.l1_size = static_cast<uint32_t>(last.l1.size());
  h.l1_table_offset = active_l1;
  h.nb_snapshots = static_cast<uint32_t>(entries.size());
  h.snapshots_offset = snapshots_offset;
  h.compression_type = compression_type_;
  h.extensions = opts_.extensions;
  return file_.Finish(&h);
}

}  // namespace e2q::qcow2
