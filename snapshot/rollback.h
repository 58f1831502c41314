// Offline rollback engine (-R, -U): computes which blocks a rollback
// changes, and applies an undo file (snapshot/undo_file.h) in either
// direction, restartably.  It works on Files only -- the device, the target
// image, the undo file -- so that it can be tested with in-memory and
// fault-injecting Files; next3 and the command line are the caller's.
//
// Crash safety rests on three rules:
//  1. the undo file is complete and synced (and renamed into place) before
//     the first write to the device -- rollback_run.h runs the sequence;
//  2. before writing, every recorded block of the device must hold either
//     its original or its new content, sector by sector (a write cut short
//     by a crash may leave a block half old, half new) -- a device in any
//     other state is refused untouched;
//  3. applying writes only blocks that do not yet hold the wanted content,
//     and syncs the device at the end.
// So a run killed at any point is completed by running it again, in either
// direction, and never mistakes a half-written device for a new start.
#ifndef E2Q_SNAPSHOT_ROLLBACK_H_
#define E2Q_SNAPSHOT_ROLLBACK_H_

#include <array>
#include <cstdint>
#include <functional>

#include "lib/base/block_set.h"
#include "lib/base/status.h"
#include "lib/io/file.h"
#include "snapshot/undo_file.h"

namespace e2q::snapshot {

// The blocks of `candidates` whose content differs between `device` and
// `target` (block b at byte b * block_size of both).  Reads in large runs.
Result<BlockSet> DiffBlocks(io::File* device, io::File* target,
                            const BlockSet& candidates, uint32_t block_size,
                            const std::function<void(uint64_t)>& progress);

// Reads the filesystem UUID (s_uuid) of the ext2/3/4 superblock at byte
// 1024 of `device`.
Result<std::array<uint8_t, 16>> ReadFsUuid(io::File* device);

enum class Direction {
  kRollback,  // write the new content ("rollback-ID")
  kUndo,      // write the original content back
};

struct ApplyOptions {
  bool dry_run = false;  // classify and report only
  // Progress over 2 * blocks (checking, then writing).
  std::function<void(uint64_t done)> progress;
  uint64_t max_write_bytes = 1 << 20;
};

struct ApplyResult {
  uint64_t blocks = 0;       // blocks the undo file records
  uint64_t at_original = 0;  // of them, holding the original content
  uint64_t at_target = 0;    // holding the new content
  uint64_t torn = 0;         // holding some sectors of each
  uint64_t written = 0;      // blocks written (to write, with dry_run)
  uint64_t writes = 0;       // device writes issued
};

// Checks `device` against `undo` (device size, filesystem UUID, checksums
// of both contents, every recorded sector original or new) and writes the
// content `dir` asks for into every block not holding it yet, then syncs
// the device and records the new state in the undo file (best effort: the
// device is what counts).  A block holding neither content is kCorruption,
// before anything is written.
Result<ApplyResult> ApplyUndo(UndoFile* undo, io::File* device, Direction dir,
                              const ApplyOptions& options);

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_ROLLBACK_H_
