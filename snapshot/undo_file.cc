// Undo file: writing with Qcow2MultiWriter (state 1 = new content as
// snapshot "rollback-ID", state 2 = original content as the active layer),
// reading with Qcow2Reader plus a walk of both L1/L2 trees for the set of
// mapped blocks.
#include "snapshot/undo_file.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "lib/base/endian.h"
#include "lib/base/is_zero.h"
#include "lib/image/content_digest.h"
#include "lib/image/image_sink.h"
#include "lib/io/forwarding_file.h"
#include "lib/qcow2/cluster_dedup.h"
#include "lib/qcow2/qcow2_format.h"
#include "lib/qcow2/qcow2_multi_writer.h"

namespace e2q::snapshot {

namespace {

constexpr char kRecordMagic[8] = {'E', '2', 'Q', 'U', 'N', 'D', 'O', '1'};
constexpr uint32_t kRecordVersion = 1;
constexpr size_t kRecordBytes = 80;
constexpr size_t kStateOffset = 12;
constexpr uint64_t kChunkBytes = 8 << 20;

std::vector<uint8_t> EncodeRecord(const UndoIdentity& id) {
  std::vector<uint8_t> r(kRecordBytes, 0);
  std::memcpy(&r[0], kRecordMagic, 8);
  StoreBE32(&r[8], kRecordVersion);
  StoreBE32(&r[12], static_cast<uint32_t>(id.state));
  std::memcpy(&r[16], id.uuid.data(), 16);
  StoreBE32(&r[32], id.snapshot_id);
  StoreBE32(&r[36], id.block_size);
  StoreBE64(&r[40], id.device_size);
  StoreBE64(&r[48], id.blocks);
  StoreBE64(&r[56], id.original_sum);
  StoreBE64(&r[64], id.target_sum);
  return r;
}

Status DecodeRecord(const std::string& name, const std::vector<uint8_t>& r,
                    UndoIdentity* id) {
  if (r.size() != kRecordBytes || std::memcmp(&r[0], kRecordMagic, 8) != 0 ||
      LoadBE32(&r[8]) != kRecordVersion) {
    return Status::Corruption(name + ": undo file: unknown undo record");
  }
  uint32_t state = LoadBE32(&r[12]);
  if (state < 1 || state > 3) {
    return Status::Corruption(name + ": undo file: bad state " +
                              std::to_string(state));
  }
  id->state = static_cast<UndoState>(state);
  std::memcpy(id->uuid.data(), &r[16], 16);
  id->snapshot_id = LoadBE32(&r[32]);
  id->block_size = LoadBE32(&r[36]);
  id->device_size = LoadBE64(&r[40]);
  id->blocks = LoadBE64(&r[48]);
  id->original_sum = LoadBE64(&r[56]);
  id->target_sum = LoadBE64(&r[64]);
  return Status::OK();
}

uint32_t Log2Exact(uint32_t v) {
  uint32_t b = 0;
  while ((uint64_t{1} << b) < v) ++b;
  return (uint64_t{1} << b) == v ? b : 0;
}

// The content digest (lib/image/content_digest.h) of a guest disk given as
// pieces at increasing offsets, zeros elsewhere.
class SparseDigest {
 public:
  explicit SparseDigest(uint64_t guest_size)
      : digest_(guest_size), chunk_(image::kDigestChunkSize, 0) {}
  void Feed(uint64_t offset, const uint8_t* data, size_t len) {
    while (len > 0) {
      const uint64_t index = offset >> image::kDigestChunkBits;
      if (have_ && index != index_) Close();
      index_ = index;
      have_ = true;
      const size_t in = offset & (image::kDigestChunkSize - 1);
      const size_t n = std::min(len, image::kDigestChunkSize - in);
      std::memcpy(&chunk_[in], data, n);
      offset += n;
      data += n;
      len -= n;
    }
  }
  image::Digest128 Final() {
    if (have_) Close();
    return digest_.Final();
  }

