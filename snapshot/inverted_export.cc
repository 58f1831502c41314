// Inverted export: one pass per state through the ordinary export pipeline
// (selection, scrambling, copy), each into its own state of one
// Qcow2MultiWriter, which stores only clusters that differ from the state
// before.
#include "snapshot/inverted_export.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "lib/ext4/ext2_fs.h"
#include "lib/image/digest_sink.h"
#include "lib/image/image_sink.h"
#include "lib/image/provenance.h"
#include "lib/image/stamp.h"
#include "lib/qcow2/cluster_compressor.h"
#include "lib/qcow2/qcow2_multi_writer.h"
#include "snapshot/next3.h"

namespace e2q::snapshot {

namespace {

struct StateSource {
  qcow2::StateInfo info;
  io::File* file = nullptr;
  std::unique_ptr<io::File> owned;  // a snapshot image
  std::unique_ptr<ext4::Filesystem> fs;
};

std::string BaseName(const std::string& path, uint32_t id) {
  if (path.empty() || path == "-") return "snapshot-" + std::to_string(id);
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Copies one state into `target` through the export pipeline; with
// `record`, the digest of the state's content goes into it and the record
// into `writer`'s header (the active layer's provenance).
Status CopyState(const InvertedExportOptions& o, StateSource* s,
                 qcow2::ClusterTarget* target,
                 qcow2::ClusterCompressor* compressor,
                 qcow2::Qcow2MultiWriter* writer,
                 const image::Provenance* record) {
  image::PlanOptions po;
  po.all_data = o.all_data;
  po.scramble = o.scramble;
  E2Q_ASSIGN_OR_RETURN(image::ExportPlan plan,
                       image::PlanExport(*s->fs, s->file->name(), po));
  if (o.warn) {
    for (const image::Warning& w : plan.warnings) o.warn(w.object, w.what);
  }
  const uint32_t bs = s->fs->block_size();
  if (o.progress.begin) {
    o.progress.begin("Copying " + s->info.name, plan.blocks.size(), bs);
  }
  std::unique_ptr<image::ImageSink> qcow2_sink =
      image::NewQcow2Sink(target, compressor);
  image::ImageSink* sink_ptr = qcow2_sink.get();
  std::unique_ptr<image::ImageSink> digest_sink;
  if (record != nullptr) {
    E2Q_RETURN_IF_ERROR(record->Validate());
    image::Provenance r = *record;
    E2Q_ASSIGN_OR_RETURN(
        digest_sink, image::NewDigestSink(
                         qcow2_sink.get(), r.guest_size, 1,
                         [writer, r](const image::Digest128& digest) mutable {
                           r.digest = digest;
                           writer->SetExtensions({qcow2::HeaderExtension{
                               qcow2::kExtE2qProvenance, r.Encode()}});
                           return Status::OK();
                         }));
    sink_ptr = digest_sink.get();
  }
  E2Q_ASSIGN_OR_RETURN(
      image::CopyStats stats,
      image::CopyPlan(plan, s->file, sink_ptr, o.progress.update));
  if (stats.blocks_past_source_end > 0 && o.warn) {
    o.warn(s->file->name(), std::to_string(stats.blocks_past_source_end) +
                                " selected blocks lie past the end of the "
                                "source and were imaged as zeros");
  }
  if (o.progress.finish) o.progress.finish();
  return Status::OK();
}

}  // namespace

Status ExportAllStates(io::File* device, const std::string& device_path,
                       const InvertedExportOptions& o) {
  auto warn = [&o](const std::string& object, const std::string& what) {
    if (o.warn) o.warn(object, what);
  };
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<Next3> next3, Next3::Open(device));
  if (next3->needs_recovery()) warn(device_path, Next3::RecoveryWarning());

  // Oldest exportable snapshot first, the live filesystem last.
  // qcow2 snapshot dates are 32-bit seconds.
  auto date_of = [](int64_t t) {
    return static_cast<uint32_t>(std::clamp<int64_t>(t, 0, UINT32_MAX));
  };
  std::vector<StateSource> states;
  const auto& list = next3->snapshots();
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    if (it->state != SnapshotState::kActive &&
        it->state != SnapshotState::kFrozen) {
      warn(device_path, "snapshot " + std::to_string(it->id) + " is " +
                            StateName(it->state) +
                            " and cannot be exported; left out");
      continue;
    }
    StateSource s;
    s.info.id_str = std::to_string(it->id);
    s.info.name = BaseName(it->path, it->id);
    s.info.date_sec = date_of(it->created);
    E2Q_ASSIGN_OR_RETURN(s.owned, next3->OpenImage(it->id));
    s.file = s.owned.get();
    states.push_back(std::move(s));
  }
  {
    StateSource live;
    live.info.id_str = "0";
    live.info.name = "current";
    live.info.date_sec = date_of(o.created);
    live.file = device;
    states.push_back(std::move(live));
  }
  uint64_t max_size = 0;
  uint32_t bs = 0;
  bool meta_bg = false;
  for (StateSource& s : states) {
    E2Q_ASSIGN_OR_RETURN(
        s.fs, ext4::Filesystem::Open(s.file, ext4::Filesystem::OpenOptions()));
    s.info.virtual_size = s.fs->byte_size();
    max_size = std::max(max_size, s.info.virtual_size);
    bs = s.fs->block_size();
    meta_bg = meta_bg || s.fs->meta_bg();
  }

  E2Q_ASSIGN_OR_RETURN(
      uint32_t bits,
      image::ClusterBitsFor(
          max_size,
          image::ExportPreferredBits(bs, o.all_data, max_size, meta_bg),
          o.cluster_size));
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<DurableOutput> out, o.create_output());
  qcow2::MultiWriterOptions wo;
  wo.version = o.qcow2_version;
  wo.cluster_bits = bits;
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<qcow2::Qcow2MultiWriter> writer,
                       qcow2::Qcow2MultiWriter::Create(out->file(), wo));
  E2Q_ASSIGN_OR_RETURN(
      std::unique_ptr<qcow2::ClusterCompressor> compressor,
      image::NewCompressor(o.compress, bits, [&](uint8_t type) {
        return writer->SetCompressionType(type);
      }));
  // Provenance of the file: kind multi-state, the live filesystem's
  // identity, the snapshot IDs held, the digest of the active layer.
  const ext4::Filesystem& live = *states.back().fs;
  image::Provenance record =
      image::NewProvenance(image::ImageKind::kMultiState,
                           states.back().info.virtual_size, o.created);
  record.flags = image::Provenance::kFlagLive;
  if (o.all_data) record.flags |= image::Provenance::kFlagAllData;
  if (o.scramble) record.flags |= image::Provenance::kFlagScrambled;
  record.fs_uuid = live.uuid();
  record.label = live.label();
  record.block_size = live.block_size();
  record.blocks_count = live.blocks_count();
  for (auto it = states.rbegin() + 1; it != states.rend(); ++it) {
    record.snapshot_ids.push_back(
        static_cast<uint32_t>(std::stoul(it->info.id_str)));
  }
  for (size_t i = 0; i < states.size(); ++i) {
    StateSource& s = states[i];
    E2Q_ASSIGN_OR_RETURN(qcow2::ClusterTarget * target,
                         writer->BeginState(s.info));
    const bool last = i + 1 == states.size();
    E2Q_RETURN_IF_ERROR(CopyState(o, &s, target, compressor.get(), writer.get(),
                                  last ? &record : nullptr));
    if (!last) s.fs.reset();
  }
  E2Q_RETURN_IF_ERROR(writer->Finish());
  return out->Commit();
}

}  // namespace e2q::snapshot
