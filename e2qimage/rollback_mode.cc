// Rollback modes.  -R without an undo file: compute the normalised image of
// the snapshot (as -x), the blocks in use in it whose device content
// differs, write and commit the undo file (fsync, rename, directory
// fsync), and only then write the device.  -R with an existing undo file
// (a rerun after an interruption, or after -U) and -U use only the undo
// file: the device may no longer hold the next3 metadata.
#include "e2qimage/rollback_mode.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "e2qimage/creation_time.h"
#include "e2qimage/progress.h"
#include "e2qimage/signals.h"
#include "e2qimage/warning.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/image/provenance.h"
#include "lib/image/stamp.h"
#include "lib/io/output_file.h"
#include "snapshot/next3.h"
#include "snapshot/rollback.h"
#include "snapshot/undo_file.h"

namespace e2q::cli {

namespace {

using snapshot::ApplyOptions;
using snapshot::ApplyResult;
using snapshot::Direction;
using snapshot::UndoFile;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

Result<std::unique_ptr<io::File>> OpenDevice(const Options& o,
                                             const std::string& path) {
  E2Q_RETURN_IF_ERROR(ext4::CheckNotMounted(path));
  if (o.dry_run) return io::OpenFileForRead(path);
  return io::OpenFileForUpdate(path, /*exclusive=*/true);
}

Result<ApplyResult> Apply(const Options& o, UndoFile* undo, io::File* device,
                          Direction dir) {
  const uint64_t bs = undo->identity().block_size;
  Progress progress(o.progress,
                    dir == Direction::kRollback ? "Rolling back" : "Undoing",
                    "blocks", 2 * undo->blocks().size(), bs);
  ApplyOptions ao;
  ao.dry_run = o.dry_run;
  ao.progress = [&](uint64_t done) { progress.Update(done); };
  E2Q_ASSIGN_OR_RETURN(ApplyResult r, ApplyUndo(undo, device, dir, ao));
  progress.Finish();
  return r;
}

void Report(const Options& o, const std::string& what, const ApplyResult& r) {
  printf(
      "%s: %llu blocks recorded, %llu original, %llu rolled back, %llu "
      "partly written; %llu blocks %s",
      what.c_str(), static_cast<unsigned long long>(r.blocks),
      static_cast<unsigned long long>(r.at_original),
      static_cast<unsigned long long>(r.at_target),
      static_cast<unsigned long long>(r.torn),
      static_cast<unsigned long long>(r.written),
      o.dry_run ? "would be written" : "written");
  if (!o.dry_run) {
    printf(" in %llu writes", static_cast<unsigned long long>(r.writes));
  }
  printf("\n");
}

// Writes UNDO-FILE for rolling `device` back to snapshot `id`; returns the
// number of blocks to write (with -n, writes nothing).
Result<uint64_t> PrepareUndo(const Options& o, uint32_t id, io::File* device,
                             const std::string& undo_path) {
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<snapshot::Next3> next3,
                       snapshot::Next3::Open(device));
  if (next3->needs_recovery()) Warn(device->name(), next3->RecoveryWarning());
  if (!next3->has_snapshot()) {
    return Status::InvalidArgument(device->name() + ": snapshot " +
                                   std::to_string(id) +
                                   ": not a next3 filesystem with snapshots");
  }
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> image, next3->OpenImage(id));
  E2Q_ASSIGN_OR_RETURN(
      std::unique_ptr<ext4::Filesystem> fs,
      ext4::Filesystem::Open(image.get(), ext4::Filesystem::OpenOptions()));
  E2Q_ASSIGN_OR_RETURN(uint64_t device_size, device->Size());
  if (fs->byte_size() > device_size) {
    return Status::InvalidArgument(
        device->name() + ": snapshot " + std::to_string(id) +
        " is larger than the device; cannot roll back");
  }
  const uint32_t bs = fs->block_size();
  E2Q_ASSIGN_OR_RETURN(BlockSet in_use, ext4::InUseBlocks(*fs));
  Progress compare(o.progress, "Comparing", "blocks", in_use.size(), bs);
  E2Q_ASSIGN_OR_RETURN(
      BlockSet diff,
      snapshot::DiffBlocks(device, image.get(), in_use, bs,
                           [&](uint64_t done) { compare.Update(done); }));
  compare.Finish();
  if (o.dry_run) return diff.size();

