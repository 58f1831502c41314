// Inverted export (-X): every state of a next3 filesystem -- each
// exportable snapshot and the live filesystem -- as the internal snapshots
// of one qcow2 file (lib/qcow2/qcow2_multi_writer.h), `current` active.
// Each state goes through the export engine's plan and copy
// (lib/image/export.h) into its own state of the multi-state writer.
#ifndef E2Q_SNAPSHOT_INVERTED_EXPORT_H_
#define E2Q_SNAPSHOT_INVERTED_EXPORT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "lib/base/status.h"
#include "lib/image/export.h"
#include "lib/io/file.h"
#include "snapshot/run_io.h"

namespace e2q::snapshot {

struct InvertedExportOptions {
  bool all_data = false;  // -a
  bool scramble = false;  // -s
  uint32_t qcow2_version = 3;
  std::optional<uint64_t> cluster_size;  // bytes (image::ClusterBitsFor)
  image::CompressOptions compress;
  // Provenance time and the live state's date; each snapshot state is
  // dated by its take (SnapshotInfo::created).
  int64_t created = 0;
  // Makes the output; called once the states are known to open.
  std::function<Result<std::unique_ptr<DurableOutput>>()> create_output;
  // A warning about `object` (the device, a snapshot image).
  std::function<void(const std::string& object, const std::string& what)> warn;
  RunProgress progress;  // one phase per state
};

// Writes the states of the next3 filesystem on `device` (named
// `device_name` in warnings) oldest snapshot first and `current` (ID "0",
// the live filesystem, exactly as a plain export) last, each with the
// block selection of its own filesystem; the snapshot table lists
// `current`, then the snapshots newest first.  A filesystem without
// snapshots gives a file with `current` only.  Commits the output.
Status ExportAllStates(io::File* device, const std::string& device_name,
                       const InvertedExportOptions& options);

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_INVERTED_EXPORT_H_
