// Snapshot life cycle on the live filesystem: create + take with the
// take-time copies and fixups (next3-format.md 3.4, 4.1, 9.4), delete,
// shrink and remove (section 5), and the expected outputs written at take
// (snap-ID.img, snap-ID.manifest).
#ifndef E2Q_TESTS_TOOLS_NEXT3GEN_SNAPSHOT_H_
#define E2Q_TESTS_TOOLS_NEXT3GEN_SNAPSHOT_H_

#include <cstdint>
#include <string>

namespace n3g {

class Gen;

// Creates and takes a new snapshot at gen.now; returns its ID.
uint32_t TakeSnapshot(Gen& gen);
// Marks snapshot `id` deleted (it stays on the list as a read-through
// layer).  Unlinks its /.snapshots name when `unlink_name`.
void DeleteSnapshot(Gen& gen, uint32_t id, bool unlink_name);
// Removes the /.snapshots name of a listed snapshot (links 0, dtime 0: the
// list keeps the inode, like an orphan).
void UnlinkSnapshot(Gen& gen, uint32_t id);
// Cleanup of a deleted snapshot: shrunk when an older non-deleted snapshot
// exists, otherwise removed from the list and its file deleted.
void CleanupSnapshot(Gen& gen, uint32_t id);

// "GMT-YYYY.MM.DD-HH.MM.SS" for a time.
std::string SnapshotName(long t);

}  // namespace n3g

#endif  // E2Q_TESTS_TOOLS_NEXT3GEN_SNAPSHOT_H_