 private:
  void Close() {
    image::Digest128 h;
    if (image::HashChunk(chunk_.data(), &h)) digest_.Add(index_, h);
    std::fill(chunk_.begin(), chunk_.end(), 0);
    have_ = false;
  }
  image::ContentDigest digest_;
  std::vector<uint8_t> chunk_;
  uint64_t index_ = 0;
  bool have_ = false;
};

// Adds the non-zero clusters [first, first + n) of `data` (back to back)
// to `t`, storing only those it cannot reuse (an equal one stored before).
Status AddClusters(qcow2::ClusterTarget* t, uint64_t first, const uint8_t* data,
                   uint64_t n, std::vector<uint64_t>* indexes,
                   std::vector<uint8_t>* reusable) {
  const uint64_t cs = t->cluster_size();
  while (n > 0) {
    const uint64_t m = std::min<uint64_t>(n, qcow2::ClusterDedup::kMaxBatch);
    indexes->resize(m);
    for (uint64_t k = 0; k < m; ++k) (*indexes)[k] = first + k;
    E2Q_RETURN_IF_ERROR(t->FindReusable(indexes->data(), data, m, reusable));
    for (uint64_t k = 0; k < m;) {
      if ((*reusable)[k]) {
        E2Q_RETURN_IF_ERROR(t->AddReusedCluster(first + k));
        ++k;
        continue;
      }
      uint64_t run = 1;
      while (k + run < m && !(*reusable)[k + run]) ++run;
      E2Q_RETURN_IF_ERROR(t->AddDataClusters(first + k, data + k * cs, run));
      k += run;
    }
    first += m;
    data += m * cs;
    n -= m;
  }
  return Status::OK();
}

// Adds one layer's blocks of `source`, clusters = blocks, to `target`.
Status WriteLayer(io::File* source, const BlockSet& blocks, uint32_t bs,
                  qcow2::ClusterTarget* t, ContentSum* sum,
                  const std::function<void(uint64_t)>& progress, uint64_t* done,
                  SparseDigest* digest) {
  std::vector<uint8_t> buf, reusable;
  std::vector<uint64_t> indexes;
  for (const BlockRun& run : blocks.Runs()) {
    for (uint64_t b = run.start; b < run.start + run.count;) {
      uint64_t n =
          std::min<uint64_t>(run.start + run.count - b, kChunkBytes / bs);
      buf.resize(n * bs);
      E2Q_RETURN_IF_ERROR(source->ReadAt(b * bs, buf.data(), buf.size()));
      sum->Update(buf.data(), buf.size());
      if (digest) digest->Feed(b * bs, buf.data(), buf.size());
      for (uint64_t k = 0; k < n;) {
        const uint8_t* p = &buf[k * bs];
        if (IsZero(p, bs)) {
          E2Q_RETURN_IF_ERROR(t->AddZeroCluster(b + k));
          ++k;
          continue;
        }
        uint64_t m = 1;
        while (k + m < n && !IsZero(&buf[(k + m) * bs], bs)) ++m;
        E2Q_RETURN_IF_ERROR(AddClusters(t, b + k, p, m, &indexes, &reusable));
        k += m;
      }
      b += n;
      *done += n;
      if (progress) progress(*done);
    }
  }
  return t->Finish();
}

// The guest clusters an L1 table maps (any non-zero L2 entry).
Status MappedClusters(io::File* file, const qcow2::Header& h,
                      uint64_t l1_offset, uint32_t l1_size, BlockSet* out) {
  const uint64_t cs = h.cluster_size();
  const uint64_t per = qcow2::L2Entries(h.cluster_bits);
  E2Q_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  std::vector<uint8_t> l1(uint64_t{l1_size} * 8), l2(cs);
  E2Q_RETURN_IF_ERROR(file->ReadAt(l1_offset, l1.data(), l1.size()));
  for (uint32_t i = 0; i < l1_size; ++i) {
    const uint64_t table = LoadBE64(&l1[i * 8]) & qcow2::kL1OffsetMask;
    if (table == 0) continue;
    if (table % cs != 0 || table + cs > size) {
      return Status::Corruption(file->name() + ": undo file: L2 table at " +
                                qcow2::Hex(table) + " outside the file");
    }
    E2Q_RETURN_IF_ERROR(file->ReadAt(table, l2.data(), cs));
    for (uint64_t j = 0; j < per; ++j) {
      if ((LoadBE64(&l2[j * 8]) & ~qcow2::kOflagCopied) != 0) {
        out->Add(i * per + j);
      }
    }
  }
  return Status::OK();
}

}  // namespace

void ContentSum::Update(const uint8_t* data, size_t len) {
  while (len > 0) {
    uInt n = static_cast<uInt>(std::min<size_t>(len, 1u << 30));
    crc_ = static_cast<uint32_t>(crc32(crc_, data, n));
    adler_ = static_cast<uint32_t>(adler32(adler_, data, n));
    data += n;
    len -= n;
  }
}

std::string RollbackSnapshotName(uint32_t snapshot_id) {
  if (snapshot_id == 0) return "install";
  return "rollback-" + std::to_string(snapshot_id);
}

Status WriteUndoFile(io::File* device, io::File* target, const BlockSet& blocks,
                     UndoIdentity* id, io::File* out,
                     const std::function<void(uint64_t)>& progress,
                     const image::Provenance* provenance) {
  const uint32_t bits = Log2Exact(id->block_size);
  if (bits < qcow2::kMinClusterBits || bits > qcow2::kMaxClusterBits) {
    return Status::NotSupported(out->name() + ": undo file: block size " +
                                std::to_string(id->block_size) +
                                " cannot be a qcow2 cluster size");
  }
  qcow2::MultiWriterOptions o;
  o.version = 3;
  o.cluster_bits = bits;
  // Equal blocks, in either content and at any offset, are stored once.
  // The original content becomes a snapshot too ("original", one more L1
  // table) only when it shares a block within itself, so that qemu still
  // copies before it writes (lib/qcow2/qcow2_multi_writer.h).
  o.last_state_is_snapshot = false;
  o.share_identical = true;
  E2Q_ASSIGN_OR_RETURN(auto w, qcow2::Qcow2MultiWriter::Create(out, o));
  qcow2::StateInfo info;
  info.id_str = "1";
  info.name = RollbackSnapshotName(id->snapshot_id);
  info.virtual_size = id->device_size;
  ContentSum target_sum, original_sum;
  uint64_t done = 0;
  E2Q_ASSIGN_OR_RETURN(qcow2::ClusterTarget * t, w->BeginState(info));
  E2Q_RETURN_IF_ERROR(WriteLayer(target, blocks, id->block_size, t, &target_sum,
                                 progress, &done, nullptr));
  info.id_str = "2";
  info.name = kOriginalSnapshotName;
  E2Q_ASSIGN_OR_RETURN(t, w->BeginState(info));
  const uint64_t guest_size = (id->device_size + 511) & ~uint64_t{511};
  SparseDigest digest(guest_size);
  E2Q_RETURN_IF_ERROR(WriteLayer(device, blocks, id->block_size, t,
                                 &original_sum, progress, &done, &digest));
  id->blocks = blocks.size();
  id->original_sum = original_sum.value();
  id->target_sum = target_sum.value();
  id->state = UndoState::kPrepared;
  qcow2::HeaderExtension ext;
  ext.type = kExtE2qUndo;
  ext.data = EncodeRecord(*id);
  std::vector<qcow2::HeaderExtension> exts{ext};
  if (provenance != nullptr) {
    image::Provenance p = *provenance;
    p.guest_size = guest_size;
    p.digest = digest.Final();
    E2Q_RETURN_IF_ERROR(p.Validate().WithContext(out->name()));
    exts.push_back(
        qcow2::HeaderExtension{qcow2::kExtE2qProvenance, p.Encode()});
  }
  w->SetExtensions(std::move(exts));
  return w->Finish();
}

Result<std::unique_ptr<UndoFile>> UndoFile::Open(
    std::unique_ptr<io::File> file) {
  std::unique_ptr<UndoFile> u(new UndoFile());
  u->name_ = file->name();
  u->file_ = file.get();
  E2Q_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  std::vector<uint8_t> head(std::min<uint64_t>(size, 2 << 20));
  E2Q_RETURN_IF_ERROR(file->ReadAt(0, head.data(), head.size()));
  E2Q_ASSIGN_OR_RETURN(
      qcow2::Header h,
      qcow2::Header::DecodeFrom(u->name_, head.data(), head.size()));
  const qcow2::HeaderExtension* rec = nullptr;
  for (const auto& e : h.extensions) {
    if (e.type == kExtE2qUndo) rec = &e;
  }
  if (rec == nullptr) {
    return Status::InvalidArgument(u->name_ +
                                   ": not an e2qimage undo file (no undo "
                                   "record)");
  }
  E2Q_RETURN_IF_ERROR(DecodeRecord(u->name_, rec->data, &u->id_));
  const uint8_t* at = std::search(head.data(), head.data() + h.cluster_size(),
                                  kRecordMagic, kRecordMagic + 8);
  u->record_offset_ = static_cast<uint64_t>(at - head.data());
  const UndoIdentity& id = u->id_;
  if (id.block_size != h.cluster_size() || h.size < id.device_size ||
      id.device_size / id.block_size == 0) {
    return Status::Corruption(u->name_ +
                              ": undo file: record does not match the image "
                              "geometry");
  }

  E2Q_ASSIGN_OR_RETURN(u->original_, qcow2::Qcow2Reader::Open(std::move(file)));
  // The second reader gets a non-owning handle on the same file.
  E2Q_ASSIGN_OR_RETURN(
      u->target_,
      qcow2::Qcow2Reader::Open(std::make_unique<io::ForwardingFile>(u->file_)));
  const std::string snap = RollbackSnapshotName(id.snapshot_id);
  E2Q_RETURN_IF_ERROR(
      u->target_->SelectSnapshot(snap).WithContext(u->name_ + ": undo file"));
  const auto& snaps = u->target_->snapshots();
  const int idx = qcow2::FindSnapshot(snaps, snap);
  BlockSet target_blocks;
  E2Q_RETURN_IF_ERROR(
      MappedClusters(u->file_, h, h.l1_table_offset, h.l1_size, &u->blocks_));
  E2Q_RETURN_IF_ERROR(MappedClusters(u->file_, h, snaps[idx].l1_table_offset,
                                     snaps[idx].l1_size, &target_blocks));
  if (u->blocks_.Runs() != target_blocks.Runs() ||
      u->blocks_.size() != id.blocks) {
    return Status::Corruption(u->name_ +
                              ": undo file: the original and the new content "
                              "do not cover the same " +
                              std::to_string(id.blocks) + " blocks");
  }
  const std::vector<BlockRun> runs = u->blocks_.Runs();
  if (!runs.empty() &&
      runs.back().start + runs.back().count > id.device_size / id.block_size) {
    return Status::Corruption(u->name_ +
                              ": undo file: blocks past the device size");
  }
  return u;
}

Status UndoFile::Read(bool target, uint64_t first, uint64_t count,
                      uint8_t* buf) {
  qcow2::Qcow2Reader* r = target ? target_.get() : original_.get();
  return r->Read(first * id_.block_size, buf, count * id_.block_size);
}

Status UndoFile::SetState(UndoState state) {
  uint8_t v[4];
  StoreBE32(v, static_cast<uint32_t>(state));
  E2Q_RETURN_IF_ERROR(file_->WriteAt(record_offset_ + kStateOffset, v, 4));
  id_.state = state;
  return file_->Sync();
}

}  // namespace e2q::snapshot
