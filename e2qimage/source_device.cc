// OpenSourceDevice: the file, its qcow2 guest content, then the window of
// the partition or offset.
#include "e2qimage/source_device.h"

#include <string>
#include <utility>

#include "e2qimage/convert_mode.h"
#include "lib/io/partition_table.h"
#include "lib/io/rate_limit.h"
#include "lib/io/window_file.h"
#include "lib/qcow2/qcow2_guest_file.h"
#include "lib/qcow2/qcow2_reader.h"

namespace e2q::cli {

bool ReadsInsideDisk(const Options& o) {
  return o.offset.has_value() || o.partition != 0;
}

std::unique_ptr<io::File> Paced(const Options& o,
                                std::unique_ptr<io::File> file) {
  if (o.rate_limit == 0) return file;
  static std::shared_ptr<io::RateLimiter> limiter =
      std::make_shared<io::RateLimiter>(o.rate_limit);
  return std::make_unique<io::RateLimitedFile>(std::move(file), limiter);
}

Result<std::unique_ptr<io::File>> OpenSourceDevice(const Options& o) {
  const std::string& path = o.args[0];
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> opened,
                       io::OpenFileForRead(path));
  std::unique_ptr<io::File> disk = Paced(o, std::move(opened));
  E2Q_ASSIGN_OR_RETURN(bool is_qcow2, qcow2::Qcow2Reader::IsQcow2(disk.get()));
  if (is_qcow2) {
    E2Q_ASSIGN_OR_RETURN(std::unique_ptr<qcow2::Qcow2Reader> reader,
                         qcow2::Qcow2Reader::Open(std::move(disk)));
    if (!o.snapshot.empty()) {
      E2Q_ASSIGN_OR_RETURN(
          size_t index, ResolveSnapshot(reader->snapshots(), o.snapshot, path));
      E2Q_RETURN_IF_ERROR(reader->SelectSnapshotAt(index));
    }
    disk = std::make_unique<qcow2::Qcow2GuestFile>(std::move(reader));
  } else if (!o.snapshot.empty()) {
    return Status::InvalidArgument(
        path + ": -l: not a qcow2 image, so it has no internal snapshots");
  }
  if (o.partition != 0) {
    E2Q_ASSIGN_OR_RETURN(io::Partition p,
                         io::FindPartition(disk.get(), o.partition));
    E2Q_ASSIGN_OR_RETURN(
        std::unique_ptr<io::WindowFile> w,
        io::WindowFile::Create(std::move(disk), p.offset, p.length));
    return std::unique_ptr<io::File>(std::move(w));
  }
  if (o.offset) {
    E2Q_ASSIGN_OR_RETURN(uint64_t size, disk->Size());
    if (*o.offset >= size) {
      return Status::InvalidArgument(path +
                                     ": --offset=" + std::to_string(*o.offset) +
                                     ": at or beyond the end of the disk (" +
                                     std::to_string(size) + " bytes)");
    }
    E2Q_ASSIGN_OR_RETURN(
        std::unique_ptr<io::WindowFile> w,
        io::WindowFile::CreateToEnd(std::move(disk), *o.offset));
    return std::unique_ptr<io::File>(std::move(w));
  }
  return disk;
}

}  // namespace e2q::cli
