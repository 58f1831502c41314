// RunExportAll (see export_all_mode.h).
#include "e2qimage/export_all_mode.h"

#include <memory>
#include <string>

#include "e2qimage/creation_time.h"
#include "e2qimage/export_mode.h"
#include "e2qimage/progress.h"
#include "e2qimage/signals.h"
#include "e2qimage/source_device.h"
#include "e2qimage/warning.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/io/output_file.h"
#include "snapshot/inverted_export.h"

namespace e2q::cli {

namespace {

// The -X image: an OutputFile, known to the signal handler until it is
// committed.
class ImageOutputFile : public snapshot::DurableOutput {
 public:
  explicit ImageOutputFile(std::unique_ptr<io::OutputFile> out)
      : out_(std::move(out)) {
    RegisterTempFile(out_->temp_path());
  }
  io::File* file() override { return out_->file(); }
  Status Commit() override {
    E2Q_RETURN_IF_ERROR(out_->Commit());
    UnregisterTempFile();
    return Status::OK();
  }

 private:
  std::unique_ptr<io::OutputFile> out_;
};

}  // namespace

Status RunExportAll(const Options& o) {
  const std::string& device_path = o.args[0];
  const std::string& image_path = o.args[1];
  if (o.superblock != 0) {
    return Status::InvalidArgument(device_path +
                                   ": -X reads snapshots through the primary "
                                   "superblock; -b cannot be used");
  }
  E2Q_RETURN_IF_ERROR(ext4::CheckNotMountedReadWrite(device_path, o.force));
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> device, OpenSourceDevice(o));
  snapshot::InvertedExportOptions xo;
  xo.all_data = o.all_data;
  xo.scramble = o.scramble;
  xo.qcow2_version = o.qcow2_version;
  xo.cluster_size = o.cluster_size;
  xo.compress = CompressOptionsOf(o);
  E2Q_ASSIGN_OR_RETURN(xo.created, CreationTime());
  xo.create_output = [&]() -> Result<std::unique_ptr<snapshot::DurableOutput>> {
    E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::OutputFile> out,
                         io::OutputFile::Create(image_path, 0, o.sync));
    return std::unique_ptr<snapshot::DurableOutput>(
        new ImageOutputFile(std::move(out)));
  };
  xo.warn = [](const std::string& object, const std::string& what) {
    Warn(object, what);
  };
  auto progress = std::make_shared<std::unique_ptr<Progress>>();
  xo.progress.begin = [&o, progress](const std::string& what, uint64_t total,
                                     uint64_t unit) {
    *progress = std::make_unique<Progress>(o.progress, what,
                                           ExportUnit(o.all_data), total, unit);
  };
  xo.progress.update = [progress](uint64_t done) {
    if (*progress) (*progress)->Update(done);
  };
  xo.progress.finish = [progress]() {
    if (*progress) (*progress)->Finish();
    progress->reset();
  };
  return snapshot::ExportAllStates(device.get(), device_path, xo);
}

}  // namespace e2q::cli
