// The source of a snapshot export (-x ID): the normalised image of next3
// snapshot ID as a File, which export mode then reads exactly as it reads
// a device (libext2fs selection, scrambling, the copy pipeline).
#ifndef E2Q_E2QIMAGE_SNAPSHOT_SOURCE_H_
#define E2Q_E2QIMAGE_SNAPSHOT_SOURCE_H_

#include <memory>

#include "e2qimage/options.h"
#include "lib/base/status.h"
#include "lib/io/file.h"
#include "snapshot/next3.h"

namespace e2q::cli {

struct SnapshotSource {
  uint32_t id = 0;  // the next3 snapshot ID
  std::unique_ptr<snapshot::Next3> next3;
  std::unique_ptr<io::File> image;  // reads through next3 to the device
                                    // (null for ID1..live)
};

// Opens the state that `options.export_snapshot` (-x) exports from `device`
// (not owned; must outlive the result): snapshot ID, or ID2 of a range
// ID1..ID2.  For ID1..live the result is empty (no next3, no image: the
// device itself is read).  Refuses, with "DEVICE: ..." messages, a
// filesystem without has_snapshot, an ID not on the list, and deleted or
// shrunk snapshots.
Result<SnapshotSource> OpenSnapshotSource(const Options& options,
                                          io::File* device);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_SNAPSHOT_SOURCE_H_
