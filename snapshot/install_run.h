// The -I sequence (replication): writes a full image or an increment onto
// a replica device through an undo file, with the crash rules of -R
// (rollback.h) -- so a run killed at any point is completed by running it
// again, and -U restores the device byte for byte.
//
// What is written: for an increment (an image with a backing file), the
// clusters the image itself stores (data, and zero clusters as zeroing);
// for an image without one, the whole guest content where it holds every
// block in use (-a), else the clusters it stores (metadata images, as
// e2image -I).  Only blocks whose content differs are saved and written.
//
// Before anything is written, the device must hold the image's filesystem
// (UUID) and, for an increment, exactly the state it was made against: the
// base guard (lib/image/base_guard.h) -- the base's superblock and the
// digest of the content it replaces.  A device that already holds the
// image's content is reported as such and not written.
#ifndef E2Q_SNAPSHOT_INSTALL_RUN_H_
#define E2Q_SNAPSHOT_INSTALL_RUN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "lib/base/status.h"
#include "lib/io/file.h"
#include "lib/qcow2/qcow2_reader.h"
#include "snapshot/rollback.h"
#include "snapshot/run_io.h"

namespace e2q::snapshot {

struct InstallRequest {
  bool dry_run = false;  // report only; no undo file, no device write
  int64_t created = 0;   // the undo file's provenance creation time
  // As RollbackRequest: an existing undo file (a rerun) is opened by
  // `open_undo`, else `create_undo` makes a new one.
  bool undo_exists = false;
  std::function<Result<std::unique_ptr<io::File>>()> open_undo;
  std::function<Result<std::unique_ptr<DurableOutput>>()> create_undo;
  RunProgress progress;
};

struct InstallOutcome {
  // The device already held the image's content: nothing was written (and
  // no undo file made, unless a rerun found one).
  bool already_applied = false;
  // Dry run without an undo file: what would be written.
  bool only_counted = false;
  uint64_t candidates = 0;  // blocks the image covers
  uint64_t to_write = 0;    // of them, blocks differing on the device
  uint64_t to_zero = 0;     // of those, blocks that become zeros
  uint32_t block_size = 0;  // the unit of the counts
  ApplyResult applied;      // when an undo file was applied
};

// -I: `image` is IMAGE's guest content read without its backing file (a
// Qcow2GuestFile over a reader opened with open_backing = false), `reader`
// that reader; `image_name` names IMAGE in messages.
Result<InstallOutcome> Install(io::File* image, qcow2::Qcow2Reader* reader,
                               io::File* device, const InstallRequest& req);

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_INSTALL_RUN_H_
