// Export mode: the device and the -x source opened, then the engine's plan
// and write, with warnings and progress shown.
#include "e2qimage/export_mode.h"

#include <memory>
#include <optional>

#include "e2qimage/creation_time.h"
#include "e2qimage/export_all_mode.h"
#include "e2qimage/output_checks.h"
#include "e2qimage/progress.h"
#include "e2qimage/signals.h"
#include "e2qimage/snapshot_source.h"
#include "e2qimage/source_device.h"
#include "e2qimage/warning.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/io/output_file.h"

namespace e2q::cli {

image::CompressOptions CompressOptionsOf(const Options& o) {
  image::CompressOptions c;
  c.level = o.compress_level;
  c.zstd = o.compress_zstd;
  c.threads = o.threads;
  return c;
}

void PrintWarnings(const std::vector<image::Warning>& warnings) {
  for (const image::Warning& w : warnings) Warn(w.object, w.what);
}

Status RunExport(const Options& o) {
  const std::string& device_path = o.args[0];
  const std::string& image_path = o.args[1];
  if (o.export_all_snapshots) {
    if (!o.backing.empty()) {
      return Status::NotSupported(device_path +
                                  ": export: -X cannot be combined with "
                                  "--backing");
    }
    return RunExportAll(o);
  }
  const std::optional<SnapshotSpec>& spec = o.export_snapshot;
  E2Q_RETURN_IF_ERROR(ext4::CheckNotMountedReadWrite(device_path, o.force));
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> device, OpenSourceDevice(o));
  // With -x, everything below reads the snapshot's normalised image
  // instead of the device: selection from the snapshot's own metadata.
  // -x ID1..ID2 reads ID2 (the device itself for ID1..live).
  io::File* source = device.get();
  SnapshotSource snapshot;
  if (spec) {
    E2Q_ASSIGN_OR_RETURN(snapshot, OpenSnapshotSource(o, device.get()));
    if (snapshot.image) {
      source = snapshot.image.get();
      if (snapshot.next3->needs_recovery()) {
        Warn(device_path, snapshot.next3->RecoveryWarning());
      }
    }
  }
  ext4::Filesystem::OpenOptions fo;
  fo.superblock = o.superblock;
  fo.block_size = o.blocksize;
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<ext4::Filesystem> fs,
                       ext4::Filesystem::Open(source, fo));

  image::PlanOptions po;
  po.all_data = o.all_data;
  po.backup_superblock = o.superblock;
  po.scramble = o.scramble;
  po.defer_dir_refs = true;  // to the copy, when the output is rewritable
  E2Q_ASSIGN_OR_RETURN(image::ExportPlan plan,
                       image::PlanExport(*fs, source->name(), po));
  PrintWarnings(plan.warnings);

  if (o.format == OutputFormat::kRaw) {
    E2Q_RETURN_IF_ERROR(CheckRawRoom(image_path, plan.byte_size));
  }
  E2Q_ASSIGN_OR_RETURN(
      std::unique_ptr<io::OutputFile> out,
      io::OutputFile::Create(image_path, plan.expected_bytes(), o.sync));
  RegisterTempFile(out->temp_path());

  image::WriteOptions wo;
  wo.qcow2 = o.format == OutputFormat::kQcow2;
  wo.sparse = out->sparse();
  wo.rewritable = out->kind() == io::OutputFile::Kind::kRegular;
  if (wo.qcow2) {
    wo.qcow2_version = o.qcow2_version;
    wo.cluster_size = o.cluster_size;
    wo.compress = CompressOptionsOf(o);
    E2Q_ASSIGN_OR_RETURN(wo.created, CreationTime());
    // The state held: snapshot ID, ID2 of a range, or the live filesystem.
    if (spec && !(spec->range && spec->to_live)) {
      wo.snapshot_id = spec->range ? spec->to : spec->id;
    }
    wo.all_data = o.all_data;
    wo.scramble = o.scramble;
    wo.share_identical = o.share;
    wo.backing = o.backing;
    wo.image_path = image_path;
    if (spec && spec->range) wo.base_snapshot_id = spec->id;
  }
  Progress progress(o.progress, "Copying", ExportUnit(o.all_data),
                    plan.blocks.size(), plan.block_size);
  wo.progress = [&](uint64_t done) { progress.Update(done); };
  E2Q_ASSIGN_OR_RETURN(
      image::ExportReport report,
      image::WriteExport(plan, *fs, source, device_path, out->file(), wo));
  PrintWarnings(report.warnings);
  E2Q_RETURN_IF_ERROR(out->Commit());
  UnregisterTempFile();
  progress.Finish();
  return Status::OK();
}

}  // namespace e2q::cli
