// The next3 snapshot list: the chain s_snapshot_list -> i_next_snapshot ->
// ... (newest first), validated entry by entry, with each snapshot's state.
// Inodes come through a callback so that the walk can be tested without a
// filesystem; snapshot/next3.cc feeds it from libext2fs.
#ifndef E2Q_SNAPSHOT_NEXT3_LIST_H_
#define E2Q_SNAPSHOT_NEXT3_LIST_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lib/base/status.h"
#include "snapshot/next3_format.h"

namespace e2q::snapshot {

enum class SnapshotState { kActive, kFrozen, kDeleted, kShrunk };

// "active", "frozen", "deleted", "shrunk" (the words -L prints).
const char* StateName(SnapshotState state);

struct SnapshotInfo {
  uint32_t id = 0;     // i_generation
  uint32_t inode = 0;  // the snapshot file's inode number
  SnapshotState state = SnapshotState::kFrozen;
  std::string path = "-";     // the file's path in the live tree, "-" if none
  uint64_t blocks_count = 0;  // filesystem size at take, in blocks
  // When the snapshot was taken, in seconds since the epoch.  next3 has no
  // field for it (doc/next3-format.md section 2): i_crtime where the inode has
  // one, else i_mtime, which the take sets when it creates the file and
  // nothing changes later (COW splices bump i_ctime, not i_mtime).
  int64_t created = 0;
};

// A listed snapshot with the inode it was read from.
struct ListedSnapshot {
  SnapshotInfo info;
  Next3Inode inode;
};

// The superblock fields the walk starts from.
struct ListHead {
  uint32_t list = 0;    // s_snapshot_list (0: start at `active`)
  uint32_t active = 0;  // s_snapshot_inum
  uint32_t inodes_count = 0;
  uint32_t first_ino = 11;       // s_first_ino: lower numbers are reserved
  uint64_t fs_blocks_count = 0;  // a snapshot can be no larger
};

using InodeReader = std::function<Result<Next3Inode>(uint32_t ino)>;

// Walks the list from its head and returns the snapshots newest first,
// starting at the active one (entries before it are failed takes, which
// next3 removes at the next mount; they are walked but not returned).
// Every entry is checked: inode number in range and not reserved, a regular
// file with the snapshot flag, dtime 0, no extents, a size of
// (blocks + 1036) * 4096 bytes no larger than the filesystem, unused slots
// i_block[3..12] zero, tree roots inside the filesystem, IDs non-zero and
// strictly decreasing, no inode twice
// (so a cycle ends the walk).  Errors are kCorruption with messages
// "OBJECT: snapshot list: inode N: problem".
Result<std::vector<ListedSnapshot>> ReadSnapshotList(const std::string& object,
                                                     const ListHead& head,
                                                     const InodeReader& read);

// The state of a listed snapshot: shrunk or deleted by its flags, else
// active when it is `active_ino`, else frozen.
SnapshotState StateOf(const Next3Inode& inode, uint32_t ino,
                      uint32_t active_ino);

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_NEXT3_LIST_H_
