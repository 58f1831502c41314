// Snapshot life cycle on the live filesystem: create + take with the
// take-time copies and fixups (doc/next3-format.md 3.4, 4.1, 9.4), delete,
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
// layer).
void DeleteSnapshot(Gen& gen, uint32_t id);
// Cleanup of a deleted snapshot (next3 snapshot_ctl.c cleanup): shrunk
// when an older non-deleted snapshot exists, otherwise removed: its blocks
// freed, off the list, size 0; the file stays in /.snapshots with SNAPFILE
// and SNAPFILE_DELETED (next3_snapshot_remove keeps them so that it is
// never reused as a snapshot).
void CleanupSnapshot(Gen& gen, uint32_t id);
// The user's `rm` of a removed snapshot's file, which next3 allows only
// once the file is off the list (a listed snapshot is protected from
// unlink and truncate): the inode is deleted.  Dies for a listed snapshot.
void UnlinkSnapshot(Gen& gen, uint32_t id);

// "GMT-YYYY.MM.DD-HH.MM.SS" for a time.
std::string SnapshotName(long t);

}  // namespace n3g

#endif  // E2Q_TESTS_TOOLS_NEXT3GEN_SNAPSHOT_H_
