// OpenSnapshotSource: Next3::Open, the refusals, then OpenImage.
#include "e2qimage/snapshot_source.h"

namespace e2q::cli {

Result<SnapshotSource> OpenSnapshotSource(const Options& o, io::File* device) {
  const std::optional<SnapshotSpec>& spec = o.export_snapshot;
  if (!spec) {
    return Status::InvalidArgument(device->name() + ": no -x snapshot given");
  }
  SnapshotSource src;
  // ID1..live: the state exported is the live filesystem itself.
  if (spec->range && spec->to_live) return src;
  const uint32_t id = spec->range ? spec->to : spec->id;
  src.id = id;
  E2Q_ASSIGN_OR_RETURN(src.next3, snapshot::Next3::Open(device));
  if (!src.next3->has_snapshot()) {
    return Status::InvalidArgument(
        device->name() + ": snapshot " + std::to_string(id) +
        ": not a next3 filesystem with snapshots (the has_snapshot feature "
        "is not set)");
  }
  E2Q_ASSIGN_OR_RETURN(src.image, src.next3->OpenImage(id));
  return src;
}

}  // namespace e2q::cli