  snapshot::UndoIdentity ident;
  E2Q_ASSIGN_OR_RETURN(ident.uuid, snapshot::ReadFsUuid(device));
  ident.snapshot_id = id;
  ident.block_size = bs;
  ident.device_size = device_size;
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::OutputFile> out,
                       io::OutputFile::Create(undo_path));
  if (out->kind() != io::OutputFile::Kind::kRegular) {
    return Status::InvalidArgument(undo_path +
                                   ": the undo file must be a regular file");
  }
  RegisterTempFile(out->temp_path());
  // Provenance: kind undo, the filesystem the device holds now.
  E2Q_ASSIGN_OR_RETURN(
      std::unique_ptr<ext4::Filesystem> live,
      ext4::Filesystem::Open(device, ext4::Filesystem::OpenOptions()));
  E2Q_ASSIGN_OR_RETURN(image::Provenance record,
                       NewProvenance(image::ImageKind::kUndo, device_size));
  record.flags = 0;
  record.snapshot_ids = {id};
  record.fs_uuid = live->uuid();
  record.label = live->label();
  record.block_size = live->block_size();
  record.blocks_count = live->blocks_count();
  live.reset();
  Progress saving(o.progress, "Saving", "blocks", 2 * diff.size(), bs);
  E2Q_RETURN_IF_ERROR(snapshot::WriteUndoFile(
      device, image.get(), diff, &ident, out->file(),
      [&](uint64_t done) { saving.Update(done); }, &record));
  // The undo file is durable and in place before the device is touched.
  E2Q_RETURN_IF_ERROR(out->Commit());
  UnregisterTempFile();
  saving.Finish();
  return diff.size();
}

Result<std::unique_ptr<UndoFile>> OpenUndo(const Options& o,
                                           const std::string& path) {
  Result<std::unique_ptr<io::File>> f =
      o.dry_run ? io::OpenFileForRead(path)
                : io::OpenFileForUpdate(path, false);
  E2Q_RETURN_IF_ERROR(f.status());
  return UndoFile::Open(std::move(f).value());
}

}  // namespace

Status RunRollback(const Options& o) {
  const std::string& device_path = o.args[0];
  const std::string& undo_path = o.args[1];
  std::optional<SnapshotSpec> spec = ParseSnapshotSpec(o.rollback_id);
  if (!spec || spec->range) {
    return Status::InvalidArgument(device_path + ": -R " + o.rollback_id +
                                   ": expected a single snapshot ID");
  }
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> device,
                       OpenDevice(o, device_path));
  const std::string what =
      device_path + ": rollback to snapshot " + std::to_string(spec->id);
  if (!Exists(undo_path)) {
    E2Q_ASSIGN_OR_RETURN(uint64_t n,
                         PrepareUndo(o, spec->id, device.get(), undo_path));
    if (o.dry_run) {
      printf("%s: %llu blocks would be written (no undo file written)\n",
             what.c_str(), static_cast<unsigned long long>(n));
      return Status::OK();
    }
  }
  // From here on only the undo file counts, also on a rerun.
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<UndoFile> undo, OpenUndo(o, undo_path));
  if (undo->identity().snapshot_id != spec->id) {
    return Status::InvalidArgument(
        undo_path +
        ": refusing: this undo file belongs to a rollback to "
        "snapshot " +
        std::to_string(undo->identity().snapshot_id) + ", not " +
        std::to_string(spec->id));
  }
  E2Q_ASSIGN_OR_RETURN(
      ApplyResult r, Apply(o, undo.get(), device.get(), Direction::kRollback));
  Report(o, what, r);
  return Status::OK();
}

Status RunUndo(const Options& o) {
  const std::string& undo_path = o.args[0];
  const std::string& device_path = o.args[1];
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> device,
                       OpenDevice(o, device_path));
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<UndoFile> undo, OpenUndo(o, undo_path));
  E2Q_ASSIGN_OR_RETURN(ApplyResult r,
                       Apply(o, undo.get(), device.get(), Direction::kUndo));
  Report(o,
         device_path + ": undo of the rollback to snapshot " +
             std::to_string(undo->identity().snapshot_id),
         r);
  return Status::OK();
}

}  // namespace e2q::cli
