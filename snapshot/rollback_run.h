// The whole -R and -U sequences, with the crash rule of rollback.h built
// in: a new undo file is written and committed (durable, in place) before
// the first write to the device, and from then on only the undo file
// counts -- on a rerun after an interruption too.  The command line only
// opens the device, supplies the undo file's output and shows progress;
// everything here is reached by unit tests with in-memory and
// fault-injecting Files.
#ifndef E2Q_SNAPSHOT_ROLLBACK_RUN_H_
#define E2Q_SNAPSHOT_ROLLBACK_RUN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "lib/base/status.h"
#include "lib/io/file.h"
#include "snapshot/rollback.h"
#include "snapshot/run_io.h"

namespace e2q::snapshot {

struct RollbackRequest {
  uint32_t snapshot_id = 0;
  bool dry_run = false;  // report only; no undo file, no device write
  int64_t created = 0;   // the undo file's provenance creation time
  // Whether an undo file already exists (a rerun, or -R after -U); then
  // `open_undo` opens it (for update, or read-only with dry_run)...
  bool undo_exists = false;
  std::function<Result<std::unique_ptr<io::File>>()> open_undo;
  // ...else `create_undo` makes the output of a new one.
  std::function<Result<std::unique_ptr<DurableOutput>>()> create_undo;
  std::function<void(const std::string& warning)> warn;  // about `device`
  RunProgress progress;
};

struct RollbackOutcome {
  // Dry run without an undo file: the blocks that would be written, and
  // nothing else was done.
  bool only_counted = false;
  uint64_t to_write = 0;
  ApplyResult applied;  // otherwise
};

// -R ID DEVICE UNDO-FILE.  Without an undo file: next3's image of the
// snapshot, the blocks in use in it whose content on `device` differs, the
// undo file written and committed; then (as on a rerun) the undo file,
// checked to belong to this snapshot, applied to the device.
Result<RollbackOutcome> RollBack(io::File* device,
                                 const RollbackRequest& request);

// -U UNDO-FILE DEVICE: the undo file (opened by the caller) applied back.
Result<ApplyResult> Undo(io::File* device, std::unique_ptr<io::File> undo_file,
                         bool dry_run, const RunProgress& progress,
                         uint32_t* snapshot_id);

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_ROLLBACK_RUN_H_
