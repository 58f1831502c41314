// OpenSnapshotSource: Next3::Open, the refusals, then OpenImage.
#include "e2qimage/snapshot_source.h"

namespace e2q::cli {

Result<SnapshotSource> OpenSnapshotSource(const Options& o, File* device) {
  std::optional<SnapshotSpec> spec = ParseSnapshotSpec(o.export_snapshot);
  if (!spec || spec->range) {
    return Status::InvalidArgument(device->name() + ": -x " +
                                   o.export_snapshot +
                                   ": expected a single snapshot ID");
  }
  SnapshotSource src;
  src.id = spec->id;
  E2Q_ASSIGN_OR_RETURN(src.next3, snapshot::Next3::Open(device));
  if (!src.next3->has_snapshot()) {
    return Status::InvalidArgument(
        device->name() + ": snapshot " + std::to_string(spec->id) +
        ": not a next3 filesystem with snapshots (the has_snapshot feature "
        "is not set)");
  }
  E2Q_ASSIGN_OR_RETURN(src.image, src.next3->OpenImage(spec->id));
  return src;
}

}  // namespace e2q::cli
