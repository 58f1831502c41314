// Rollback modes: the device and undo file opened, the sequences of
// snapshot/rollback_run.h run, their progress and summary shown.
#include "e2qimage/rollback_mode.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "e2qimage/creation_time.h"
#include "e2qimage/progress.h"
#include "e2qimage/signals.h"
#include "e2qimage/source_device.h"
#include "e2qimage/warning.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/io/output_file.h"
#include "lib/qcow2/qcow2_guest_file.h"
#include "lib/qcow2/qcow2_reader.h"
#include "snapshot/install_run.h"
#include "snapshot/rollback_run.h"

namespace e2q::cli {

namespace {

using snapshot::ApplyResult;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

Result<std::unique_ptr<io::File>> OpenDevice(const Options& o,
                                             const std::string& path) {
  E2Q_RETURN_IF_ERROR(ext4::CheckNotMounted(path));
  std::unique_ptr<io::File> device;
  if (o.dry_run) {
    E2Q_ASSIGN_OR_RETURN(device, io::OpenFileForRead(path));
  } else {
    E2Q_ASSIGN_OR_RETURN(device,
                         io::OpenFileForUpdate(path, /*exclusive=*/true));
  }
  // The device is written in place: a filesystem inside a qcow2 disk
  // image is not (its clusters would have to be allocated).
  E2Q_ASSIGN_OR_RETURN(bool is_qcow2,
                       qcow2::Qcow2Reader::IsQcow2(device.get()));
  if (is_qcow2) {
    return Status::NotSupported(
        path +
        ": a qcow2 image: -R, -U and -I write the filesystem in place, on a "
        "block device or a raw image file only");
  }
  return Paced(o, std::move(device));
}

Result<std::unique_ptr<io::File>> OpenUndo(const Options& o,
                                           const std::string& path) {
  return o.dry_run ? io::OpenFileForRead(path)
                   : io::OpenFileForUpdate(path, false);
}

// A new undo file: an OutputFile, known to the signal handler until it is
// committed.
class UndoOutputFile : public snapshot::DurableOutput {
 public:
  static Result<std::unique_ptr<snapshot::DurableOutput>> Create(
      const std::string& path) {
    E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::OutputFile> out,
                         io::OutputFile::Create(path));
    if (out->kind() != io::OutputFile::Kind::kRegular) {
      return Status::InvalidArgument(path +
                                     ": the undo file must be a regular file");
    }
    RegisterTempFile(out->temp_path());
    return std::unique_ptr<snapshot::DurableOutput>(
        new UndoOutputFile(std::move(out)));
  }
  io::File* file() override { return out_->file(); }
  Status Commit() override {
    E2Q_RETURN_IF_ERROR(out_->Commit());
    UnregisterTempFile();
    return Status::OK();
  }

