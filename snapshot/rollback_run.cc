// RollBack and Undo (see rollback_run.h): the sequences of -R and -U.
#include "snapshot/rollback_run.h"

#include <utility>

#include "lib/ext4/ext2_fs.h"
#include "lib/image/provenance.h"
#include "lib/image/stamp.h"
#include "snapshot/next3.h"
#include "snapshot/undo_file.h"

namespace e2q::snapshot {

namespace {

// Writes and commits the undo file for rolling `device` back to snapshot
// `id`; returns the number of blocks to write (with dry_run, only counts).
Result<uint64_t> PrepareUndo(io::File* device, const RollbackRequest& req) {
  const uint32_t id = req.snapshot_id;
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<Next3> next3, Next3::Open(device));
  if (next3->needs_recovery() && req.warn) req.warn(Next3::RecoveryWarning());
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
  E2Q_ASSIGN_OR_RETURN(BlockSet diff,
                       Phase(req.progress, "Comparing", in_use.size(), bs, 1,
                             [&](const std::function<void(uint64_t)>& update) {
                               return DiffBlocks(device, image.get(), in_use,
                                                 bs, update);
                             }));
  if (req.dry_run) return diff.size();

  UndoIdentity ident;
  E2Q_ASSIGN_OR_RETURN(ident.uuid, ReadFsUuid(device));
  ident.snapshot_id = id;
  ident.block_size = bs;
  ident.device_size = device_size;
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<DurableOutput> out, req.create_undo());
  // Provenance: kind undo, the filesystem the device holds now.
  E2Q_ASSIGN_OR_RETURN(
      std::unique_ptr<ext4::Filesystem> live,
      ext4::Filesystem::Open(device, ext4::Filesystem::OpenOptions()));
  image::Provenance record =
      image::NewProvenance(image::ImageKind::kUndo, device_size, req.created);
  record.flags = 0;
  record.snapshot_ids = {id};
  record.fs_uuid = live->uuid();
  record.label = live->label();
  record.block_size = live->block_size();
  record.blocks_count = live->blocks_count();
  live.reset();
  E2Q_ASSIGN_OR_RETURN(
      uint64_t n,
      Phase(
          req.progress, "Saving", diff.size(), bs, 2,
          [&](const std::function<void(uint64_t)>& update) -> Result<uint64_t> {
            E2Q_RETURN_IF_ERROR(WriteUndoFile(device, image.get(), diff, &ident,
                                              out->file(), update, &record));
            // Rule 1: durable and in place before the device is touched.
            E2Q_RETURN_IF_ERROR(out->Commit());
            return diff.size();
          }));
  return n;
}

Result<ApplyResult> Apply(UndoFile* undo, io::File* device, Direction dir,
                          bool dry_run, const RunProgress& progress) {
  const uint64_t bs = undo->identity().block_size;
  return Phase(progress,
               dry_run                       ? "Comparing"
               : dir == Direction::kRollback ? "Rolling back"
                                             : "Undoing",
               undo->blocks().size(), bs, dry_run ? 1 : 2,
               [&](const std::function<void(uint64_t)>& update) {
                 ApplyOptions ao;
                 ao.dry_run = dry_run;
                 ao.progress = update;
                 return ApplyUndo(undo, device, dir, ao);
               });
}

}  // namespace

Result<RollbackOutcome> RollBack(io::File* device, const RollbackRequest& req) {
  RollbackOutcome outcome;
  if (!req.undo_exists) {
    E2Q_ASSIGN_OR_RETURN(outcome.to_write, PrepareUndo(device, req));
    if (req.dry_run) {
      outcome.only_counted = true;
      return outcome;
    }
  }
  // From here on only the undo file counts, also on a rerun.
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file, req.open_undo());
  const std::string name = file->name();
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<UndoFile> undo,
                       UndoFile::Open(std::move(file)));
  if (undo->identity().snapshot_id != req.snapshot_id) {
    return Status::InvalidArgument(
        name +
        ": refusing: this undo file belongs to a rollback to "
        "snapshot " +
        std::to_string(undo->identity().snapshot_id) + ", not " +
        std::to_string(req.snapshot_id));
  }
  E2Q_ASSIGN_OR_RETURN(outcome.applied,
                       Apply(undo.get(), device, Direction::kRollback,
                             req.dry_run, req.progress));
  return outcome;
}

Result<ApplyResult> Undo(io::File* device, std::unique_ptr<io::File> undo_file,
                         bool dry_run, const RunProgress& progress,
                         uint32_t* snapshot_id) {
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<UndoFile> undo,
                       UndoFile::Open(std::move(undo_file)));
  if (snapshot_id != nullptr) *snapshot_id = undo->identity().snapshot_id;
  return Apply(undo.get(), device, Direction::kUndo, dry_run, progress);
}

}  // namespace e2q::snapshot