 private:
  explicit UndoOutputFile(std::unique_ptr<io::OutputFile> out)
      : out_(std::move(out)) {}
  std::unique_ptr<io::OutputFile> out_;
};

// The phases of a run as progress lines (-p).
snapshot::RunProgress ProgressOf(const Options& o,
                                 std::shared_ptr<std::unique_ptr<Progress>> p) {
  snapshot::RunProgress rp;
  rp.begin = [&o, p](const std::string& what, uint64_t total, uint64_t unit) {
    *p = std::make_unique<Progress>(o.progress, what, "blocks", total, unit);
  };
  rp.update = [p](uint64_t done) {
    if (*p) (*p)->Update(done);
  };
  rp.finish = [p]() {
    if (*p) (*p)->Finish();
    p->reset();
  };
  return rp;
}

// `target` names the new content: "rolled back" or "installed".
void Report(const Options& o, const std::string& what, const ApplyResult& r,
            const char* target = "rolled back") {
  printf(
      "%s: %llu blocks recorded, %llu original, %llu %s, %llu "
      "partly written; %llu blocks %s",
      what.c_str(), static_cast<unsigned long long>(r.blocks),
      static_cast<unsigned long long>(r.at_original),
      static_cast<unsigned long long>(r.at_target), target,
      static_cast<unsigned long long>(r.torn),
      static_cast<unsigned long long>(r.written),
      o.dry_run ? "would be written" : "written");
  if (!o.dry_run) {
    printf(" in %llu writes", static_cast<unsigned long long>(r.writes));
  }
  printf("\n");
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
  snapshot::RollbackRequest req;
  req.snapshot_id = spec->id;
  req.dry_run = o.dry_run;
  req.undo_exists = Exists(undo_path);
  if (!req.undo_exists && !o.dry_run) {
    E2Q_ASSIGN_OR_RETURN(req.created, CreationTime());
  }
  req.open_undo = [&] { return OpenUndo(o, undo_path); };
  req.create_undo = [&] { return UndoOutputFile::Create(undo_path); };
  req.warn = [&](const std::string& w) { Warn(device_path, w); };
  req.progress = ProgressOf(o, std::make_shared<std::unique_ptr<Progress>>());
  E2Q_ASSIGN_OR_RETURN(snapshot::RollbackOutcome r,
                       snapshot::RollBack(device.get(), req));
  if (r.only_counted) {
    printf("%s: %llu blocks would be written (no undo file written)\n",
           what.c_str(), static_cast<unsigned long long>(r.to_write));
    return Status::OK();
  }
  Report(o, what, r.applied);
  return Status::OK();
}

Status RunUndo(const Options& o) {
  const std::string& undo_path = o.args[0];
  const std::string& device_path = o.args[1];
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> device,
                       OpenDevice(o, device_path));
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> undo, OpenUndo(o, undo_path));
  uint32_t id = 0;
  E2Q_ASSIGN_OR_RETURN(
      ApplyResult r,
      snapshot::Undo(
          device.get(), std::move(undo), o.dry_run,
          ProgressOf(o, std::make_shared<std::unique_ptr<Progress>>()), &id));
  Report(o,
         device_path + (id == 0 ? std::string(": undo of the install")
                                : ": undo of the rollback to snapshot " +
                                      std::to_string(id)),
         r, id == 0 ? "installed" : "rolled back");
  return Status::OK();
}

Status RunInstall(const Options& o) {
  const std::string& image_path = o.args[0];
  const std::string& device_path = o.args[1];
  const std::string& undo_path = o.args[2];
  qcow2::Qcow2Reader::OpenOptions ro;
  ro.open_backing = false;  // the replica side has no base: the device is it
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> image_file,
                       io::OpenFileForRead(image_path));
  E2Q_ASSIGN_OR_RETURN(bool is_qcow2,
                       qcow2::Qcow2Reader::IsQcow2(image_file.get()));
  if (!is_qcow2) {
    return Status::InvalidArgument(image_path +
                                   ": install: not a qcow2 image (-I installs "
                                   "images written by e2qimage -Q)");
  }
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<qcow2::Qcow2Reader> reader,
                       qcow2::Qcow2Reader::Open(std::move(image_file), ro));
  qcow2::Qcow2Reader* r = reader.get();
  qcow2::Qcow2GuestFile image(std::move(reader));
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> device,
                       OpenDevice(o, device_path));
  const std::string what = device_path + ": install of " + image_path;
  snapshot::InstallRequest req;
  req.dry_run = o.dry_run;
  req.undo_exists = Exists(undo_path);
  if (!req.undo_exists && !o.dry_run) {
    E2Q_ASSIGN_OR_RETURN(req.created, CreationTime());
  }
  req.open_undo = [&] { return OpenUndo(o, undo_path); };
  req.create_undo = [&] { return UndoOutputFile::Create(undo_path); };
  req.progress = ProgressOf(o, std::make_shared<std::unique_ptr<Progress>>());
  E2Q_ASSIGN_OR_RETURN(snapshot::InstallOutcome out,
                       snapshot::Install(&image, r, device.get(), req));
  const auto ull = [](uint64_t v) {
    return static_cast<unsigned long long>(v);
  };
  if (out.already_applied) {
    printf(
        "%s: already applied: the device holds the image's content (%llu "
        "blocks of %u bytes checked); nothing written\n",
        what.c_str(), ull(out.candidates), out.block_size);
    return Status::OK();
  }
  if (out.only_counted) {
    printf(
        "%s: %llu of %llu blocks of %u bytes would be written (%llu bytes), "
        "%llu of them as zeroing; no undo file written\n",
        what.c_str(), ull(out.to_write), ull(out.candidates), out.block_size,
        ull(out.to_write * out.block_size), ull(out.to_zero));
    return Status::OK();
  }
  Report(o, what, out.applied, "installed");
  return Status::OK();
}

}  // namespace e2q::cli
